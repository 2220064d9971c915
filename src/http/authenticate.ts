/**
 * Finding the credential on a request: `Authorization: Bearer …` first (services, fetch-based
 * clients), else the configured cookie (browsers), else, on stream routes only, a `ticket` query
 * parameter (cross-origin EventSource). No credential: the anonymous principal. Every route that
 * takes a credential passes here, so this is where a cookie is refused on a request from another
 * site (cross-site.ts).
 */
import type { AuthAction } from '../auth/authorize.js';
import type { Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { RequestHead, RouteContext } from './context.js';
import { refuseCrossSiteCookie } from './cross-site.js';

/** What the request asks to do, for the app's authorization (forward auth passes it on). */
export interface Intent {
  action: AuthAction;
  /** The topics or patterns asked for, as the client wrote them (none for an admin read). */
  topics: readonly string[];
}

/**
 * Who the request is. In order: a ticket (stream routes only); a token, from `Authorization:
 * Bearer` or the token cookie, when token keys are configured (a request with a token is judged by
 * it: an invalid one is a 401, never a fall back to the app); else the app, when it authorizes
 * (its authorize(), or --auth-url), which may answer "no session"; else the anonymous principal.
 */
export async function authenticate(req: RequestHead, context: RouteContext, intent: Intent, ticket?: string | null): Promise<Principal> {
  const principal =
    ticket !== undefined && ticket !== null ? await context.access.tickets.redeem(ticket) : (principalWithoutVerifying(req, context) ?? (await verifyOrAsk(req, context, intent)));
  // Every credential that is a token (or a ticket made from one) passes the deny-list here.
  await context.access.revocations.check(principal);
  return principal;
}

/** A request with a token to verify, or one the app is asked about (principalWithoutVerifying said so). */
async function verifyOrAsk(req: RequestHead, context: RouteContext, intent: Intent): Promise<Principal> {
  const { access } = context;
  if (access.verifier) {
    const bearer = bearerToken(req, access.authorize === undefined);
    if (bearer !== undefined) return access.verifier.verify(bearer);
    const cookie = cookieValue(req.headers.cookie, access.cookieName);
    if (cookie !== undefined) {
      // Before the token is verified: a request from another site learns nothing about it.
      refuseCrossSiteCookie(req, access.cors, `the ${access.cookieName} cookie`);
      return access.verifier.verify(cookie);
    }
  }
  if (access.authorize === undefined) return access.anonymous;
  // The app's session is a cookie too, as open to cross-site requests as the hub's own.
  if (req.headers.cookie !== undefined) refuseCrossSiteCookie(req, access.cors, "the app's session cookie");
  const principal = await access.authorize({
    headers: req.headers,
    clientAddress: context.clientAddress(req),
    protocol: req.socket.encrypted === true ? 'https' : 'http',
    action: intent.action,
    topics: intent.topics,
    method: req.method ?? 'POST',
    target: req.url ?? '/',
    original: req.original ?? req,
  });
  return principal ?? access.anonymous;
}

/**
 * authenticate() for a request whose topics are in its body (publishes, tickets), with the body
 * read by `read`. A token is verified before the body is read, so a bad one costs no upload; the
 * app, which is told the topics, is asked once the body is in.
 */
export async function authenticateWithBody<T>(
  req: RequestHead,
  context: RouteContext,
  action: AuthAction,
  read: () => Promise<T>,
  topicsOf: (value: T) => readonly string[],
): Promise<{ principal: Principal; value: T }> {
  if (context.access.authorize === undefined) {
    const principal = await authenticate(req, context, { action, topics: [] });
    return { principal, value: await read() };
  }
  const value = await read();
  return { principal: await authenticate(req, context, { action, topics: topicsOf(value) }), value };
}

/**
 * authenticate() for a request without a ticket, when nothing needs asking: the anonymous
 * principal (access control off, or no credential sent and no app to ask). Undefined when there is
 * a token to verify or the app authorizes, which takes authenticate(). A malformed Authorization
 * header throws the same 401.
 */
export function principalWithoutVerifying(req: RequestHead, { access }: RouteContext): Principal | undefined {
  if (!access.enabled) return access.anonymous;
  if (access.authorize !== undefined) return undefined;
  if (!access.verifier) return access.anonymous;
  const credential = bearerToken(req, true) ?? cookieValue(req.headers.cookie, access.cookieName);
  return credential === undefined ? access.anonymous : undefined;
}

/** The key that publish rates and idempotency keys are kept under: the subject, else the client's address. */
export function clientKey(req: RequestHead, principal: Principal, context: RouteContext): string {
  return principal.subject !== undefined ? `sub:${principal.subject}` : `ip:${context.clientAddress(req)}`;
}

/** The bearer token; another scheme is a 401, unless `strict` is off (the app may read that header). */
function bearerToken(req: RequestHead, strict: boolean): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match && !strict) return undefined;
  if (!match) throw new HubError(401, 'invalid_token', 'The Authorization header must be "Bearer <token>".', { 'WWW-Authenticate': 'Bearer' });
  return match[1];
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    return value === '' ? undefined : value;
  }
  return undefined;
}
