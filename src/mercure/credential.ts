/**
 * Who a Mercure request is: its JWT's `mercure` claim (`publish`, `subscribe`, `payload`), found
 * as Mercure 0.24 looks for it: `Authorization: Bearer`, else the `authorization` query parameter
 * (`access_token` in the 1.0 draft), else the `mercureAuthorization` cookie (`mercureAccessToken`
 * in the draft). The token is verified with the hub's keys (--jwt-secret, --jwt-public-key,
 * --jwks: auth/tokens.ts) and passes the hub's deny-list of revoked subjects and token ids.
 *
 * Mercure's tokens need neither `sub` nor `exp` (its own hub takes them without), so neither is
 * required here; with --jwt-max-lifetime, `exp` is, as for every token of the hub (verifyPayload).
 */
import type { JWTPayload } from 'jose';
import type { Principal } from '../auth/principal.js';
import { tokenRequired } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { RouteContext, RouteRequest } from '../http/context.js';
import { bearerToken, cookieValue } from '../http/authenticate.js';
import { refuseCrossSiteCookie } from '../http/cross-site.js';
import { parseMercureSelectors, type MercureSelector } from './selectors.js';

export const MERCURE_COOKIE = 'mercureAuthorization';
const DRAFT_COOKIE = 'mercureAccessToken';

/** A Mercure requester: the principal (for the hub's limits, revocation and logs) and its claims. */
export interface MercureCredential {
  principal: Principal;
  /** `mercure.publish`; undefined without a token or without the claim (then nothing may be published). */
  publish: readonly MercureSelector[] | undefined;
  /** `mercure.subscribe`: the topics whose private updates it may read. */
  subscribe: readonly MercureSelector[];
  /** `mercure.payload`, shown in its subscriptions (subscription events). */
  payload: unknown;
  /** Whether a token was presented and verified. */
  authenticated: boolean;
}

/** Every topic, for publishers on a hub without keys (open to anyone, as every ssehub route is then). */
const OPEN_PUBLISH: readonly MercureSelector[] = parseMercureSelectors(['*']);

/** The credential of the request; no token: anonymous (open hub: may publish public and private updates). */
export async function mercureCredential(request: RouteRequest, context: RouteContext): Promise<MercureCredential> {
  const { access } = context;
  const token = tokenOf(request, context);
  if (token === undefined || access.verifier === undefined) {
    if (token !== undefined && access.enabled) throw new HubError(401, 'invalid_token', 'This hub has no token keys (--jwt-secret, --jwt-public-key, --jwks) to verify a Mercure token with.');
    return { principal: access.anonymous, publish: access.enabled ? undefined : OPEN_PUBLISH, subscribe: [], payload: undefined, authenticated: false };
  }
  const payload = await access.verifier.verifyPayload(token);
  const claim = mercureClaim(payload);
  const principal: Principal = {
    authenticated: true,
    subject: typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined,
    publish: [],
    subscribe: [],
    admin: false,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    token: { id: typeof payload.jti === 'string' && payload.jti !== '' ? payload.jti : undefined, issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : undefined },
  };
  await access.revocations.check(principal);
  return {
    principal,
    publish: claim.publish === undefined ? undefined : claimSelectors(claim.publish, 'publish'),
    subscribe: claim.subscribe === undefined ? [] : claimSelectors(claim.subscribe, 'subscribe'),
    payload: claim.payload,
    authenticated: true,
  };
}

/** The token, by Mercure's precedence: header, query parameter, cookie (refused from another site). */
function tokenOf(request: RouteRequest, context: RouteContext): string | undefined {
  const bearer = bearerToken(request, true);
  if (bearer !== undefined) return bearer;
  const query = request.query.get('authorization') ?? request.query.get('access_token');
  if (query !== null && query !== '') return query;
  for (const name of [MERCURE_COOKIE, DRAFT_COOKIE]) {
    const cookie = cookieValue(request.headers.cookie, name);
    if (cookie === undefined) continue;
    // Before the token is verified: a request from another site learns nothing about it.
    refuseCrossSiteCookie(request, context.access.cors, `the ${name} cookie`);
    return cookie;
  }
  return undefined;
}

interface MercureClaim {
  publish?: unknown;
  subscribe?: unknown;
  payload?: unknown;
}

function mercureClaim(payload: JWTPayload): MercureClaim {
  const claim = payload.mercure;
  if (claim === undefined) return {};
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw invalidToken('The token\'s "mercure" claim must be an object.');
  return claim as MercureClaim;
}

function claimSelectors(value: unknown, name: 'publish' | 'subscribe'): MercureSelector[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw invalidToken(`The token's "mercure.${name}" claim must be an array of topic selectors.`);
  try {
    return parseMercureSelectors(value);
  } catch (error) {
    throw invalidToken(`The token's "mercure.${name}" claim: ${(error as Error).message}`);
  }
}

/** Publishing needs a token with `mercure.publish` (on a hub with keys). */
export function requirePublisher(credential: MercureCredential): readonly MercureSelector[] {
  if (credential.publish !== undefined) return credential.publish;
  if (!credential.authenticated) throw tokenRequired('Publishing to the Mercure hub needs a token with a "mercure.publish" claim.');
  throw new HubError(403, 'forbidden', 'The token has no "mercure.publish" claim.');
}

function invalidToken(message: string): HubError {
  return new HubError(401, 'invalid_token', message, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
}
