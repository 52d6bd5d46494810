import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { expectWith } from '../helpers/runner';
import { installMocks, type Recorded } from './helpers/pulumi-mocks';
import { everything } from './urns';

/**
 * The components were split into sections (child components); their resources moved one level down, which changes
 * their URNs. The URNs every resource had before the split (fixtures/urns-before-sections.json, recorded from the
 * same program and configuration) must each still name exactly one resource, as its URN or one of its aliases:
 * otherwise `pulumi up` on an existing stack deletes it and creates a new one (an empty audit table, a new signing
 * key, a new trail bucket without the logs).
 */

const BEFORE: string[] = JSON.parse(readFileSync(join(__dirname, 'fixtures/urns-before-sections.json'), 'utf8'));

/** Resources whose replacement loses data, a key or evidence. */
const STATEFUL = [
  'aws:dynamodb/table:Table',
  'aws:kms/key:Key',
  'aws:s3/bucket:Bucket',
  'aws:cloudtrail/trail:Trail',
  'aws:secretsmanager/secret:Secret',
  'aws:sqs/queue:Queue',
];

let resources: Recorded[] = [];
const namesOf = (r: Recorded) => [r.options.urn, ...r.options.aliases];

beforeAll(async () => {
  resources = await everything(await installMocks());
}, 60_000);

describe('Aliases of resources moved into sections', () => {
  it('every URN of before the split names exactly one resource', () => {
    // Prepare
    const claims = new Map<string, Recorded[]>();
    for (const r of resources) for (const u of namesOf(r)) claims.set(u, [...(claims.get(u) ?? []), r]);
    // Assess
    expect(BEFORE.length).toBeGreaterThan(100);
    for (const urn of BEFORE) expectWith(claims.get(urn)?.length ?? 0, urn).toBe(1);
  });

  it.each(STATEFUL)('every %s moved into a section keeps its earlier URN as an alias', (type) => {
    const ofType = resources.filter((r) => r.type === type);
    expect(ofType.length).toBeGreaterThan(0);
    for (const r of ofType) {
      const before = BEFORE.filter((u) => u.endsWith(`$${type}::${r.name}`) || u.endsWith(`::${type}::${r.name}`));
      expectWith(before.length, `${r.name}: earlier URNs`).toBe(1);
      const earlier = before[0] as string;
      if (r.options.urn === earlier) continue;
      expectWith(r.options.aliases, `${r.name} (now ${r.options.urn})`).toContain(earlier);
    }
  });

  it('the stateful resources did move (the aliases above are what keeps them)', () => {
    const moved = resources.filter((r) => STATEFUL.includes(r.type) && !BEFORE.includes(r.options.urn));
    expect(moved.map((r) => r.name).sort()).toEqual(
      expect.arrayContaining([
        'audit-bucket',
        'audit-key',
        'broker-dlq',
        'broker-events',
        'broker-grants',
        'broker-signing-key',
        'notify-slack-bot-token',
        'notify-slack-signing-secret',
        'notify-slack-users',
        'notify-webhooks',
      ]),
    );
  });

  it('every resource of a section is aliased to where it was: the same URN without the section', () => {
    const chainOf = (urn: string) => (urn.split('::')[2] ?? '').split('$');
    const withoutSection = (urn: string) => {
      const parts = urn.split('::');
      const chain = chainOf(urn);
      chain.splice(chain.length - 2, 1);
      parts[2] = chain.join('$');
      return parts.join('::');
    };
    const inSections = resources.filter((r) => chainOf(r.options.urn).length >= 3);
    expect(inSections.length).toBeGreaterThan(50);
    // toContain: some resource classes add aliases of their own (aws.s3.Bucket: its v6 type, BucketV2).
    for (const r of inSections) expectWith(r.options.aliases, r.options.urn).toContain(withoutSection(r.options.urn));
  });
});
