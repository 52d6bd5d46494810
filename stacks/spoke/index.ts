import { spoke } from '../spoke';

/** Pulumi entry point of the spoke program (stacks/spoke/Pulumi.yaml): one stack per spoke account. */
export = () => spoke();
