import * as aws from '@pulumi/aws';
import { EVENT_SOURCE } from '../../adapters/notify/detail';
import { Section, type SectionOptions } from '../section';
import { eventBusName } from './names';

export interface BrokerEventBusArgs {
  namePrefix: string;
  /** Retention of the lifecycle event archive on the bus (0: for ever). */
  eventArchiveDays: number;
}

/** The bus lifecycle events are published to (Notifications hangs its rules off it) and its archive. */
export class BrokerEventBus extends Section {
  public readonly eventBus: aws.cloudwatch.EventBus;
  public readonly eventArchive: aws.cloudwatch.EventArchive;

  constructor(name: string, args: BrokerEventBusArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerEventBus', name, opts);
    this.eventBus = new aws.cloudwatch.EventBus(`${name}-bus`, { name: eventBusName(args.namePrefix) }, this.child);
    // Every lifecycle event as published, with its chain hashes: a copy the broker's roles cannot change, against
    // which a rewritten event table shows (EventBridge archives are replayable and kept for `eventArchiveDays`).
    this.eventArchive = new aws.cloudwatch.EventArchive(
      `${name}-archive`,
      {
        name: `${args.namePrefix}-lifecycle`,
        description: 'Timebox lifecycle events with their audit chain hashes',
        eventSourceArn: this.eventBus.arn,
        eventPattern: JSON.stringify({ source: [EVENT_SOURCE] }),
        retentionDays: args.eventArchiveDays,
      },
      this.child,
    );
    this.registerOutputs({ eventBus: this.eventBus.name, eventArchive: this.eventArchive.name });
  }
}
