import { DETAIL_TYPES, EVENT_SOURCE } from '../../adapters/notify/detail';
import type { EventType } from '../../core/grant/events';

/** The detail types a rule matches: the listed event types (or detail types), or every lifecycle event. */
export function detailTypes(events?: string[]): string[] {
  const all = Object.values(DETAIL_TYPES);
  if (!events) return all;
  return [...new Set(events.map((e) => DETAIL_TYPES[e as EventType] ?? e))].filter((e) => all.includes(e)).sort();
}

/** The event pattern of a rule on the bus: Timebox events of these detail types (EventBridge event patterns). */
export function lifecyclePattern(events?: string[]): string {
  return JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': detailTypes(events) });
}

/** Retries of bus targets: EventBridge's maximum, 24 hours and 185 attempts, then the dead-letter queue. */
export const TARGET_RETRY = { maximumEventAgeInSeconds: 86_400, maximumRetryAttempts: 185 };
