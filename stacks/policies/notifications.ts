import { type BrokerContext, type Capability, handlerPolicy } from './broker';
import { doc, type PolicyDocument, type Statement } from './document';

// Notifications (stacks/notifications): the notifier and slack roles, EventBridge's webhook role, the dead-letter queue

/** secretsmanager:GetSecretValue on exactly these secrets (no wildcard: a new secret needs a new grant). */
export function readSecrets(arns: string[]): Statement[] {
  if (arns.length === 0) return [];
  return [
    { Sid: 'ReadOwnSecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [...arns].sort() },
  ];
}

/**
 * The notifier's role: its log group, Query on the projection's indexes (reminders read pending and active grants
 * by due time), its own secrets, and its dead-letter queue. It cannot write the audit record or decide anything.
 */
export function notifierPolicy(a: {
  logGroupArn: string;
  grantsTableArn: string;
  secretArns: string[];
  deadLetterQueueArn: string;
}): PolicyDocument {
  return doc([
    {
      Sid: 'OwnLogGroup',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [a.logGroupArn, `${a.logGroupArn}:*`],
    },
    { Sid: 'ReadDueGrants', Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${a.grantsTableArn}/index/*` },
    ...readSecrets(a.secretArns),
    { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: a.deadLetterQueueArn },
  ]);
}

/** What the slack function may do: GrantService's store, publish and schedule, plus its two secrets. */
export const SLACK_CAPABILITIES: readonly Capability[] = ['store', 'publish', 'schedule'];

export function slackPolicy(c: BrokerContext, logGroupArn: string, secretArns: string[]): PolicyDocument {
  const base = handlerPolicy('slack', c, logGroupArn, SLACK_CAPABILITIES);
  return doc([...base.Statement, ...readSecrets(secretArns)]);
}

/** The role EventBridge assumes to call API destinations: only these destinations. */
export function apiDestinationsPolicy(destinationArns: string[]): PolicyDocument {
  return doc([
    {
      Sid: 'InvokeWebhooks',
      Effect: 'Allow',
      Action: 'events:InvokeApiDestination',
      Resource: [...destinationArns].sort(),
    },
  ]);
}

/** Trust policy of that role: EventBridge, on behalf of rules in this account only. */
export function eventsTrustPolicy(account: string): PolicyDocument {
  return doc([
    {
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': account } },
    },
  ]);
}

/**
 * Queue policy of the notifications dead-letter queue: EventBridge may send the events its targets could not take,
 * for these rules only (EventBridge User Guide, "Using dead-letter queues to process undelivered events").
 */
export function deadLetterQueuePolicy(queueArn: string, ruleArns: string[]): PolicyDocument {
  return doc([
    {
      Sid: 'EventBridgeDeadLetters',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: queueArn,
      Condition: { ArnEquals: { 'aws:SourceArn': [...ruleArns].sort() } },
    },
  ]);
}
