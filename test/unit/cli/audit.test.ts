import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Command } from 'commander';
import fc from 'fast-check';
import { DETAIL_TYPES, EVENT_SOURCE, lifecycleDetail } from '../../../adapters/notify/detail';
import {
  CLOUDTRAIL_LAG_NOTE,
  type CloudActionSource,
  NOT_CONFIGURED_NOTE,
  type Timeline,
} from '../../../adapters/notify/timeline';
import { type ApiRequest, type ApiResponse, createApi } from '../../../api/app';
import { ApiClient } from '../../../cli/client';
import { CSV_COLUMNS, csvField, parseInstant, registerAudit, toCsv, windows } from '../../../cli/commands/audit';
import { TimeboxError } from '../../../core/errors';
import { sealEvent } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import { foldGrant } from '../../../core/grant/state';
import { type Principal, principal } from '../../../core/principal';
import { runCli } from '../../helpers/cli';
import { stubGlobal, unstubAllGlobals } from '../../helpers/runner';
import { alice, carol, dan, requestDummy } from '../../helpers/world';
import { apiWorld } from '../api/api-world';
import { forgingChars } from './terminal';

const AUDREY = principal({ id: 'audrey@corp.com' });
const ENDPOINT = 'http://127.0.0.1:8787';

/**
 * The CLI against the real API handler in process: fetch is replaced by a call of the handler, and the bearer
 * token names the caller (what the local broker's authenticator does with real tokens).
 */
function cliWorld(opts: { timeline?: (req: ApiRequest) => Promise<ApiResponse>; cloud?: CloudActionSource } = {}) {
  const base = apiWorld();
  // The same API, with a cloud source when the test gives one (the deployed API has Athena; the local one has not).
  const w = opts.cloud
    ? {
        ...base,
        api: createApi({
          service: base.service,
          authenticate: async (req) => {
            if (!req.auth) throw new TimeboxError('unauthenticated', 'IDENTITY.UNMAPPED', 'no verified caller');
            return req.auth as Principal;
          },
          signer: base.signer,
          issuer: 'https://timebox.example',
          projections: base.projections,
          events: base.events,
          clock: base.clock,
          log: base.log,
          policy: base.policy,
          cloudActions: opts.cloud,
        }),
      }
    : base;
  const calls: string[] = [];
  const people = { audrey: AUDREY, alice, carol, dan, mallory: principal({ id: 'mallory@corp.com' }) };
  stubGlobal('fetch', async (url: URL | string, init: RequestInit) => {
    const u = new URL(String(url));
    calls.push(`${init.method} ${u.pathname}${u.search}`);
    const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>));
    const who = people[(headers.authorization ?? '').replace('Bearer ', '') as keyof typeof people];
    const req: ApiRequest = {
      method: init.method ?? 'GET',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers,
      body: typeof init.body === 'string' ? init.body : undefined,
      sourceIp: '127.0.0.1',
      userAgent: 'timebox-cli',
      requestId: `req-${calls.length}`,
      ...(who ? { auth: who } : {}),
    };
    const res = u.pathname === '/v1/audit/timeline' && opts.timeline ? await opts.timeline(req) : await w.api(req);
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  const run = async (args: string[], as: 'audrey' | 'alice' | 'mallory' = 'audrey') => {
    let stdout = '';
    process.exitCode = undefined;
    const program = new Command('timebox').exitOverride();
    registerAudit(program, {
      client: () =>
        new ApiClient(new URL(ENDPOINT), async ({ headers }) => ({ ...headers, authorization: `Bearer ${as}` })),
      now: () => w.clock.now(),
      sleep: async (ms) => {
        w.clock.advance(ms);
      },
      out: (text) => {
        stdout += text;
      },
    });
    await program.parseAsync(args, { from: 'user' });
    const code = process.exitCode ?? 0;
    process.exitCode = undefined;
    return { code, stdout };
  };
  return { ...w, run, calls };
}

afterEach(() => {
  unstubAllGlobals();
});

/** alice's break-glass request approved by carol and dan, then revoked; plus an auto-approved one. */
async function history(w: ReturnType<typeof cliWorld>) {
  const { grant: g1 } = await w.service.request(
    alice,
    requestDummy({
      target: 'user-service',
      scopes: ['/acme.admin.*'],
      duration: 20 * 60_000,
      reason: 'INC-7, "db" down\nagain',
    }),
  );
  w.clock.advance(60_000);
  await w.service.approve(g1.id, carol);
  await w.service.approve(g1.id, dan);
  w.clock.advance(60_000);
  await w.service.revoke(g1.id, carol, 'done');
  const { grant: g2 } = await w.service.request(alice, requestDummy());
  w.clock.advance(60_000);
  return { g1: g1.id, g2: g2.id };
}

// Built once, at import: building a full-Unicode string arbitrary takes seconds on a loaded machine, which a test's
// own time limit should not pay.
const ANY_TEXT = fc.string({ unit: 'binary' });

/** A minimal RFC 4180 reader, to check the export round-trips. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

describe('Function: parseInstant', () => {
  const now = new Date('2026-11-24T10:00:00Z');
  it('reads ISO-8601 with a zone, or a duration ago', () => {
    expect(parseInstant('--since', '2026-11-01T00:00:00Z', now)).toEqual(new Date('2026-11-01T00:00:00Z'));
    expect(parseInstant('--since', '7d', now)).toEqual(new Date('2026-11-17T10:00:00Z'));
    expect(parseInstant('--since', undefined, now)).toBeUndefined();
  });
  it('refuses times without a zone and anything else', () => {
    expect(() => parseInstant('--since', '2026-11-01T00:00:00', now)).toThrow(/--since/);
    expect(() => parseInstant('--since', 'yesterday', now)).toThrow(/--since/);
  });
});

describe('Function: windows', () => {
  it('cuts a long range into 31-day windows the broker accepts', () => {
    const w = windows(new Date('2026-01-01T00:00:00Z'), new Date('2026-03-15T00:00:00Z'));
    expect(w.map((x) => x.since.toISOString().slice(0, 10))).toEqual(['2026-01-01', '2026-02-01', '2026-03-04']);
    expect(w[2]?.until).toEqual(new Date('2026-03-15T00:00:00Z'));
  });
});

describe('Function: toCsv', () => {
  it('quotes fields per RFC 4180 and ends lines with CRLF', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(toCsv([])).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
  });

  it('reads back every field exactly, whatever it contains (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(ANY_TEXT, { minLength: 1, maxLength: 5 }), { maxLength: 5 }), (rows) => {
        const text = rows.map((r) => `${r.map(csvField).join(',')}\r\n`).join('');
        const back = readCsv(text);
        // A row of one empty field is an empty line, which reads back as one empty field too.
        return JSON.stringify(back) === JSON.stringify(rows);
      }),
    );
  });
});

describe('Command: audit', () => {
  it('lists lifecycle events across grants for an auditor, filtered by who', async () => {
    const w = cliWorld();
    const { g1 } = await history(w);
    const { code, stdout } = await w.run(['audit', '--who', 'carol@corp.com', '--since', '1h']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^AT\s+GRANT\s+SEQ\s+EVENT\s+WHO/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[3])).toEqual(['approved', 'revoked']);
    expect(stdout).toContain(g1);
    expect(w.calls[0]).toContain('actor=carol%40corp.com');
  });

  it('lists one grant with --grant as JSON', async () => {
    const w = cliWorld();
    const { g1 } = await history(w);
    const { stdout } = await w.run(['audit', '--grant', g1, '--json'], 'alice');
    const events = JSON.parse(stdout) as GrantEvent[];
    expect(events.map((e) => e.type)).toEqual(['requested', 'approved', 'approved', 'activated', 'revoked']);
  });

  it('shows the merged timeline of a grant, waiting while the CloudTrail query runs, with the lag note', async () => {
    let asked = 0;
    const w = cliWorld({
      timeline: async (req) => {
        asked++;
        const t: Timeline = {
          grantId: String(req.query.grant),
          entries: [
            {
              at: '2026-11-24T10:00:00.000Z',
              kind: 'lifecycle',
              who: 'alice@corp.com',
              what: 'requested',
              service: 'timebox',
              seq: 1,
            },
            ...(asked > 1
              ? [
                  {
                    at: '2026-11-24T10:03:10Z',
                    kind: 'cloud' as const,
                    who: 'alice@corp.com',
                    what: 's3:GetBucketPolicy',
                    service: 's3',
                    resource: 'arn:aws:s3:::prod-logs',
                    sourceIp: '10.1.2.3',
                    errorCode: 'AccessDenied',
                    eventId: 'e2',
                    via: 'grant-session' as const,
                  },
                ]
              : []),
          ],
          cloud:
            asked > 1
              ? { status: 'complete', window: { from: 'a', until: 'b' }, queryExecutionId: 'q-1' }
              : { status: 'running', queryExecutionId: 'q-1' },
          notes: ['CloudTrail delivers events about 5 minutes after the call'],
        };
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(t) };
      },
    });
    const { code, stdout } = await w.run(['audit', 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t']);
    expect(code).toBe(0);
    expect(asked).toBe(2);
    expect(stdout).toMatch(/TIME\s+WHO\s+EVENT\/ACTION\s+SERVICE\s+RESOURCE\s+SOURCE IP\s+ERROR/);
    expect(stdout).toMatch(/s3:GetBucketPolicy\s+s3\s+arn:aws:s3:::prod-logs\s+10\.1\.2\.3\s+AccessDenied/);
    expect(stdout).toContain('note: CloudTrail delivers events about 5 minutes');
  });

  it('exits 4 when the CloudTrail query is still running after --wait', async () => {
    const w = cliWorld({
      timeline: async () => ({
        status: 200,
        headers: {},
        body: JSON.stringify({
          grantId: 'tb-x',
          entries: [],
          cloud: { status: 'running', queryExecutionId: 'q' },
          notes: [],
        }),
      }),
    });
    const { code, stdout } = await w.run(['audit', 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t', '--wait', '10s']);
    expect(code).toBe(4);
    expect(stdout).toContain('still running');
  });
});

describe('Terminal safety: a hostile requester', () => {
  // What approvers were once shown: a reason that draws a fake approvals line, returns to the start of the line, hides
  // text behind a bidi override and sends a C1 control (CSI). The API accepts all of these in free text.
  const FORGED = 'INC-9\napprovals:  1/2 from group:secops: carol@corp.com\r\u202egnirts\u009b2J';

  it('cannot forge a line in show, list --pending, approve, audit or the timeline; --json keeps the exact text', async () => {
    // Prepare: alice asks through the API, as anyone can.
    const w = cliWorld();
    const as = (who: string) => ({ TIMEBOX_ENDPOINT: ENDPOINT, TIMEBOX_TOKEN: who, TIMEBOX_AWS_REGION: undefined });
    const requested = await runCli(
      ['request', 'user-service', '--scope', '/acme.admin.*', '--for', '20m', '--reason', FORGED, '--json'],
      as('alice'),
    );
    const id = JSON.parse(requested.stdout).grant.id as string;
    // Act
    const pending = await runCli(['list', '--pending'], as('carol'));
    const shown = await runCli(['show', id], as('carol'));
    const approved = await runCli(['approve', id, '--comment', `ok\napprovals:  2/2 \u202e`], as('carol'));
    w.clock.advance(1000);
    const listed = await w.run(['audit', '--grant', id]);
    const timeline = await w.run(['audit', id]);
    const json = await runCli(['show', id, '--json'], as('carol'));
    // Assess
    expect([requested.code, pending.code, shown.code, approved.code, listed.code, timeline.code]).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    for (const out of [pending.stdout, shown.stdout, approved.stdout, listed.stdout, timeline.stdout]) {
      expect(forgingChars(out, { lineFeeds: true })).toEqual([]);
      expect(out.split('\n').filter((l) => /^\s*approvals:/.test(l))).toHaveLength(out === shown.stdout ? 1 : 0);
    }
    expect(shown.stdout).toMatch(/^approvals:\s+0\/2 from group:secops$/m);
    expect(shown.stdout).toContain('INC-9\\napprovals:  1/2 from group:secops: carol@corp.com\\r\\u202egnirts\\x9b2J');
    expect(pending.stdout.trim().split('\n')).toHaveLength(2);
    expect(approved.stdout.trim().split('\n')).toHaveLength(1);
    expect(listed.stdout).toContain('ok\\napprovals:  2/2 \\u202e');
    expect(forgingChars(json.stdout, { lineFeeds: true })).toEqual([]);
    expect(JSON.parse(json.stdout).grant.reason).toBe(FORGED);
  });

  it('cannot forge a line in an error message that quotes the broker', async () => {
    // Prepare: the broker's refusal quotes text the requester chose.
    fakeBrokerAnswer({ code: 'REQUEST.INVALID', message: `bad\ntimebox: approved by carol@corp.com\u202e` });
    // Act
    const r = await runCli(['approve', 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t'], {
      TIMEBOX_ENDPOINT: ENDPOINT,
      TIMEBOX_TOKEN: 'carol',
      TIMEBOX_AWS_REGION: undefined,
    });
    // Assess
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('timebox: REQUEST.INVALID: bad\\ntimebox: approved by carol@corp.com\\u202e\n');
  });
});

/** A broker that refuses every call with this error (400). */
function fakeBrokerAnswer(error: { code: string; message: string }) {
  stubGlobal(
    'fetch',
    async () =>
      new Response(JSON.stringify({ error }), { status: 400, headers: { 'content-type': 'application/json' } }),
  );
}

describe('Route: GET /v1/audit/timeline', () => {
  it('answers the requester with lifecycle events only, and says why, when no cloud source is configured', async () => {
    const w = cliWorld();
    const { g2 } = await history(w);
    const { code, stdout } = await w.run(['audit', g2, '--json'], 'alice');
    expect(code).toBe(0);
    const t = JSON.parse(stdout) as Timeline;
    expect(t.cloud.status).toBe('not-configured');
    expect(t.notes).toEqual([NOT_CONFIGURED_NOTE]);
    expect(t.entries.map((e) => e.what)).toEqual((await w.events.read(g2)).map((e) => e.type));
  });

  it('merges the cloud source in when there is one', async () => {
    const calls: string[] = [];
    const w = cliWorld({
      cloud: {
        forGrant: async (g) => {
          calls.push(g.id);
          return {
            queryExecutionId: 'q-7',
            window: { from: g.activatedAt ?? '', until: g.expiresAt ?? '' },
            truncated: false,
            actions: [
              {
                at: `${new Date(Date.parse(g.activatedAt ?? '') + 5000).toISOString().slice(0, 19)}Z`,
                eventId: 'e1',
                actor: 'alice@corp.com',
                eventSource: 'sts.amazonaws.com',
                eventName: 'GetCallerIdentity',
                region: 'us-east-1',
                sourceIp: '10.1.2.3',
                sourceIdentity: 'alice@corp.com',
                resources: [],
                via: 'grant-session',
              },
            ],
          };
        },
      },
    });
    const { g2 } = await history(w);
    const { stdout } = await w.run(['audit', g2]);
    expect(calls).toEqual([g2]);
    expect(stdout).toMatch(/alice@corp\.com\s+sts:GetCallerIdentity\s+sts\s+10\.1\.2\.3/);
    expect(stdout).toContain(`note: ${CLOUDTRAIL_LAG_NOTE}`);
  });

  it('answers 404 to someone who may not read the grant, as for a grant that does not exist', async () => {
    const w = cliWorld();
    const { g2 } = await history(w);
    await expect(w.run(['audit', g2], 'mallory')).rejects.toMatchObject({
      status: 404,
      error: { code: 'GRANT.NOT_FOUND' },
    });
    await expect(w.run(['audit', 'not-a-grant'], 'alice')).rejects.toMatchObject({ status: 404 });
  });
});

describe('Command: audit verify', () => {
  it('reports every chain intact and exits 0', async () => {
    const w = cliWorld();
    await history(w);
    const { code, stdout } = await w.run(['audit', 'verify', '--since', '1h']);
    expect(code).toBe(0);
    expect(stdout).toBe('verified 2 grants: every chain is intact\n');
  });

  it('names the grant, seq and problem of a break, and exits 1', async () => {
    const w = cliWorld();
    const { g1 } = await history(w);
    const stream = w.events.streams.get(g1) as GrantEvent[];
    (stream[1] as GrantEvent & { data: { comment?: string } }).data.comment = 'rewritten later';
    const { code, stdout } = await w.run(['audit', 'verify', '--since', '1h']);
    expect(code).toBe(1);
    expect(stdout).toContain(`BROKEN ${g1} seq 2 hash-mismatch: event 2 content does not match its hash`);
    expect(stdout).toContain('1 break in 1 of 2 grants');
    const one = await w.run(['audit', 'verify', '--grant', g1, '--json']);
    expect(one.code).toBe(1);
    expect(JSON.parse(one.stdout)).toMatchObject({
      ok: false,
      broken: [{ grantId: g1, seq: 2, problem: 'hash-mismatch' }],
    });
  });

  it('splits ranges longer than the broker accepts', async () => {
    const w = cliWorld();
    await history(w);
    await w.run(['audit', 'verify', '--since', '40d']);
    expect(w.calls.filter((c) => c.startsWith('GET /v1/audit/verify'))).toHaveLength(2);
  });
});

describe('Command: audit export', () => {
  it('writes CSV with a header and RFC 4180 quoting that reads back to the same values, to a 0600 file', async () => {
    const w = cliWorld();
    await history(w);
    const file = join(mkdtempSync(join(tmpdir(), 'timebox-export-')), 'evidence.csv');
    const { code } = await w.run(['audit', 'export', '--format', 'csv', '--since', '1h', '--out', file]);
    expect(code).toBe(0);
    const rows = readCsv(readFileSync(file, 'utf8'));
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(1 + w.events.allEvents().length);
    const requested = rows.find((r) => r[3] === 'requested' && r[6] === 'user-service') as string[];
    expect(JSON.parse(requested[9] as string).reason).toBe('INC-7, "db" down\nagain');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes one JSON array, or JSON lines, filtered by actor and target', async () => {
    const w = cliWorld();
    await history(w);
    const arr = await w.run(['audit', 'export', '--format', 'json', '--since', '1h', '--actor', 'dan@corp.com']);
    expect((JSON.parse(arr.stdout) as GrantEvent[]).map((e) => [e.type, e.actor.id])).toEqual([
      ['approved', 'dan@corp.com'],
    ]);
    const lines = await w.run(['audit', 'export', '--format', 'jsonl', '--since', '1h', '--target', 'prod-logs']);
    const events = lines.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as GrantEvent);
    expect(new Set(events.map((e) => e.target))).toEqual(new Set(['prod-logs']));
    expect(events.length).toBeGreaterThan(1);
  });

  it('refuses an unknown format and a non-auditor', async () => {
    const w = cliWorld();
    await history(w);
    await expect(w.run(['audit', 'export', '--format', 'xml', '--since', '1h'])).rejects.toThrow(/--format/);
    await expect(w.run(['audit', 'export', '--format', 'csv', '--since', '1h'], 'alice')).rejects.toMatchObject({
      error: { code: 'AUDIT.AUDITORS_ONLY' },
    });
  });
});

describe('Command: audit witness', () => {
  /** What the bus carried for every event so far: EventBridge events as an archive replay or a SIEM exports them. */
  function busExport(w: ReturnType<typeof cliWorld>): string {
    const lines: string[] = [];
    for (const stream of w.events.streams.values())
      for (const e of stream)
        lines.push(
          JSON.stringify({
            source: EVENT_SOURCE,
            'detail-type': DETAIL_TYPES[e.type],
            detail: lifecycleDetail(e, foldGrant(stream.slice(0, e.seq))),
          }),
        );
    return `${lines.join('\n')}\n`;
  }
  const write = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'timebox-witness-')), 'bus.jsonl');
    writeFileSync(file, text);
    return file;
  };

  it('finds every witnessed event in the audit record when nothing was touched', async () => {
    const w = cliWorld();
    await history(w);
    const file = write(
      `${busExport(w)}{"source":"timebox","detail-type":"Timebox Slack Action Refused","detail":{}}\n`,
    );
    const r = await w.run(['audit', 'witness', '--file', file]);
    expect(r.code).toBe(0);
    const events = [...w.events.streams.values()].flat().length;
    expect(r.stdout).toBe(
      `${events} witnessed events of 2 grants match the audit record (1 records without a chain hash skipped)\n`,
    );
  });

  it('names an event re-sealed in the table and events removed from it, and exits 1', async () => {
    // Prepare: the bus export first, then a forger re-seals g1 without its second event and deletes g2
    const w = cliWorld();
    const { g1, g2 } = await history(w);
    const file = write(busExport(w));
    const kept = (w.events.streams.get(g1) ?? []).filter((e) => e.seq !== 2);
    const resealed: GrantEvent[] = [];
    for (const e of kept) {
      const { seq: _s, prevHash: _p, hash: _h, ...draft } = e;
      resealed.push(sealEvent(draft, resealed.at(-1)));
    }
    w.events.streams.set(g1, resealed);
    w.events.streams.delete(g2);
    // Act
    const r = await w.run(['audit', 'witness', '--file', file, '--json']);
    // Assess
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    const problems = report.findings.map((f: { grantId: string; seq: number; problem: string }) => [
      f.grantId === g1 ? 'g1' : 'g2',
      f.seq,
      f.problem,
    ]);
    expect(problems).toContainEqual(['g1', 2, 'rewritten']);
    expect(problems).toContainEqual(['g2', 1, 'missing']);
    expect(problems.filter((p: unknown[]) => p[0] === 'g1').map((p: unknown[]) => p[1])).toEqual(
      Array.from({ length: kept.length + 1 }, (_, i) => i + 1).slice(1),
    );
  });

  it('counts a repeated delivery once but reports a witness holding two hashes for one event', async () => {
    const w = cliWorld();
    const { g2 } = await history(w);
    const first = w.events.streams.get(g2)?.[0] as GrantEvent;
    const detail = { grantId: g2, seq: 1, hash: first.hash };
    const twice = write(`${JSON.stringify(detail)}\n${JSON.stringify(detail)}\n`);
    expect((await w.run(['audit', 'witness', '--file', twice])).code).toBe(0);
    const forged = write(`${JSON.stringify(detail)}\n${JSON.stringify({ ...detail, hash: 'f'.repeat(64) })}\n`);
    const r = await w.run(['audit', 'witness', '--file', forged]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`DIFFERS ${g2} seq 1 conflicting-witness`);
  });

  it('names the line of a file that is not JSON lines', async () => {
    const w = cliWorld();
    const file = write('{"grantId":"tb-1","seq":1}\nnot json\n');
    await expect(w.run(['audit', 'witness', '--file', file])).rejects.toThrow(/line 2 is not JSON/);
  });
});

describe('Command: timebox audit (registered)', () => {
  it('is part of the timebox command and refuses a bad --since before calling the broker', async () => {
    const r = await runCli(['audit', 'export', '--format', 'csv', '--since', 'last tuesday'], {
      TIMEBOX_ENDPOINT: 'http://127.0.0.1:9',
      TIMEBOX_TOKEN: 'x',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--since');
  });
});
