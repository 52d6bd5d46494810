import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type ApiError, api } from './api';
import { AuditPage } from './pages/audit';
import { GrantPage } from './pages/grant';
import { GrantsPage } from './pages/grants';
import { InboxPage } from './pages/inbox';
import { RequestPage } from './pages/request';
import type { Eligibility } from './types';
import { asApiError, ErrorBox, T } from './ui';

/**
 * The console: hash routes (`#/request`, `#/inbox`, `#/grants`, `#/grants/<id>`, `#/audit`) so every page is a link,
 * and sign-in from a one-time `#code=` link that is taken out of the address bar and history before anything else.
 */

type Route =
  | { page: 'request' }
  | { page: 'inbox' }
  | { page: 'grants' }
  | { page: 'grant'; id: string }
  | { page: 'audit' }
  | { page: 'unknown' };

function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/grants';
  if (path === '/request') return { page: 'request' };
  if (path === '/inbox') return { page: 'inbox' };
  if (path === '/grants' || path === '/') return { page: 'grants' };
  if (path === '/audit') return { page: 'audit' };
  const m = /^\/grants\/([A-Za-z0-9_-]{1,64})$/.exec(path);
  if (m) return { page: 'grant', id: m[1] as string };
  return { page: 'unknown' };
}

/** Takes a sign-in code out of the URL (and so out of history) at once; returns it. */
function takeSigninCode(): string | undefined {
  const m = /^#code=([A-Za-z0-9_.-]+)$/.exec(location.hash);
  if (!location.hash.startsWith('#code=')) return undefined;
  history.replaceState(null, '', `${location.pathname}#/grants`);
  return m?.[1] ?? '';
}
const signinCode = takeSigninCode();

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  // Each page's heading takes the focus, so keyboard and screen reader users start at the new page.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [route]);
  return route;
}

const SIGNIN_HELP = 'npx timebox login --local --as <you> --web';

function App() {
  const route = useRoute();
  const [elig, setElig] = useState<Eligibility | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [signedOut, setSignedOut] = useState(false);

  useEffect(() => {
    (async () => {
      if (signinCode !== undefined) await api('POST', '/web/session', { code: signinCode });
      setElig(await api<Eligibility>('GET', '/v1/eligibility'));
    })().catch((e) => setError(asApiError(e)));
  }, []);

  useEffect(() => {
    const titles: Record<Route['page'], string> = {
      request: 'Request access',
      inbox: 'Inbox',
      grants: 'My grants',
      grant: 'Grant',
      audit: 'Audit',
      unknown: 'Not found',
    };
    document.title = `${titles[route.page]} · Timebox`;
  }, [route]);

  if (signedOut || error?.status === 401 || error?.code.startsWith('SIGNIN.'))
    return (
      <main id="main" class="signin">
        <h1 tabIndex={-1}>Timebox</h1>
        {signedOut ? <p>You are signed out.</p> : <ErrorBox error={error} />}
        <p>
          Sign in with a one-time link: <code>{SIGNIN_HELP}</code> (add <code>--mfa</code> for an MFA session).
        </p>
      </main>
    );
  if (error)
    return (
      <main id="main">
        <h1 tabIndex={-1}>Timebox</h1>
        <ErrorBox error={error} />
      </main>
    );
  if (!elig)
    return (
      <main id="main">
        <h1 tabIndex={-1}>Timebox</h1>
        <p class="muted">Signing in…</p>
      </main>
    );
  const me = elig.principal;
  const link = (href: string, page: Route['page'], label: string) => (
    <li>
      <a
        href={href}
        aria-current={route.page === page || (page === 'grants' && route.page === 'grant') ? 'page' : undefined}
      >
        {label}
      </a>
    </li>
  );
  return (
    <>
      <header>
        <span class="brand">Timebox</span>
        <nav aria-label="Pages">
          <ul>
            {link('#/request', 'request', 'Request')}
            {link('#/inbox', 'inbox', 'Inbox')}
            {link('#/grants', 'grants', 'My grants')}
            {me.auditor && link('#/audit', 'audit', 'Audit')}
          </ul>
        </nav>
        <span class="who">
          <T>{me.id}</T>
          {me.mfa ? ' (MFA)' : ''}
          {me.auditor ? ' · auditor' : ''}
        </span>
        <button
          type="button"
          class="secondary small"
          onClick={() => {
            api('POST', '/web/session/end', {}).then(
              () => setSignedOut(true),
              (e) => setError(asApiError(e)),
            );
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        {route.page === 'request' && <RequestPage elig={elig} />}
        {route.page === 'inbox' && <InboxPage me={me} />}
        {route.page === 'grants' && <GrantsPage me={me} />}
        {route.page === 'grant' && <GrantPage id={route.id} me={me} />}
        {route.page === 'audit' && <AuditPage me={me} />}
        {route.page === 'unknown' && (
          <section>
            <h1 tabIndex={-1}>Not found</h1>
            <p>
              No such page. <a href="#/grants">My grants</a>
            </p>
          </section>
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
