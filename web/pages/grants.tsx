import { Credentials, Manage } from '../actions';
import { api } from '../api';
import { formatDuration } from '../format';
import type { Grant, GrantStatus, Me } from '../types';
import { ErrorBox, GrantClock, ScopeList, Status, T, usePoll } from '../ui';

const GROUPS: { title: string; statuses: GrantStatus[] }[] = [
  { title: 'Pending', statuses: ['pending'] },
  { title: 'Active', statuses: ['approved', 'active'] },
  { title: 'Ended', statuses: ['denied', 'cancelled', 'lapsed', 'expired', 'revoked'] },
];

/** My grants by state, following the server every few seconds, with countdowns and what each allows. */
export function GrantsPage({ me }: { me: Me }) {
  const { data, error, reload } = usePoll(
    async () => (await api<{ grants: Grant[] }>('GET', '/v1/requests?mine=true&limit=100')).grants,
    2500,
  );
  return (
    <section>
      <h1 tabIndex={-1}>My grants</h1>
      <ErrorBox error={error} />
      {!data && !error && <p class="muted">Loading…</p>}
      {data &&
        GROUPS.map(({ title, statuses }) => {
          const list = data.filter((g) => statuses.includes(g.status));
          return (
            <section key={title} aria-labelledby={`sec-${title}`}>
              <h2 id={`sec-${title}`}>
                {title} ({list.length})
              </h2>
              {list.length === 0 && <p class="muted">None.</p>}
              {list.map((g) => (
                <article class="card" key={g.id} data-grant={g.id} data-status={g.status}>
                  <h3>
                    <a href={`#/grants/${encodeURIComponent(g.id)}`}>
                      <T>{g.target.name}</T>
                    </a>{' '}
                    <Status status={g.status} /> <span class="muted">{formatDuration(g.duration)}</span>
                  </h3>
                  <p>
                    <GrantClock g={g} />
                  </p>
                  <ScopeList scope={g.scope} />
                  <p class="muted">
                    Reason: <T class="reason">{g.reason}</T>
                  </p>
                  {g.endReason && (
                    <p class="muted">
                      Ended: <T>{g.endReason}</T>
                    </p>
                  )}
                  <Manage g={g} me={me} done={reload} />
                  <Credentials g={g} me={me} />
                </article>
              ))}
            </section>
          );
        })}
    </section>
  );
}
