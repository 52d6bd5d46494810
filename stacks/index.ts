import { timebox } from './program';

/**
 * Pulumi entry point (Pulumi.yaml `main`). Exporting a function lets the program await its lookups (account,
 * partition, region) before declaring resources; Pulumi calls it and uses the resolved object as stack outputs.
 */
export = () => timebox();
