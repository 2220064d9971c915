/**
 * Finding the credential on a request: `Authorization: Bearer …` first (services, fetch-based
 * clients), else the configured cookie (browsers), else, on stream routes only, a `ticket` query
 * parameter (cross-origin EventSource). No credential: the anonymous principal. Every route that
 * takes a credential passes here, so this is where a cookie is refused on a request from another
 * site (cross-site.ts).
 */
import type { Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { RequestHead, RouteContext } from './context.js';
import { refuseCrossSiteCookie } from './cross-site.js';

export async function authenticate(req: RequestHead, { access }: RouteContext, ticket?: string | null): Promise<Principal> {
  if (ticket !== undefined && ticket !== null) return access.tickets.redeem(ticket);
  if (!access.enabled || !access.verifier) return access.anonymous;
  const bearer = bearerToken(req);
  if (bearer !== undefined) return access.verifier.verify(bearer);
  const cookie = cookieValue(req.headers.cookie, access.cookieName);
  if (cookie === undefined) return access.anonymous;
  // Before the token is verified: a request from another site learns nothing about it.
  refuseCrossSiteCookie(req, access.cors, access.cookieName);
  return access.verifier.verify(cookie);
}

/**
 * authenticate() for a request without a ticket, when no credential needs verifying: the
 * anonymous principal (access control off, or no credential sent). Undefined when there is a
 * token to verify, which takes authenticate(). A malformed Authorization header throws the same 401.
 */
export function principalWithoutVerifying(req: RequestHead, { access }: RouteContext): Principal | undefined {
  if (!access.enabled || !access.verifier) return access.anonymous;
  return credentialOf(req, access.cookieName) === undefined ? access.anonymous : undefined;
}

function credentialOf(req: RequestHead, cookieName: string): string | undefined {
  return bearerToken(req) ?? cookieValue(req.headers.cookie, cookieName);
}

/** The key that publish rates and idempotency keys are kept under: the subject, else the client's address. */
export function clientKey(req: RequestHead, principal: Principal, context: RouteContext): string {
  return principal.subject !== undefined ? `sub:${principal.subject}` : `ip:${context.clientAddress(req)}`;
}

function bearerToken(req: RequestHead): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new HubError(401, 'invalid_token', 'The Authorization header must be "Bearer <token>".', { 'WWW-Authenticate': 'Bearer' });
  return match[1];
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    return value === '' ? undefined : value;
  }
  return undefined;
}
