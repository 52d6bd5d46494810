import * as aws from '@pulumi/aws';
import type { NotificationsConfig } from '../config';
import { Section, type SectionOptions } from '../section';

export interface NotificationSecretsArgs {
  namePrefix: string;
  config: NotificationsConfig;
}

/**
 * The secrets the notify functions read: created empty, their values set by the operator (aws secretsmanager
 * put-secret-value, docs/notifications.md), never in config or state.
 */
export class NotificationSecrets extends Section {
  public readonly secrets: Record<string, aws.secretsmanager.Secret> = {};

  constructor(name: string, args: NotificationSecretsArgs, opts: SectionOptions) {
    super('timebox:aws:NotificationSecrets', name, opts);
    const secret = (key: string, description: string) => {
      this.secrets[key] = new aws.secretsmanager.Secret(
        `${name}-${key}`,
        { name: `${args.namePrefix}/${key}`, description, recoveryWindowInDays: 7 },
        this.child,
      );
    };
    if (args.config.slack) {
      secret('slack-signing-secret', 'Timebox: the Slack app signing secret (plain text)');
      secret('slack-bot-token', 'Timebox: the Slack bot token, xoxb-... (plain text)');
      secret('slack-users', 'Timebox: Slack user id -> principal mapping, JSON {"U0123ABC": "carol@corp.com"}');
    }
    if (args.config.signedWebhooks)
      secret('webhooks', 'Timebox: signed webhooks, JSON [{"name","url","secret","events"?}]');
    this.registerOutputs({ secrets: Object.fromEntries(Object.entries(this.secrets).map(([k, s]) => [k, s.arn])) });
  }
}
