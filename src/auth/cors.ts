/**
 * CORS by allowlist. An allowed origin gets itself echoed back with credentials allowed (so
 * cookies and `EventSource(url, { withCredentials: true })` work); `*` in the list lets any other
 * origin read without credentials. Never `*` together with credentials. Origins not allowed get no
 * CORS headers at all, and the browser keeps the response from them.
 *
 * An entry is an origin (`https://app.example`, `http://localhost:3000`), an origin with any port
 * (`http://localhost:*`: a developer's local servers, whatever port their tool picked), or `*`.
 */
import { HubError } from '../errors.js';

export interface CorsPolicy {
  /** Headers for a response to a request from this origin (empty when not allowed). */
  headersFor(origin: string | undefined): Readonly<Record<string, string>>;
  /** Extra headers for a preflight (OPTIONS) answer, or undefined when the origin is not allowed. */
  preflightFor(origin: string | undefined): Record<string, string> | undefined;
  /** Whether the origin is listed by name, so that it may send credentials (`*` lets none in). */
  allowsCredentials(origin: string): boolean;
}

export const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** Response headers a browser client may read besides the safelisted ones: retry timing, idempotent replays and a Mercure stream's position. */
const EXPOSED = 'Retry-After, Idempotent-Replayed, Last-Event-ID';
/** No CORS headers: one shared object, since most requests (server-side publishers) send no Origin. */
const NONE: Readonly<Record<string, string>> = Object.freeze({});

/** scheme://host[:port or *], nothing after it: what the browser sends in `Origin`, or that with any port. */
const ORIGIN_ENTRY = /^(https?:\/\/(?:[a-z0-9.-]+|\[[0-9a-f:.]+\]))(?::(\d{1,5}|\*))?\/?$/i;

interface Allowlist {
  exact: Set<string>;
  /** `scheme://host` of the entries with `:*`: the origin's part before its port must be one of these. */
  anyPort: Set<string>;
  anyOrigin: boolean;
}

/** Parses --cors-origins. An entry that is not an origin, an origin with `:*`, or `*` throws invalid_config. */
export function parseCorsOrigins(entries: readonly string[]): Allowlist {
  const allowlist: Allowlist = { exact: new Set(), anyPort: new Set(), anyOrigin: false };
  for (const entry of entries) {
    if (entry === '*') {
      allowlist.anyOrigin = true;
      continue;
    }
    const match = ORIGIN_ENTRY.exec(entry);
    if (match === null || (match[2] !== undefined && match[2] !== '*' && Number(match[2]) > 65535)) {
      throw new HubError(400, 'invalid_config', `--cors-origins: "${entry}" is not an origin such as https://app.example, http://localhost:3000 or http://localhost:* (any port), or *`);
    }
    // Browsers send the scheme and host in lowercase, and no default port.
    const base = match[1]!.toLowerCase();
    if (match[2] === '*') allowlist.anyPort.add(base);
    else allowlist.exact.add(match[2] === undefined ? base : `${base}:${match[2]}`);
  }
  return allowlist;
}

/** Whether the origin is listed: by name, or by its scheme and host under an entry with any port. */
function listed(allowlist: Allowlist, origin: string): boolean {
  if (allowlist.exact.has(origin)) return true;
  if (allowlist.anyPort.size === 0) return false;
  const port = /:\d{1,5}$/.exec(origin);
  return allowlist.anyPort.has(port === null ? origin : origin.slice(0, port.index));
}

export function createCorsPolicy(entries: readonly string[]): CorsPolicy {
  const allowlist = parseCorsOrigins(entries);
  const anyOrigin = allowlist.anyOrigin;
  const headersFor = (origin: string | undefined): Readonly<Record<string, string>> => {
    if (origin === undefined || entries.length === 0) return NONE;
    if (listed(allowlist, origin)) return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Expose-Headers': EXPOSED, Vary: 'Origin' };
    if (anyOrigin) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED };
    return NONE;
  };
  return {
    headersFor,
    allowsCredentials: (origin) => listed(allowlist, origin),
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
