/**
 * The console's only way to the server: same-origin fetch with the session cookie and the header that marks the
 * call as the console's own (the server refuses the cookie without it: CSRF). Nothing is kept in storage.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function api<T>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {
        accept: 'application/json',
        'x-timebox-csrf': '1',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'cannot reach the server; is it running?');
  }
  let json: unknown = {};
  try {
    json = await res.json();
  } catch {
    // An empty or non-JSON answer; the status decides.
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error ?? {};
    throw new ApiError(
      res.status,
      e.code ?? `HTTP.${res.status}`,
      e.message ?? res.statusText,
      e as Record<string, unknown>,
    );
  }
  return json as T;
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
