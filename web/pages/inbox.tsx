import { Decide } from '../actions';
import { api } from '../api';
import type { Grant, Me } from '../types';
import { Countdown, ErrorBox, GrantFacts, Quorum, Status, T, usePoll } from '../ui';

/** Requests waiting for my approval, and my own pending requests (shown, never approvable by me). */
export function InboxPage({ me }: { me: Me }) {
  const { data, error, reload } = usePoll(async () => {
    const [todo, mine] = await Promise.all([
      api<{ grants: Grant[] }>('GET', '/v1/requests?approvable=true&limit=100'),
      api<{ grants: Grant[] }>('GET', '/v1/requests?mine=true&status=pending&limit=100'),
    ]);
    return { todo: todo.grants, mine: mine.grants };
  }, 2500);
  return (
    <section>
      <h1 tabIndex={-1}>Inbox</h1>
      <ErrorBox error={error} />
      {!data && !error && <p class="muted">Loading…</p>}
      {data && (
        <>
          <h2>Waiting for you ({data.todo.length})</h2>
          {data.todo.length === 0 && <p class="muted">Nothing waits for your approval.</p>}
          {data.todo.map((g) => (
            <PendingCard key={g.id} g={g} me={me} done={reload} />
          ))}
          <h2>Your own pending requests ({data.mine.length})</h2>
          {data.mine.length === 0 && <p class="muted">None.</p>}
          {data.mine.map((g) => (
            <PendingCard key={g.id} g={g} me={me} done={reload} />
          ))}
        </>
      )}
    </section>
  );
}

function PendingCard({ g, me, done }: { g: Grant; me: Me; done: () => void }) {
  return (
    <article class="card" data-grant={g.id} aria-labelledby={`h-${g.id}`}>
      <h3 id={`h-${g.id}`}>
        <a href={`#/grants/${encodeURIComponent(g.id)}`}>
          <T>{g.target.name}</T> for <T>{g.requester.id}</T>
        </a>{' '}
        <Status status={g.status} />
      </h3>
      <p>
        <Quorum g={g} /> · <Countdown until={g.pendingUntil} label="deadline in" over="deadline passed" />
      </p>
      <GrantFacts g={g} />
      <Decide g={g} me={me} done={done} />
    </article>
  );
}
