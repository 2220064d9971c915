/**
 * Requests made cross-site with the user's cookie (CSRF). A browser attaches the hub's cookie to
 * requests that other sites' pages make too, and sends a POST with a text/plain body to another
 * origin without asking first (no preflight): the page cannot read the answer, but the publish
 * would be done. Another port of the same host is the same site, so SameSite does not stop it
 * either. Hence: a request that the cookie authorizes and that is not a GET or HEAD must come from
 * an allowed origin, the hub's own or one listed in --cors-origins (`*` does not count: it lets
 * any origin read, without credentials). Stream GETs change nothing and stay free, as the
 * cross-origin `EventSource(url, { withCredentials: true })` needs. Bearer tokens and tickets are
 * not checked here: a browser never attaches those by itself.
 */
import type { CorsPolicy } from '../auth/cors.js';
import { HubError } from '../errors.js';
import type { RequestHead } from './context.js';

/** Throws 403 `cross_site_request` unless the cookie-authorized request may be made from where it comes. */
export function refuseCrossSiteCookie(req: RequestHead, cors: CorsPolicy, cookie: string): void {
  // A request whose method is not known is taken to change something.
  if (req.method === 'GET' || req.method === 'HEAD') return;
  const { origin } = req.headers;
  if (origin === undefined) {
    // Every current browser sends Origin on a POST; Sec-Fetch-Site, where a browser sends it,
    // still tells a cross-site request without one. Non-browser clients (curl) send neither.
    const site = firstValue(req.headers['sec-fetch-site'])?.trim().toLowerCase();
    if (site === 'cross-site' || site === 'same-site') throw refusal(cookie, `a ${site} request`);
    return;
  }
  // "null" is the origin of sandboxed frames, data: URLs and some redirects: never allowed.
  if (origin !== 'null' && (cors.allowsCredentials(origin) || isSameOrigin(origin, hostOf(req)))) return;
  throw refusal(cookie, `origin ${JSON.stringify(origin.slice(0, 200))}`);
}

/**
 * Whether the Origin names the host the request was sent to (Host, or :authority on HTTP/2).
 * Compared without the scheme, which the hub cannot know behind a proxy that ends TLS; the host is
 * read with the Origin's scheme, so that a default port is left out of both alike.
 */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || !HOST.test(host)) return false;
  const from = parseUrl(origin);
  if (from === undefined || (from.protocol !== 'http:' && from.protocol !== 'https:')) return false;
  const to = parseUrl(`${from.protocol}//${host}`);
  return to !== undefined && to.host === from.host;
}

/** A host name or address with an optional port: nothing that would read as a path or user. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function hostOf(req: RequestHead): string | undefined {
  return firstValue(req.headers[':authority']) ?? req.headers.host;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** `cookie` says which cookie it was, for the message ("the ssehub_token cookie"). */
function refusal(cookie: string, from: string): HubError {
  return new HubError(
    403,
    'cross_site_request',
    `A request authorized by ${cookie} may be other than GET only when it comes from the hub's own origin or one listed in --cors-origins, not from ${from}. ` +
      'From elsewhere, send a token as "Authorization: Bearer <token>" instead, or add the page\'s origin to --cors-origins.',
  );
}
