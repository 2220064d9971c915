/**
 * CORS by allowlist. An allowed origin gets itself echoed back with credentials allowed (so
 * cookies and `EventSource(url, { withCredentials: true })` work); `*` in the list lets any other
 * origin read without credentials. Never `*` together with credentials. Origins not allowed get no
 * CORS headers at all, and the browser keeps the response from them.
 */
export interface CorsPolicy {
  /** Headers for a response to a request from this origin (empty when not allowed). */
  headersFor(origin: string | undefined): Readonly<Record<string, string>>;
  /** Extra headers for a preflight (OPTIONS) answer, or undefined when the origin is not allowed. */
  preflightFor(origin: string | undefined): Record<string, string> | undefined;
  /** Whether the origin is listed by name, so that it may send credentials (`*` lets none in). */
  allowsCredentials(origin: string): boolean;
}

export const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** Response headers a browser client may read besides the safelisted ones: retry timing and idempotent replays. */
const EXPOSED = 'Retry-After, Idempotent-Replayed';
/** No CORS headers: one shared object, since most requests (server-side publishers) send no Origin. */
const NONE: Readonly<Record<string, string>> = Object.freeze({});

export function createCorsPolicy(allowlist: readonly string[]): CorsPolicy {
  const exact = new Set(allowlist.filter((origin) => origin !== '*').map((origin) => origin.replace(/\/$/, '')));
  const anyOrigin = allowlist.includes('*');
  const headersFor = (origin: string | undefined): Readonly<Record<string, string>> => {
    if (origin === undefined || allowlist.length === 0) return NONE;
    if (exact.has(origin)) return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Expose-Headers': EXPOSED, Vary: 'Origin' };
    if (anyOrigin) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED };
    return NONE;
  };
  return {
    headersFor,
    allowsCredentials: (origin) => exact.has(origin),
    preflightFor(origin) {
      const headers = headersFor(origin);
      if (!headers['Access-Control-Allow-Origin']) return undefined;
      return {
        ...headers,
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID, Idempotency-Key',
        'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
      };
    },
  };
}
