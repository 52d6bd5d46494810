import { useState } from 'preact/hooks';
import { type ApiError, api } from './api';
import type { Grant, Me } from './types';
import { asApiError, ErrorBox, T } from './ui';

let counter = 0;
/** A unique id for label/input pairs. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

function useAction(done: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      setMessage(await what());
      done();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, message, run };
}

function Outcome({ error, message }: { error: ApiError | undefined; message: string | undefined }) {
  return (
    <>
      <ErrorBox error={error} />
      <p class="status-line" role="status">
        {message}
      </p>
    </>
  );
}

/**
 * Approve or deny with a comment. The requester never gets these buttons (the server refuses self-approval too);
 * a session without MFA is told before it tries, when the rule needs MFA.
 */
export function Decide({ g, me, done }: { g: Grant; me: Me; done: () => void }) {
  const [comment, setComment] = useState('');
  const [id] = useState(() => uid('comment'));
  const a = useAction(done);
  if (g.status !== 'pending') return null;
  if (g.requester.id === me.id)
    return (
      <p class="note self">
        This is your own request: you cannot approve it.{' '}
        {g.approval ? `It needs ${g.approval.count} other people.` : ''}
      </p>
    );
  if (g.approvals.some((x) => x.by === me.id)) return <p class="note">You approved this request.</p>;
  const mfaMissing = g.approval?.requireMfa === true && !me.mfa;
  return (
    <div class="decide">
      <label for={id}>Comment (required to deny)</label>
      <textarea id={id} rows={2} maxLength={1000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      {mfaMissing && (
        <p class="note warn">This rule requires MFA to approve; your session has none (sign in again with --mfa).</p>
      )}
      <div class="buttons">
        <button
          type="button"
          disabled={a.busy || mfaMissing}
          onClick={() =>
            a.run(async () => {
              const r = await api<{ grant: Grant }>(
                'POST',
                `/v1/requests/${encodeURIComponent(g.id)}/approve`,
                comment.trim() ? { comment } : {},
              );
              return `Approved: ${r.grant.approvals.length} of ${r.grant.approval?.count ?? 0}, now ${r.grant.status}`;
            })
          }
        >
          Approve
        </button>
        <button
          type="button"
          class="danger"
          disabled={a.busy}
          onClick={() =>
            a.run(async () => {
              if (!comment.trim()) throw new Error('a denial needs a comment saying why');
              await api('POST', `/v1/requests/${encodeURIComponent(g.id)}/deny`, { comment });
              return 'Denied';
            })
          }
        >
          Deny
        </button>
      </div>
      <Outcome error={a.error} message={a.message} />
    </div>
  );
}

/** Revoke (active or approved grants), extend (active), cancel (own pending requests). */
export function Manage({ g, me, done }: { g: Grant; me: Me; done: () => void }) {
  const [mode, setMode] = useState<'revoke' | 'extend' | undefined>();
  const [reason, setReason] = useState('');
  const [duration, setDuration] = useState('15m');
  const [ids] = useState(() => ({ reason: uid('why'), duration: uid('for') }));
  const a = useAction(() => {
    setMode(undefined);
    setReason('');
    done();
  });
  const mine = g.requester.id === me.id;
  const live = g.status === 'active' || g.status === 'approved';
  const canRevoke = live && (mine || me.auditor);
  const canExtend = g.status === 'active' && mine;
  const canCancel = g.status === 'pending' && mine;
  if (!canRevoke && !canExtend && !canCancel) return null;
  const path = (verb: string) => `/v1/requests/${encodeURIComponent(g.id)}/${verb}`;
  return (
    <div class="manage">
      <div class="buttons">
        {canRevoke && (
          <button type="button" class="danger" aria-expanded={mode === 'revoke'} onClick={() => setMode('revoke')}>
            Revoke…
          </button>
        )}
        {canExtend && (
          <button type="button" class="secondary" aria-expanded={mode === 'extend'} onClick={() => setMode('extend')}>
            Extend…
          </button>
        )}
        {canCancel && (
          <button
            type="button"
            class="secondary"
            disabled={a.busy}
            onClick={() =>
              a.run(async () => {
                await api('POST', path('cancel'), {});
                return 'Cancelled';
              })
            }
          >
            Cancel request
          </button>
        )}
      </div>
      {mode && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void a.run(async () => {
              if (mode === 'revoke') {
                await api('POST', path('revoke'), { reason });
                return 'Revoked';
              }
              const r = await api<{ grant: Grant; decision: { decision: string } }>('POST', path('extend'), {
                duration,
                reason,
              });
              return `Extension requested: ${r.decision.decision} (${r.grant.id})`;
            });
          }}
        >
          {mode === 'extend' && (
            <>
              <label for={ids.duration}>Extend by</label>
              <input id={ids.duration} value={duration} onInput={(e) => setDuration(e.currentTarget.value)} required />
            </>
          )}
          <label for={ids.reason}>{mode === 'revoke' ? 'Why revoke' : 'Why extend'}</label>
          <input
            id={ids.reason}
            value={reason}
            maxLength={1000}
            required
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          <div class="buttons">
            <button type="submit" class={mode === 'revoke' ? 'danger' : ''} disabled={a.busy}>
              {mode === 'revoke' ? 'Revoke now' : 'Request extension'}
            </button>
            <button type="button" class="secondary" onClick={() => setMode(undefined)}>
              Close
            </button>
          </div>
        </form>
      )}
      <Outcome error={a.error} message={a.message} />
    </div>
  );
}

type Issued =
  | { kind: 'token'; token: string; expiresAt: string }
  | { kind: 'aws'; doc: Record<string, unknown> }
  | { kind: 'plan'; doc: Record<string, unknown> }
  | { kind: 'console'; url: string; expiresAt: string };

/**
 * Credentials of an active grant, kept in this component's memory only (never in the URL or storage): a token to
 * copy (gRPC), the `credential_process` line for the AWS CLI and a console sign-in link (aws-role), or what local
 * mode would have applied (a plan).
 */
export function Credentials({ g, me }: { g: Grant; me: Me }) {
  const [issued, setIssued] = useState<Issued | undefined>();
  const [copied, setCopied] = useState<string | undefined>();
  const a = useAction(() => undefined);
  if (g.status !== 'active' || g.requester.id !== me.id) return null;
  const id = encodeURIComponent(g.id);
  const snippet =
    g.target.kind === 'aws-role'
      ? `[profile timebox-${g.target.name}]\ncredential_process = npx timebox credential-process --target ${g.target.name}`
      : undefined;
  const copy = async (text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser refused the clipboard; select the text and copy it.');
    }
  };
  return (
    <div class="credentials">
      <div class="buttons">
        <button
          type="button"
          class="secondary"
          disabled={a.busy}
          onClick={() =>
            a.run(async () => {
              const r = await api<Record<string, unknown>>('POST', `/v1/grants/${id}/credentials`, {});
              if (typeof r.token === 'string')
                setIssued({ kind: 'token', token: r.token, expiresAt: String(r.expiresAt) });
              else if (typeof r.AccessKeyId === 'string') setIssued({ kind: 'aws', doc: r });
              else setIssued({ kind: 'plan', doc: r });
              return 'Credentials issued';
            })
          }
        >
          {g.target.kind === 'grpc' ? 'Get token' : 'Get credentials'}
        </button>
        {g.target.kind === 'aws-role' && (
          <button
            type="button"
            class="secondary"
            disabled={a.busy}
            onClick={() =>
              a.run(async () => {
                const r = await api<Record<string, unknown>>('POST', `/v1/grants/${id}/console`, {});
                if (typeof r.url === 'string' && r.url.startsWith('https://'))
                  setIssued({ kind: 'console', url: r.url, expiresAt: String(r.expiresAt) });
                else setIssued({ kind: 'plan', doc: r });
                return 'Console link ready';
              })
            }
          >
            AWS console link
          </button>
        )}
      </div>
      {snippet && (
        <details>
          <summary>AWS CLI profile (credential_process)</summary>
          <pre class="snippet">{snippet}</pre>
          <button type="button" class="secondary" onClick={() => copy(snippet)}>
            Copy profile
          </button>
        </details>
      )}
      {issued?.kind === 'token' && (
        <div class="issued">
          <p>
            Token for <T>{g.target.name}</T>, valid until {issued.expiresAt} ({issued.token.length} characters, not
            shown).
          </p>
          <button type="button" onClick={() => copy(issued.token)}>
            Copy token
          </button>
        </div>
      )}
      {(issued?.kind === 'aws' || issued?.kind === 'plan') && (
        <div class="issued">
          {issued.kind === 'plan' && <p>Local mode: what a deployment would apply.</p>}
          <pre class="snippet">
            <T>{JSON.stringify(issued.doc, null, 2)}</T>
          </pre>
        </div>
      )}
      {issued?.kind === 'console' && (
        <p class="issued">
          <a href={issued.url} target="_blank" rel="noopener noreferrer">
            Open the AWS console as this grant
          </a>{' '}
          (link valid until {issued.expiresAt})
        </p>
      )}
      <p class="status-line" role="status">
        {copied}
      </p>
      <ErrorBox error={a.error} />
    </div>
  );
}
