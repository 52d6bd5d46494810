import { useEffect, useState } from 'preact/hooks';
import { type ApiError, api } from '../api';
import { formatDuration, formatTime } from '../format';
import type { DecisionView, Eligibility, Grant } from '../types';
import { asApiError, ErrorBox, Reasons, T } from '../ui';

/** The form: what the signed-in person may ask for, with the decision it would get shown while they type. */
export function RequestPage({ elig }: { elig: Eligibility }) {
  const { options } = elig;
  const [pick, setPick] = useState(0);
  const option = options[pick];
  const [scopes, setScopes] = useState<string[]>(option?.scopes ?? []);
  const [duration, setDuration] = useState('15m');
  const [reason, setReason] = useState('');
  const [ticket, setTicket] = useState('');
  const [start, setStart] = useState('');
  const [preview, setPreview] = useState<DecisionView | undefined>();
  const [previewError, setPreviewError] = useState<ApiError | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  useEffect(() => setScopes(option?.scopes ?? []), [option]);

  const body = () => {
    if (!option) return undefined;
    // All of a target's whole scope is the same request as naming none.
    const all = !option.narrowed && scopes.length === option.scopes.length;
    return {
      target: option.target,
      ...(all ? {} : { scopes }),
      duration: duration.trim(),
      ...(start ? { startAt: new Date(start).toISOString() } : {}),
    };
  };

  // The decision a request would get, asked again shortly after each change.
  useEffect(() => {
    const b = body();
    if (!b?.duration) return undefined;
    const t = setTimeout(() => {
      api<{ decision: DecisionView }>('POST', '/v1/eligibility/check', { ...b, reason: 'preview' }).then(
        (r) => {
          setPreview(r.decision);
          setPreviewError(undefined);
        },
        (e) => {
          setPreview(undefined);
          setPreviewError(asApiError(e));
        },
      );
    }, 250);
    return () => clearTimeout(t);
  }, [option, scopes, duration, start]);

  if (!option)
    return (
      <section>
        <h1 tabIndex={-1}>Request access</h1>
        <p>No rule of the access policy lets you request anything.</p>
      </section>
    );

  const submit = async (e: Event) => {
    e.preventDefault();
    const b = body();
    if (!b) return;
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<{ grant: Grant }>(
        'POST',
        '/v1/requests',
        { ...b, reason, ...(ticket.trim() ? { ticket: ticket.trim() } : {}) },
        { 'idempotency-key': crypto.randomUUID() },
      );
      location.hash = `#/grants/${encodeURIComponent(r.grant.id)}`;
    } catch (x) {
      setError(asApiError(x));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1 tabIndex={-1}>Request access</h1>
      <form onSubmit={submit} class="card request-form">
        <label for="rq-target">Target and rule</label>
        <select id="rq-target" value={String(pick)} onChange={(e) => setPick(Number(e.currentTarget.value))}>
          {options.map((o, i) => (
            <option key={`${o.target}/${o.rule}`} value={String(i)}>
              {o.target} · {o.rule} ·{' '}
              {o.approval.kind === 'auto'
                ? 'automatic'
                : `${o.approval.count} approval(s) from ${o.approval.from.join(', ')}`}
            </option>
          ))}
        </select>
        <p class="muted">
          {option.targetDescription && <T>{option.targetDescription}</T>}
          {option.ruleDescription && (
            <>
              {' — '}
              <T>{option.ruleDescription}</T>
            </>
          )}
        </p>
        {option.blockers.length > 0 && (
          <div class="note warn">
            With this session you cannot meet this rule:
            <Reasons reasons={option.blockers} />
          </div>
        )}
        <fieldset>
          <legend>Scopes</legend>
          {option.scopes.map((s, i) => (
            <div class="check" key={s}>
              <input
                type="checkbox"
                id={`rq-scope-${i}`}
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              <label for={`rq-scope-${i}`}>
                <code>
                  <T>{s}</T>
                </code>
              </label>
            </div>
          ))}
        </fieldset>
        <label for="rq-duration">Duration (at most {formatDuration(option.maxDuration)})</label>
        <input
          id="rq-duration"
          value={duration}
          required
          aria-describedby="rq-duration-help"
          onInput={(e) => setDuration(e.currentTarget.value)}
        />
        <p id="rq-duration-help" class="muted">
          For example 15m, 1h, 1h30m.
        </p>
        <label for="rq-reason">Reason</label>
        <textarea id="rq-reason" rows={3} required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        <label for="rq-ticket">Ticket (optional)</label>
        <input id="rq-ticket" value={ticket} maxLength={128} onInput={(e) => setTicket(e.currentTarget.value)} />
        <label for="rq-start">Start (optional, your local time; empty means now)</label>
        <input id="rq-start" type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        <div class="preview" aria-live="polite" aria-atomic="true">
          <h2>Decision</h2>
          <Preview d={preview} />
          <ErrorBox error={previewError} />
        </div>
        <div class="buttons">
          <button type="submit" disabled={busy}>
            Submit request
          </button>
        </div>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}

function Preview({ d }: { d: DecisionView | undefined }) {
  if (!d) return <p class="muted">…</p>;
  if (d.decision === 'allow')
    return (
      <p class="ok" data-decision="allow">
        Approved at once by rule <T>{d.rule}</T>, until {formatTime(d.expiresAt)} if it starts now.
      </p>
    );
  if (d.decision === 'needs-approval' && d.approval)
    return (
      <p class="pending" data-decision="needs-approval">
        Needs <strong>{d.approval.count}</strong> approval{d.approval.count === 1 ? '' : 's'} from{' '}
        <T>{d.approval.from.join(', ')}</T> (rule <T>{d.rule}</T>)
        {d.approval.requireMfa ? ', each approver with MFA' : ''}; it waits until {formatTime(d.pendingUntil)}.
      </p>
    );
  return (
    <div class="error" data-decision="deny">
      Would be denied:
      <Reasons reasons={d.reasons} />
    </div>
  );
}
