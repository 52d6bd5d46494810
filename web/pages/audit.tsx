import { useState } from 'preact/hooks';
import { type ApiError, api, query } from '../api';
import { formatTime, toCsv, visible } from '../format';
import type { AuditEvent, Me } from '../types';
import { asApiError, ErrorBox, T } from '../ui';

const EVENT_TYPES = [
  'requested',
  'approved',
  'denied',
  'cancelled',
  'lapsed',
  'activated',
  'access-provisioned',
  'access-failed',
  'credentials-issued',
  'revoked',
  'expired',
  'access-removed',
];
const MAX_PAGES = 10;

interface VerifyAll {
  ok: boolean;
  grants: number;
  broken: { grantId: string }[];
  since: string;
  until: string;
  truncated?: boolean;
}

/** `datetime-local` value (local time, minutes) for an instant. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Search the audit record across grants, verify every chain in the window, export what was found. */
export function AuditPage({ me }: { me: Me }) {
  const [since, setSince] = useState(() => localInput(Date.now() - 24 * 3_600_000));
  const [until, setUntil] = useState('');
  const [actor, setActor] = useState('');
  const [target, setTarget] = useState('');
  const [type, setType] = useState('');
  const [events, setEvents] = useState<AuditEvent[] | undefined>();
  const [more, setMore] = useState(false);
  const [verified, setVerified] = useState<VerifyAll | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  if (!me.auditor)
    return (
      <section>
        <h1 tabIndex={-1}>Audit</h1>
        <p>The audit record across grants is open to auditors and admins only. Each of your grants shows its own.</p>
      </section>
    );

  const window = () => ({
    since: since ? new Date(since).toISOString() : undefined,
    until: until ? new Date(until).toISOString() : undefined,
  });
  const guard = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const search = () =>
    guard(async () => {
      const found: AuditEvent[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const r = await api<{ events: AuditEvent[]; cursor?: string }>(
          'GET',
          `/v1/audit${query({ ...window(), actor: actor.trim(), target: target.trim(), limit: 1000, cursor })}`,
        );
        found.push(...r.events);
        cursor = r.cursor;
        pages += 1;
      } while (cursor && pages < MAX_PAGES);
      setMore(cursor !== undefined);
      setEvents(type ? found.filter((e) => e.type === type) : found);
    });
  const verify = () =>
    guard(async () => setVerified(await api<VerifyAll>('GET', `/v1/audit/verify${query(window())}`)));
  const download = (name: string, mime: string, text: string) => {
    const url = URL.createObjectURL(new Blob([text], { type: mime }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const rows = () =>
    (events ?? []).map((e) => ({
      at: e.at,
      grantId: e.grantId,
      seq: e.seq,
      type: e.type,
      actor: visible(e.actor.id),
      target: e.target,
      data: visible(JSON.stringify(e.data)),
      hash: e.hash,
    }));

  return (
    <section>
      <h1 tabIndex={-1}>Audit</h1>
      <form
        class="card audit-form"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <div class="grid">
          <div>
            <label for="au-since">From (local time)</label>
            <input id="au-since" type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
          </div>
          <div>
            <label for="au-until">Until (empty: now)</label>
            <input id="au-until" type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
          </div>
          <div>
            <label for="au-actor">Person</label>
            <input
              id="au-actor"
              value={actor}
              placeholder="alice@corp.com"
              onInput={(e) => setActor(e.currentTarget.value)}
            />
          </div>
          <div>
            <label for="au-target">Target</label>
            <input id="au-target" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
          </div>
          <div>
            <label for="au-type">Event (status)</label>
            <select id="au-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
              <option value="">any</option>
              {EVENT_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="buttons">
          <button type="submit" disabled={busy}>
            Search
          </button>
          <button type="button" class="secondary" disabled={busy} onClick={() => void verify()}>
            Verify chains in this window
          </button>
          <button
            type="button"
            class="secondary"
            disabled={!events?.length}
            onClick={() =>
              download(
                'timebox-audit.csv',
                'text/csv',
                toCsv(['at', 'grantId', 'seq', 'type', 'actor', 'target', 'data', 'hash'], rows()),
              )
            }
          >
            Export CSV
          </button>
          <button
            type="button"
            class="secondary"
            disabled={!events?.length}
            onClick={() => download('timebox-audit.json', 'application/json', JSON.stringify(events, null, 2))}
          >
            Export JSON
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      <div aria-live="polite">
        {verified && (
          <p class={verified.ok ? 'ok' : 'error'} data-chain={verified.ok ? 'ok' : 'broken'}>
            {verified.ok
              ? `All ${verified.grants} grant chains with events from ${formatTime(verified.since)} to ${formatTime(verified.until)} verify.`
              : `${verified.broken.length} of ${verified.grants} grant chains are broken: ${verified.broken.map((b) => b.grantId).join(', ')}`}
            {verified.truncated ? ' (only the first 1000 grants were checked)' : ''}
          </p>
        )}
      </div>
      {events && (
        <>
          <h2>
            {events.length} events{more ? ' (more exist: narrow the window)' : ''}
          </h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Grant</th>
                  <th scope="col">Event</th>
                  <th scope="col">Who</th>
                  <th scope="col">Target</th>
                </tr>
              </thead>
              <tbody>
                {events.map((e) => (
                  <tr key={`${e.grantId}-${e.seq}`}>
                    <td>{formatTime(e.at)}</td>
                    <td>
                      <a href={`#/grants/${encodeURIComponent(e.grantId)}`}>
                        <code>{e.grantId}</code>
                      </a>{' '}
                      #{e.seq}
                    </td>
                    <td>{e.type}</td>
                    <td>
                      <T>{e.actor.id}</T>
                    </td>
                    <td>
                      <T>{e.target}</T>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
