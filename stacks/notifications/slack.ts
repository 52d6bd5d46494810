import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { Section, type SectionOptions } from '../section';

/** The Slack route's own throttle: interactions are clicks, a handful a minute. */
export const SLACK_THROTTLE = { throttlingBurstLimit: 20, throttlingRateLimit: 10 };
export const SLACK_ROUTE = 'POST /slack/interactions';

export interface SlackApiArgs {
  namePrefix: string;
  /** The slack function (approve/deny clicks). */
  slack: aws.lambda.Function;
  logRetentionDays: number;
}

/**
 * The slack function's own HTTP API: one POST route, no authorizer (Slack cannot sign with SigV4); the function
 * checks X-Slack-Signature before it reads anything. The only Timebox route without IAM auth.
 */
export class SlackApi extends Section {
  /** The URL to give Slack as the app's interactivity Request URL. */
  public readonly requestUrl: pulumi.Output<string>;

  constructor(name: string, args: SlackApiArgs, opts: SectionOptions) {
    super('timebox:aws:SlackApi', name, opts);
    const api = new aws.apigatewayv2.Api(
      `${name}-slack-api`,
      { name: `${args.namePrefix}-slack`, protocolType: 'HTTP', description: 'Timebox Slack interactivity' },
      this.child,
    );
    const integration = new aws.apigatewayv2.Integration(
      `${name}-slack-integration`,
      {
        apiId: api.id,
        integrationType: 'AWS_PROXY',
        integrationUri: args.slack.arn,
        integrationMethod: 'POST',
        payloadFormatVersion: '2.0',
        timeoutMilliseconds: 15_000,
      },
      this.child,
    );
    new aws.apigatewayv2.Route(
      `${name}-slack-route`,
      {
        apiId: api.id,
        routeKey: SLACK_ROUTE,
        authorizationType: 'NONE',
        target: pulumi.interpolate`integrations/${integration.id}`,
      },
      this.child,
    );
    const accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-slack-access-logs`,
      { name: `/aws/apigateway/${args.namePrefix}-slack`, retentionInDays: args.logRetentionDays },
      this.child,
    );
    new aws.apigatewayv2.Stage(
      `${name}-slack-stage`,
      {
        apiId: api.id,
        name: '$default',
        autoDeploy: true,
        defaultRouteSettings: SLACK_THROTTLE,
        accessLogSettings: {
          destinationArn: accessLogs.arn,
          format: JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            integrationError: '$context.integrationErrorMessage',
          }),
        },
      },
      this.child,
    );
    new aws.lambda.Permission(
      `${name}-slack-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.slack.name,
        principal: 'apigateway.amazonaws.com',
        sourceArn: pulumi.interpolate`${api.executionArn}/*/*/slack/interactions`,
      },
      this.child,
    );
    this.requestUrl = pulumi.interpolate`${api.apiEndpoint}/slack/interactions`;
    this.registerOutputs({ requestUrl: this.requestUrl });
  }
}
