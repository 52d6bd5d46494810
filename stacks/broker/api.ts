import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { type IdentityConfig, trustedPrincipalArns } from '../../lambdas/api/identity';
import { apiGatewayLogsTrustPolicy, apiResourcePolicy, PUBLIC_PATHS } from '../policies';
import { Section, type SectionOptions } from '../section';
import { API_STAGE } from './names';

export interface BrokerApiArgs {
  partition: string;
  namePrefix: string;
  /** The REST API (the Broker's own: its id names the token issuer before the functions exist). */
  restApi: aws.apigateway.RestApi;
  /** The api function every route is integrated with. */
  apiFunction: aws.lambda.Function;
  identity: IdentityConfig;
  allowedAccounts: string[];
  orgId?: string;
  throttle: { rateLimit: number; burstLimit: number };
  /** Create the region-wide API Gateway CloudWatch role setting (one per account and region). */
  manageApiGatewayAccount: boolean;
  logRetentionDays: number;
}

/** Access log line (JSON); `$context.identity.userArn` is the SigV4 caller. */
export const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  protocol: '$context.protocol',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  accountId: '$context.identity.accountId',
  errorMessage: '$context.error.message',
};

/**
 * The REST API's routes (SigV4 everywhere but the public GETs), its resource policy, the deployment and the `live`
 * stage with access logs and throttling.
 */
export class BrokerApi extends Section {
  public readonly stage: aws.apigateway.Stage;
  private readonly baseName: string;
  private readonly args: BrokerApiArgs;

  constructor(name: string, args: BrokerApiArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerApi', name, opts);
    this.baseName = name;
    this.args = args;
    const { restApi } = args;
    const routes = this.routes();
    const resourcePolicy = new aws.apigateway.RestApiPolicy(
      `${name}-api-policy`,
      {
        restApiId: restApi.id,
        policy: restApi.executionArn.apply((executeApiArn) =>
          JSON.stringify(
            apiResourcePolicy({
              executeApiArn,
              stage: API_STAGE,
              allowedAccounts: args.allowedAccounts,
              ...(args.orgId ? { orgId: args.orgId } : {}),
              trustedPrincipalArns: trustedPrincipalArns(args.identity, args.partition),
            }),
          ),
        ),
      },
      this.child,
    );
    new aws.lambda.Permission(
      `${name}-api-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.apiFunction.name,
        principal: 'apigateway.amazonaws.com',
        sourceArn: pulumi.interpolate`${restApi.executionArn}/${API_STAGE}/*`,
      },
      this.child,
    );
    // A resource policy takes effect only when the API is deployed again: the deployment is keyed on it too.
    const deployment = new aws.apigateway.Deployment(
      `${name}-deployment`,
      {
        restApi: restApi.id,
        description: 'Timebox API',
        triggers: {
          redeployment: pulumi
            .all([...routes.map((r) => r.id), resourcePolicy.policy])
            .apply((parts) => parts.join('|')),
        },
      },
      { ...this.child, dependsOn: [...routes, resourcePolicy] },
    );
    this.stage = this.liveStage(deployment);
    this.registerOutputs({ stage: this.stage.stageName });
  }

  /**
   * Every route but the public GETs requires SigV4 (AWS_IAM); the public paths are GET-only resources, so any other
   * method on them has no route at all. Returns the methods and integrations (the deployment is keyed on them).
   */
  private routes(): pulumi.CustomResource[] {
    const root = this.args.restApi.rootResourceId;
    const proxy = this.resource('proxy', root, '{proxy+}');
    const routes = this.integrate('proxy', proxy.id, 'ANY', 'AWS_IAM');
    const parents = new Map<string, pulumi.Input<string>>([['', root]]);
    for (const path of PUBLIC_PATHS) {
      let prefix = '';
      for (const part of path.split('/').slice(1)) {
        const next = `${prefix}/${part}`;
        if (!parents.has(next))
          parents.set(
            next,
            this.resource(`public-${partName(next)}`, parents.get(prefix) as pulumi.Input<string>, part).id,
          );
        prefix = next;
      }
      routes.push(
        ...this.integrate(`public-${partName(path)}`, parents.get(path) as pulumi.Input<string>, 'GET', 'NONE'),
      );
    }
    return routes;
  }

  private resource(part: string, parentId: pulumi.Input<string>, pathPart: string): aws.apigateway.Resource {
    return new aws.apigateway.Resource(
      `${this.baseName}-${part}`,
      { restApi: this.args.restApi.id, parentId, pathPart },
      this.child,
    );
  }

  private integrate(
    part: string,
    resourceId: pulumi.Input<string>,
    method: string,
    authorization: string,
  ): pulumi.CustomResource[] {
    const restApi = this.args.restApi.id;
    const m = new aws.apigateway.Method(
      `${this.baseName}-${part}-method`,
      { restApi, resourceId, httpMethod: method, authorization },
      this.child,
    );
    const i = new aws.apigateway.Integration(
      `${this.baseName}-${part}-integration`,
      {
        restApi,
        resourceId,
        httpMethod: m.httpMethod,
        type: 'AWS_PROXY',
        integrationHttpMethod: 'POST',
        uri: this.args.apiFunction.invokeArn,
      },
      this.child,
    );
    return [m, i];
  }

  /** The `live` stage: access logs (JSON) and throttling; execution logs stay off. */
  private liveStage(deployment: aws.apigateway.Deployment): aws.apigateway.Stage {
    const { baseName: name, args } = this;
    const apiLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { name: `/aws/apigateway/${args.namePrefix}`, retentionInDays: args.logRetentionDays },
      this.child,
    );
    const stage = new aws.apigateway.Stage(
      `${name}-stage`,
      {
        restApi: args.restApi.id,
        deployment: deployment.id,
        stageName: API_STAGE,
        accessLogSettings: { destinationArn: apiLogs.arn, format: JSON.stringify(ACCESS_LOG_FORMAT) },
      },
      { ...this.child, dependsOn: args.manageApiGatewayAccount ? [this.cloudWatchAccount()] : [] },
    );
    new aws.apigateway.MethodSettings(
      `${name}-throttle`,
      {
        restApi: args.restApi.id,
        stageName: stage.stageName,
        methodPath: '*/*',
        settings: {
          throttlingRateLimit: args.throttle.rateLimit,
          throttlingBurstLimit: args.throttle.burstLimit,
          metricsEnabled: true,
          // Execution logs can hold request bodies; the access log records who called what.
          loggingLevel: 'OFF',
          dataTraceEnabled: false,
        },
      },
      this.child,
    );
    return stage;
  }

  /** The region-wide setting that lets API Gateway write access logs at all (one per account and region). */
  private cloudWatchAccount(): aws.apigateway.Account {
    const name = this.baseName;
    const cwRole = new aws.iam.Role(
      `${name}-apigw-logs-role`,
      {
        description: 'API Gateway writes access logs to CloudWatch Logs (region-wide account setting)',
        assumeRolePolicy: JSON.stringify(apiGatewayLogsTrustPolicy()),
      },
      this.child,
    );
    // The AWS managed policy API Gateway documents for this role ("Set up CloudWatch logging for REST APIs").
    const cwPolicy = new aws.iam.RolePolicyAttachment(
      `${name}-apigw-logs-policy`,
      {
        role: cwRole.name,
        policyArn: `arn:${this.args.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs`,
      },
      this.child,
    );
    return new aws.apigateway.Account(
      `${name}-apigw-account`,
      { cloudwatchRoleArn: cwRole.arn },
      { ...this.child, dependsOn: [cwPolicy] },
    );
  }
}

/** A path as a resource name part: `/.well-known/jwks.json` -> `well-known-jwks-json`. */
function partName(path: string): string {
  return path.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
