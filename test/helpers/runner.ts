import { expect } from '@jest/globals';

/**
 * What the test runner does not offer itself: replacing a global (such as `fetch`) or an environment variable for
 * one test, restored by `unstubAllGlobals()` / `unstubAllEnvs()` in an `afterEach`; polling an assertion until it
 * holds; and an assertion whose failure starts with a message of the test's own.
 */

const savedGlobals = new Map<PropertyKey, PropertyDescriptor | undefined>();
const savedEnv = new Map<string, string | undefined>();

/** Replaces `globalThis[name]` until `unstubAllGlobals()`. */
export function stubGlobal(name: string, value: unknown): void {
  if (!savedGlobals.has(name)) savedGlobals.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: true });
}

/** Puts back every global `stubGlobal` replaced. */
export function unstubAllGlobals(): void {
  for (const [name, descriptor] of savedGlobals) {
    if (descriptor) Object.defineProperty(globalThis, name, descriptor);
    else delete (globalThis as Record<PropertyKey, unknown>)[name];
  }
  savedGlobals.clear();
}

/** Sets `process.env[name]` (or removes it, for `undefined`) until `unstubAllEnvs()`. */
export function stubEnv(name: string, value: string | undefined): void {
  if (!savedEnv.has(name)) savedEnv.set(name, process.env[name]);
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Puts back every variable `stubEnv` changed. */
export function unstubAllEnvs(): void {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  savedEnv.clear();
}

/**
 * Calls `check` until it returns without throwing, every `interval` ms, and returns what it returned; after
 * `timeout` ms the last error is thrown.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  opts: number | { timeout?: number; interval?: number } = {},
): Promise<T> {
  const { timeout = 1_000, interval = 50 } = typeof opts === 'number' ? { timeout: opts } : opts;
  const deadline = performance.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (performance.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}

/**
 * `expect(actual)` whose failures start with `message` (the stream a child process wrote, the case at hand):
 * `expectWith(r.code, r.stderr).toBe(0)`. Covers the matchers and `.not`.
 */
export function expectWith<T>(actual: T, message: string): ReturnType<typeof expect<T>> {
  const label = <M extends object>(matchers: M): M =>
    new Proxy(matchers, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'not' && typeof value === 'object' && value !== null) return label(value);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          try {
            return value.apply(target, args);
          } catch (e) {
            if (e instanceof Error) e.message = `${message}\n\n${e.message}`;
            throw e;
          }
        };
      },
    });
  return label(expect(actual));
}
