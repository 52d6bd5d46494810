import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type LocalBroker, startLocalBroker } from '../../local/broker';
import { examplePolicyPath } from '../../local/paths';
import { CONSOLE_CSP } from '../../local/web-console';
import { buildWeb } from '../../scripts/build';
import { launchChromium } from '../helpers/chromium';
import { runCli } from '../helpers/cli';
import { expectWith } from '../helpers/runner';

/**
 * The web console in Debian's Chromium (headless), against a real local broker on loopback: sign-in links from the
 * real CLI, the two-approver flow across three browser contexts, self-approval refused, a revoke seen live, the audit
 * page verifying chains, hostile text rendered as text, and axe-core on every page. Screenshots of each page go to
 * test-results/screenshots/ (git-ignored).
 */

// The page's globals, as the functions run in the browser by page.evaluate use them (this program has no DOM types).
interface PageNode {
  textContent: string | null;
}
declare const window: unknown;
declare const location: { href: string; hash: string };
declare const history: { length: number };
declare const localStorage: { length: number };
declare const sessionStorage: { length: number };
declare const document: {
  cookie: string;
  body: PageNode;
  documentElement: { scrollWidth: number; clientWidth: number };
  querySelector(selector: string): PageNode | null;
  querySelectorAll(selector: string): Iterable<PageNode> & { length: number };
};

const ROOT = join(__dirname, '..', '..');
const SHOTS = join(ROOT, 'test-results', 'screenshots');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let home: string;
let broker: LocalBroker;
let browser: Browser;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];

async function signinUrl(as: string, mfa: boolean): Promise<string> {
  const r = await runCli(['login', '--local', '--as', as, ...(mfa ? ['--mfa'] : []), '--web', '--print'], {
    TIMEBOX_HOME: home,
    TIMEBOX_ENDPOINT: broker.url,
  });
  expectWith(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function newPage(width = 1280, height = 900): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${e.message}`));
  return page;
}

/** A signed-in page: the person's one-time link opened in a fresh browser context. */
async function signIn(as: string, mfa = true, width?: number): Promise<Page> {
  const page = await newPage(width);
  await page.goto(await signinUrl(as, mfa));
  await page.locator('header .who').filter({ hasText: as }).waitFor();
  return page;
}

async function go(page: Page, hash: string, heading: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await page.locator('main h1').filter({ hasText: heading }).waitFor();
}

/** axe-core in the page (evaluated through the debugger, so the page's CSP stays as it is); serious and critical only. */
async function axeProblems(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const { violations, passes } = await page.evaluate(async () => {
    type Rule = { id: string; impact: string; nodes: { target: string[] }[] };
    const axe = (window as unknown as { axe: { run(ctx: unknown): Promise<{ violations: Rule[]; passes: Rule[] }> } })
      .axe;
    const r = await axe.run(document);
    return { violations: r.violations, passes: r.passes.length };
  });
  // axe ran its rules on this page (a run that checked nothing would pass any page).
  expect(passes).toBeGreaterThan(10);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A call from inside the page, as the console makes it (session cookie and CSRF header). */
async function pageApi(
  page: Page,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: the tests read the JSON documents field by field
): Promise<{ status: number; json: any }> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const res = await fetch(path, {
        method,
        headers: { 'x-timebox-csrf': '1', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json() };
    },
    { method, path, body },
  );
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'timebox-console-'));
  mkdirSync(SHOTS, { recursive: true });
  const webRoot = join(home, 'web');
  await buildWeb(ROOT, webRoot);
  broker = await startLocalBroker({
    home,
    configFile: examplePolicyPath() as string,
    host: '127.0.0.1',
    port: 0,
    sweepIntervalMs: 3_600_000,
    webRoot,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await broker?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('web console', () => {
  let alice: Page;
  let aliceGrants: Page;
  let carol: Page;
  let dan: Page;
  let grantId: string;

  it('is served with a strict CSP, no inline script and no referrer', async () => {
    const res = await fetch(`${broker.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    // Every script has a same-origin src; none has a body.
    expect(html.match(/<script[^>]*>/g)).toEqual(['<script defer src="/assets/app.js">']);
    expect(html).not.toMatch(/<script[^>]*>[^<]+<\/script>/);
    const js = await fetch(`${broker.url}/assets/app.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    // Anything else in the build folder is not served; the API answers it.
    expect((await fetch(`${broker.url}/assets/app.js.map`)).status).toBe(404);
  });

  it('signs in with a one-time link that leaves no code or token in the URL or storage, and refuses it replayed', async () => {
    const url = await signinUrl('alice@corp.com', true);
    alice = await newPage();
    await alice.goto(url);
    await alice.locator('header .who').filter({ hasText: 'alice@corp.com (MFA)' }).waitFor();
    const seen = await alice.evaluate(() => ({
      href: location.href,
      history: history.length,
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
    }));
    expect(seen.href).toBe(`${broker.url}/#/grants`);
    expect(seen.href).not.toContain('code');
    expect(seen.local).toBe(0);
    expect(seen.session).toBe(0);
    // HttpOnly: the page's own script cannot read the session.
    expect(seen.cookie).toBe('');
    const [cookie] = await alice.context().cookies();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const replay = await newPage();
    await replay.goto(url);
    await expect(replay.locator('[role=alert]').textContent()).resolves.toContain('SIGNIN.CODE_USED');
    expect(await replay.locator('header').count()).toBe(0);

    // The cookie alone is not enough: the API wants the console's header and its own origin.
    const jar = `${cookie?.name}=${cookie?.value}`;
    const bare = await fetch(`${broker.url}/v1/eligibility`, { headers: { cookie: jar } });
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('AUTH.CSRF_HEADER_MISSING');
    const foreign = await fetch(`${broker.url}/v1/eligibility`, {
      headers: { cookie: jar, 'x-timebox-csrf': '1', origin: 'https://evil.example' },
    });
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('AUTH.CROSS_ORIGIN');
    const own = await fetch(`${broker.url}/v1/eligibility`, {
      headers: { cookie: jar, 'x-timebox-csrf': '1', origin: broker.url },
    });
    expect(own.status).toBe(200);
  });

  it('runs the two-approver flow across three browsers; the requester cannot approve her own request', async () => {
    aliceGrants = await signIn('alice@corp.com');
    await go(alice, '#/request', 'Request access');
    const value = await alice.locator('#rq-target option', { hasText: 'admin-break-glass' }).getAttribute('value');
    await alice.selectOption('#rq-target', value as string);
    await alice.fill('#rq-duration', '20m');
    await alice.fill('#rq-reason', 'INC-7 rotate the admin key');
    await alice.fill('#rq-ticket', 'INC-7');
    await alice
      .locator('[data-decision=needs-approval]')
      .filter({ hasText: 'Needs 2 approvals from group:secops' })
      .waitFor();
    await shoot(alice, 'request');
    await alice.getByRole('button', { name: 'Submit request' }).click();
    await alice.waitForURL(/#\/grants\/tb-/);
    grantId = decodeURIComponent(alice.url().split('#/grants/')[1] as string);
    await alice.locator('.badge', { hasText: 'pending' }).first().waitFor();

    await go(alice, '#/inbox', 'Inbox');
    const own = alice.locator(`article[data-grant="${grantId}"]`);
    await own.waitFor();
    await expect(own.textContent()).resolves.toContain('you cannot approve it');
    expect(await own.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await shoot(alice, 'inbox-requester');

    await go(aliceGrants, '#/grants', 'My grants');
    await aliceGrants.locator(`article[data-grant="${grantId}"][data-status=pending]`).waitFor();

    carol = await signIn('carol@corp.com');
    dan = await signIn('dan@corp.com');
    for (const [page, n] of [
      [carol, 1],
      [dan, 2],
    ] as const) {
      await go(page, '#/inbox', 'Inbox');
      const card = page.locator(`article[data-grant="${grantId}"]`);
      await card.waitFor();
      await expect(card.textContent()).resolves.toContain('INC-7 rotate the admin key');
      if (n === 1) await shoot(page, 'inbox-approver');
      await card.getByLabel('Comment (required to deny)').fill(`ok from approver ${n}`);
      await card.getByRole('button', { name: 'Approve' }).click();
      // A request I approved leaves my inbox.
      await card.waitFor({ state: 'detached' });
      const { json } = await pageApi(alice, 'GET', `/v1/requests/${grantId}`);
      expect(json.grant.approvals.map((a: { by: string; comment: string }) => `${a.by}: ${a.comment}`)).toEqual(
        ['carol@corp.com: ok from approver 1', 'dan@corp.com: ok from approver 2'].slice(0, n),
      );
    }
    // The requester's open page follows without a reload.
    await aliceGrants.locator(`article[data-grant="${grantId}"][data-status=active]`).waitFor({ timeout: 10_000 });
    await aliceGrants.locator(`article[data-grant="${grantId}"]`).getByRole('button', { name: 'Get token' }).click();
    await aliceGrants.getByText(/Token for user-service, valid until/).waitFor();
    await shoot(aliceGrants, 'grants');
    const after = await aliceGrants.evaluate(() => ({
      href: location.href,
      local: localStorage.length,
      session: sessionStorage.length,
      text: document.body.textContent,
    }));
    expect(after.href).toBe(`${broker.url}/#/grants`);
    expect(after.local + after.session).toBe(0);
    // The token is held for copying, never shown.
    expect(after.text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
  });

  it('shows a revoke to the requester live, and the grant page tells how it ended with its chain verified', async () => {
    await go(carol, `#/grants/${grantId}`, 'Grant');
    await carol.getByRole('button', { name: 'Revoke…' }).click();
    await carol.getByLabel('Why revoke').fill('break-glass window closed');
    await carol.getByRole('button', { name: 'Revoke now' }).click();
    await carol.locator('.lead .badge', { hasText: 'revoked' }).waitFor();
    await aliceGrants.locator(`article[data-grant="${grantId}"][data-status=revoked]`).waitFor({ timeout: 10_000 });

    await carol.locator('[data-chain=ok]').waitFor();
    const page = await carol.locator('main').textContent();
    expect(page).toContain('by carol@corp.com');
    expect(page).toContain('break-glass window closed');
    for (const what of ['requested', 'approved', 'activated', 'credentials-issued', 'revoked'])
      expect(await carol.locator(`tr[data-what="${what}"]`).count()).toBeGreaterThan(0);
    await shoot(carol, 'grant');
  });

  it('lets an auditor search, verify every chain in the window and export CSV', async () => {
    await go(carol, '#/audit', 'Audit');
    await carol.fill('#au-actor', 'alice@corp.com');
    await carol.getByRole('button', { name: 'Search' }).click();
    await carol.locator('main h2', { hasText: 'events' }).waitFor();
    await expect(carol.locator('main table').textContent()).resolves.toContain(grantId);
    await carol.getByRole('button', { name: 'Verify chains in this window' }).click();
    await carol.locator('[data-chain=ok]').filter({ hasText: 'grant chains' }).waitFor();
    const [download] = await Promise.all([
      carol.waitForEvent('download'),
      carol.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('timebox-audit.csv');
    const csv = readFileSync(await download.path(), 'utf8');
    expect(csv.split('\r\n')[0]).toBe('at,grantId,seq,type,actor,target,data,hash');
    expect(csv).toContain(grantId);
    await shoot(carol, 'audit');

    // A requester has no audit page across grants, and the API agrees.
    await go(alice, '#/audit', 'Audit');
    await expect(alice.locator('main').textContent()).resolves.toContain('open to auditors and admins only');
    expect((await pageApi(alice, 'GET', '/v1/audit')).json.error.code).toBe('AUDIT.AUDITORS_ONLY');
  });

  it('renders hostile reasons as text: markup, script, bidi controls, and long text wrapped', async () => {
    const hostile = [
      '<img src=x onerror="window.__pwned=1"><b id="bold">bold?</b>',
      '<script>window.__pwned=1</script>',
      'pay \u202Eexe.txt\u202C and \u2066isolate\u2069 \u200Bzero-width',
      `A${'x'.repeat(999)}`,
    ];
    for (const reason of hostile) {
      const r = await pageApi(alice, 'POST', '/v1/requests', { target: 'analytics', duration: '30m', reason });
      expectWith(r.status, JSON.stringify(r.json)).toBe(201);
    }
    // Longer than the API takes: a clear refusal shown as text, nothing created.
    await go(alice, '#/request', 'Request access');
    await alice.fill('#rq-reason', 'y'.repeat(5000));
    await alice.getByRole('button', { name: 'Submit request' }).click();
    await expect(alice.locator('form [role=alert]').textContent()).resolves.toMatch(/REQUEST\.INVALID_BODY|reason/i);

    const phone = await signIn('carol@corp.com', true, 375);
    await go(phone, '#/inbox', 'Inbox');
    await phone.locator('article', { hasText: 'exe.txt' }).waitFor();
    const seen = await phone.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: number }).__pwned,
      injected: document.querySelectorAll('main img, #bold, main script').length,
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      markers: [...document.querySelectorAll('.ctl')].map((e) => e.textContent),
      text: document.querySelector('main')?.textContent ?? '',
    }));
    expect(seen.pwned).toBeUndefined();
    expect(seen.injected).toBe(0);
    expect(seen.text).toContain('<script>window.__pwned=1</script>');
    expect(seen.text).toContain('<img src=x onerror=');
    expect(seen.markers).toEqual(expect.arrayContaining(['U+202E', 'U+202C', 'U+2066', 'U+2069', 'U+200B']));
    // 1,000 characters without a space wrap inside a 375 px screen.
    expect(seen.overflow).toBeLessThanOrEqual(0);
    await shoot(phone, 'inbox-phone-hostile');
  });

  it('has no serious or critical axe-core violation on any page, at laptop and phone width', async () => {
    const problems: string[] = [];
    const check = async (page: Page, hash: string, heading: string, name: string) => {
      await go(page, hash, heading);
      await page.waitForLoadState('networkidle');
      for (const p of await axeProblems(page)) problems.push(`${name}: ${p}`);
    };
    await check(alice, '#/request', 'Request access', 'request');
    await check(alice, '#/grants', 'My grants', 'grants');
    await check(carol, '#/inbox', 'Inbox', 'inbox');
    await check(carol, `#/grants/${grantId}`, 'Grant', 'grant');
    await check(carol, '#/audit', 'Audit', 'audit');
    const phone = await signIn('dan@corp.com', true, 375);
    await check(phone, '#/grants', 'My grants', 'grants-phone');
    await check(phone, `#/grants/${grantId}`, 'Grant', 'grant-phone');
    await shoot(phone, 'grant-phone');
    expect(problems).toEqual([]);
    // Nothing the console did was blocked by its own CSP.
    expect(cspViolations).toEqual([]);
  });
});
