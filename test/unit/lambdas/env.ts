import { ENV } from '../../../lambdas/config';

/** Environment as the stack sets it; override what the test is about. */
export function envDummy(partial: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    [ENV.eventsTable]: 'timebox-events',
    [ENV.grantsTable]: 'timebox-grants',
    [ENV.issuer]: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod',
    [ENV.schedulerGroup]: 'timebox',
    [ENV.schedulerRoleArn]: 'arn:aws:iam::111122223333:role/timebox/timebox-scheduler',
    [ENV.schedulerDlqArn]: 'arn:aws:sqs:eu-west-1:111122223333:timebox-schedules-dlq',
    [ENV.revokeFunctionArn]: 'arn:aws:lambda:eu-west-1:111122223333:function:timebox-revoke',
    ...partial,
  };
}
