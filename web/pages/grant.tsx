import { Credentials, Decide, Manage } from '../actions';
import { api, query } from '../api';
import { formatTime } from '../format';
import type { Grant, Me, Timeline, VerifyResult } from '../types';
import { ErrorBox, Field, GrantClock, GrantFacts, Status, T, usePoll } from '../ui';

/** One grant: its state, what can be done with it, its whole audit timeline and whether its chain verifies. */
export function GrantPage({ id, me }: { id: string; me: Me }) {
  const { data, error, reload } = usePoll(
    async () => {
      const enc = encodeURIComponent(id);
      const [grant, timeline, verify] = await Promise.all([
        api<{ grant: Grant }>('GET', `/v1/requests/${enc}`),
        api<Timeline>('GET', `/v1/audit/timeline${query({ grant: id })}`),
        api<VerifyResult & { grantId: string }>('GET', `/v1/audit/verify${query({ grant: id })}`),
      ]);
      return { g: grant.grant, timeline, verify };
    },
    3000,
    [id],
  );
  return (
    <section>
      <h1 tabIndex={-1}>
        Grant <code>{id}</code>
      </h1>
      <ErrorBox error={error} />
      {!data && !error && <p class="muted">Loading…</p>}
      {data && (
        <>
          <div class="card">
            <p class="lead">
              <Status status={data.g.status} /> <GrantClock g={data.g} />
            </p>
            <GrantFacts g={data.g} />
            <Ending g={data.g} />
            <Decide g={data.g} me={me} done={reload} />
            <Manage g={data.g} me={me} done={reload} />
            <Credentials g={data.g} me={me} />
          </div>
          <h2>Audit chain</h2>
          <Chain v={data.verify} />
          <h2>Timeline</h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {data.timeline.entries.map((e) => (
                  <tr key={`${e.kind}-${e.seq ?? ''}-${e.at}-${e.what}`} data-what={e.what}>
                    <td>{formatTime(e.at)}</td>
                    <td>
                      <T>{e.who}</T>
                    </td>
                    <td>
                      {e.kind === 'cloud' ? <code>{e.what}</code> : e.what}
                      {e.errorCode ? (
                        <>
                          {' '}
                          <span class="badge s-denied">{e.errorCode}</span>
                        </>
                      ) : null}
                    </td>
                    <td>
                      <T class="reason">{e.note ?? e.resource ?? ''}</T>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.timeline.notes.map((n) => (
            <p class="muted" key={n}>
              <T>{n}</T>
            </p>
          ))}
        </>
      )}
    </section>
  );
}

function Ending({ g }: { g: Grant }) {
  if (!g.endedAt && !g.decidedAt && !g.activatedAt) return null;
  return (
    <dl class="kv">
      {g.decidedAt && (
        <Field name="Decided">
          {formatTime(g.decidedAt)} by <T>{g.decidedBy?.split(',').join(', ')}</T>
        </Field>
      )}
      {g.activatedAt && <Field name="Active from">{formatTime(g.activatedAt)}</Field>}
      {g.expiresAt && <Field name="Ends at">{formatTime(g.expiresAt)}</Field>}
      {g.endedAt && (
        <Field name="Ended">
          {formatTime(g.endedAt)}: {g.status}
          {g.endedBy ? (
            <>
              {' '}
              by <T>{g.endedBy}</T>
            </>
          ) : null}
          {g.endReason ? (
            <>
              {' — '}
              <T class="reason">{g.endReason}</T>
            </>
          ) : null}
        </Field>
      )}
      {g.approvals.map((a) => (
        <Field key={a.by} name="Approval">
          <T>{a.by}</T> at {formatTime(a.at)}
          {a.comment ? (
            <>
              {': '}
              <T class="reason">{a.comment}</T>
            </>
          ) : null}
        </Field>
      ))}
    </dl>
  );
}

export function Chain({ v }: { v: VerifyResult }) {
  if (v.ok)
    return (
      <p class="ok" data-chain="ok">
        Chain intact: {v.events} events, each hash linked to the one before; head <code>{v.head.slice(0, 16)}…</code>
      </p>
    );
  return (
    <div class="error" data-chain="broken" role="alert">
      Chain broken:
      <ul>
        {v.breaks.map((b) => (
          <li key={`${b.seq}-${b.problem}`}>
            event {b.seq}: {b.problem} — <T>{b.message}</T>
          </li>
        ))}
      </ul>
    </div>
  );
}
