import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { NotificationsConfig } from '../config';
import { apiDestinationsPolicy, eventsTrustPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';
import { lifecyclePattern, TARGET_RETRY } from './patterns';

/** Placeholder a connection is created with; the operator replaces it (docs/notifications.md). */
export const CONNECTION_PLACEHOLDER = 'set-with-aws-events-update-connection';

export interface WebhookDestinationsArgs {
  namePrefix: string;
  account: string;
  destinations: NotificationsConfig['apiDestinations'];
  /** The stack's lifecycle bus. */
  busName: pulumi.Input<string>;
  deadLetterQueueArn: pulumi.Input<string>;
}

/**
 * Webhooks delivered by EventBridge itself: per receiver a connection (its shared-secret header), an API
 * destination and a rule on the bus, and one role EventBridge assumes to call exactly these destinations.
 */
export class WebhookDestinations extends Section {
  public readonly role: aws.iam.Role;
  public readonly rules: aws.cloudwatch.EventRule[] = [];
  public readonly apiDestinations: Record<string, aws.cloudwatch.EventApiDestination> = {};
  public readonly connections: Record<string, aws.cloudwatch.EventConnection> = {};

  constructor(name: string, args: WebhookDestinationsArgs, opts: SectionOptions) {
    super('timebox:aws:WebhookDestinations', name, opts);
    this.role = new aws.iam.Role(
      `${name}-webhooks-role`,
      {
        description: 'EventBridge invokes the Timebox webhook API destinations',
        assumeRolePolicy: JSON.stringify(eventsTrustPolicy(args.account)),
      },
      this.child,
    );
    for (const d of args.destinations) this.destination(name, d, args);
    new aws.iam.RolePolicy(
      `${name}-webhooks-policy`,
      {
        name: 'timebox-webhooks',
        role: this.role.id,
        policy: pulumi
          .all(Object.values(this.apiDestinations).map((d) => d.arn))
          .apply((arns) => JSON.stringify(apiDestinationsPolicy(arns))),
      },
      this.child,
    );
    this.registerOutputs({ rules: this.rules.map((r) => r.arn) });
  }

  /** One receiver: its connection, API destination, rule and target. */
  private destination(
    name: string,
    d: NotificationsConfig['apiDestinations'][number],
    args: WebhookDestinationsArgs,
  ): void {
    const connection = new aws.cloudwatch.EventConnection(
      `${name}-${d.name}-connection`,
      {
        name: `${args.namePrefix}-${d.name}`,
        description: `Timebox webhook ${d.name}: the ${d.header} header carries the shared secret`,
        authorizationType: 'API_KEY',
        authParameters: { apiKey: { key: d.header, value: CONNECTION_PLACEHOLDER } },
      },
      // The operator sets the real value with aws events update-connection; Pulumi must not put the placeholder back.
      { ...this.child, ignoreChanges: ['authParameters'] },
    );
    this.connections[d.name] = connection;
    const destination = new aws.cloudwatch.EventApiDestination(
      `${name}-${d.name}-destination`,
      {
        name: `${args.namePrefix}-${d.name}`,
        description: `Timebox webhook ${d.name}`,
        connectionArn: connection.arn,
        invocationEndpoint: d.url,
        httpMethod: 'POST',
        invocationRateLimitPerSecond: d.rateLimitPerSecond,
      },
      this.child,
    );
    this.apiDestinations[d.name] = destination;
    const rule = new aws.cloudwatch.EventRule(
      `${name}-${d.name}-rule`,
      {
        description: `Timebox events to webhook ${d.name}`,
        eventBusName: args.busName,
        eventPattern: lifecyclePattern(d.events),
      },
      this.child,
    );
    this.rules.push(rule);
    new aws.cloudwatch.EventTarget(
      `${name}-${d.name}-target`,
      {
        rule: rule.name,
        eventBusName: args.busName,
        arn: destination.arn,
        roleArn: this.role.arn,
        retryPolicy: TARGET_RETRY,
        deadLetterConfig: { arn: args.deadLetterQueueArn },
      },
      this.child,
    );
  }
}
