import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { countdown, formatDuration, formatTime, pieces, reasonWords } from './format';
import type { Grant, Reason } from './types';

/**
 * Text from a requester or the server. Rendered as text nodes only (never markup), isolated from the text around it
 * (<bdi>, `unicode-bidi: isolate`), wrapped however long, with every invisible or direction-changing character shown
 * as a marker. Every string a person typed goes through this.
 */
export function T({ children, class: cls }: { children: string | undefined | null; class?: string }) {
  const s = children ?? '';
  return (
    <bdi class={cls ? `t ${cls}` : 't'}>
      {pieces(s).map((p, i) =>
        'text' in p ? (
          p.text
        ) : (
          <span key={i} class="ctl" title={`hidden character ${p.hidden}`}>
            {p.hidden}
          </span>
        ),
      )}
    </bdi>
  );
}

/** The current time, ticking every second while mounted (countdowns). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function Countdown({ until, label, over }: { until: string | undefined | null; label: string; over: string }) {
  const now = useNow();
  if (!until) return null;
  const left = countdown(until, now);
  return (
    <span class="countdown">
      {left ? (
        <>
          {label} <strong>{left}</strong>
        </>
      ) : (
        over
      )}
    </span>
  );
}

/**
 * Loads now and again every `ms` while the page is visible, so lists and countdowns follow the server without a
 * reload. `reload` runs it at once (after an action).
 */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const d = await loadRef.current();
      if (mine === seq.current) {
        setData(d);
        setError(undefined);
      }
    } catch (e) {
      if (mine === seq.current) setError(asApiError(e));
    }
  }, []);
  useEffect(() => {
    setData(undefined);
    void reload();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, ms);
    return () => {
      seq.current++;
      clearInterval(t);
    };
  }, deps);
  return { data, error, reload };
}

export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'CONSOLE.ERROR', e instanceof Error ? e.message : String(e));
}

export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  const reasons = Array.isArray(error.details.reasons) ? (error.details.reasons as Reason[]) : [];
  return (
    <div class="error" role="alert">
      <strong>{error.code}</strong>: <T>{error.message}</T>
      {reasons.length > 0 && <Reasons reasons={reasons} />}
    </div>
  );
}

export function Reasons({ reasons }: { reasons: Reason[] }) {
  return (
    <ul class="reasons">
      {reasons.map((r) => (
        <li key={r.code + r.message}>
          <strong>{reasonWords(r.code)}</strong> <span class="muted">({r.code})</span>: <T>{r.message}</T>
        </li>
      ))}
    </ul>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{status}</span>;
}

export function Field({ name, children }: { name: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{children}</dd>
    </>
  );
}

/** A grant's scope in one line per entry. */
export function ScopeList({ scope }: { scope: Grant['scope'] }) {
  if (!scope) return <span class="muted">none</span>;
  const entries = Object.entries(scope).filter(([k]) => k !== 'kind');
  return (
    <ul class="plain">
      {entries.flatMap(([k, v]) =>
        (Array.isArray(v) ? v : [v]).map((item) => (
          <li key={`${k}:${String(item)}`}>
            <span class="muted">{k}</span>{' '}
            <code>
              <T>{typeof item === 'string' ? item : JSON.stringify(item)}</T>
            </code>
          </li>
        )),
      )}
    </ul>
  );
}

/** Quorum progress: `1 of 2 (carol@corp.com)`. */
export function Quorum({ g }: { g: Grant }) {
  if (!g.approval) return <span>automatic (no approval needed)</span>;
  return (
    <span>
      <strong>
        {g.approvals.length} of {g.approval.count}
      </strong>{' '}
      from <T>{g.approval.from.join(', ')}</T>
      {g.approvals.length > 0 && (
        <>
          {' '}
          (approved by <T>{g.approvals.map((a) => a.by).join(', ')}</T>)
        </>
      )}
    </span>
  );
}

export function GrantFacts({ g }: { g: Grant }) {
  return (
    <dl class="kv">
      <Field name="Requester">
        <T>{g.requester.id}</T>
        {g.requester.mfa ? ' (MFA)' : ''}
      </Field>
      <Field name="Target">
        <T>{g.target.name}</T> <span class="muted">({g.target.kind})</span>
      </Field>
      <Field name="Scope">
        <ScopeList scope={g.scope} />
      </Field>
      <Field name="Duration">{formatDuration(g.duration)}</Field>
      <Field name="Reason">
        <T class="reason">{g.reason}</T>
      </Field>
      {g.ticket && (
        <Field name="Ticket">
          <T>{g.ticket}</T>
        </Field>
      )}
      <Field name="Rule">
        <T>{g.rule ?? 'none'}</T>
      </Field>
      <Field name="Approvals">
        <Quorum g={g} />
      </Field>
      {g.approval && <Field name="MFA to approve">{g.approval.requireMfa ? 'required' : 'not required'}</Field>}
      <Field name="Requested">{formatTime(g.requestedAt)}</Field>
      {g.startAt && <Field name="Starts">{formatTime(g.startAt)}</Field>}
    </dl>
  );
}

/** Where each status leads the eye: the time that matters next. */
export function GrantClock({ g }: { g: Grant }) {
  if (g.status === 'pending')
    return <Countdown until={g.pendingUntil} label="lapses in" over="lapsing now (waiting for the sweeper)" />;
  if (g.status === 'approved' && g.startAt) return <Countdown until={g.startAt} label="starts in" over="starting" />;
  if (g.status === 'active') return <Countdown until={g.expiresAt} label="ends in" over="ending now" />;
  if (g.endedAt)
    return (
      <span>
        ended {formatTime(g.endedAt)}
        {g.endedBy ? (
          <>
            {' '}
            by <T>{g.endedBy}</T>
          </>
        ) : null}
      </span>
    );
  return null;
}
