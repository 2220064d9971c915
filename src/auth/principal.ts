/**
 * Who is asking, and what they may do. A principal carries publish and subscribe grants as topic
 * selectors (the same `*` / `**` patterns as subscriptions).
 */
import { HubError } from '../errors.js';
import { selectorCovers, selectorMatches, type Selector } from '../topics/index.js';

export interface Principal {
  /** Whether a credential (token or ticket) was presented and verified. */
  authenticated: boolean;
  /** The token's `sub` (a token without a non-empty string one is refused); undefined without a credential. */
  subject: string | undefined;
  publish: readonly Selector[];
  subscribe: readonly Selector[];
  /** May read the operator endpoints (GET /stats, GET /metrics): the grant `"admin": true`. */
  admin: boolean;
  /** When the credential stops being valid (ms since the epoch); streams end then. */
  expiresAt: number | undefined;
  /**
   * Client info shown to others on presence topics (the grant's or the token's `presence`), as
   * given: checked (a JSON object, at most 1 KiB) where a stream opens. Its presence makes the
   * subject a member of every topic its streams name, not only the --presence ones.
   */
  presence?: unknown;
  /**
   * Set when the credential is a token (or a ticket made from one): what the deny-list of revoked
   * tokens and subjects is checked against (auth/revocation.ts). An app's grant has none: the app
   * is asked again on every request.
   */
  token?: TokenFacts | undefined;
}

/** What a token says of itself, for revoking it. */
export interface TokenFacts {
  /** The token's `jti`, when it has one: POST /admin/disconnect {"tokenId"} names it. */
  id: string | undefined;
  /** The token's `iat` in ms since the epoch, when it has one; a token without one counts as issued before any revocation. */
  issuedAt: number | undefined;
}

/** Publishing needs a grant that matches every topic: one topic not granted refuses the lot. */
export function authorizePublish(principal: Principal, topics: readonly string[]): void {
  for (const topic of topics) {
    if (!principal.publish.some((grant) => selectorMatches(grant, topic))) {
      if (!principal.authenticated) throw tokenRequired(`Publishing to "${topic}" needs a credential (a token, or a session the app recognises).`);
      throw new HubError(403, 'forbidden', `Not allowed to publish to "${topic}".`);
    }
  }
}

/**
 * Subscribing needs, for every requested topic or pattern, a subscribe grant (or a public topic
 * selector) that covers it entirely. Because replay reads history only for the requested
 * selectors, this same check is what keeps a resumed stream from replaying unreadable events.
 */
export function authorizeSubscribe(principal: Principal, requested: readonly Selector[], publicTopics: readonly Selector[]): void {
  for (const selector of requested) {
    const granted = principal.subscribe.some((grant) => selectorCovers(grant, selector)) || publicTopics.some((grant) => selectorCovers(grant, selector));
    if (!granted) {
      if (!principal.authenticated) throw tokenRequired(`Subscribing to "${selector.source}" needs a credential (a token, or a session the app recognises).`);
      throw new HubError(403, 'forbidden', `Not allowed to subscribe to "${selector.source}".`);
    }
  }
}

/**
 * The operator endpoints (/stats, /metrics) tell counts, memory and open files: with keys
 * configured, only a token with the admin grant reads them.
 */
export function authorizeAdmin(principal: Principal, what: string): void {
  if (principal.admin) return;
  if (!principal.authenticated) throw tokenRequired(`${what} needs a token with the admin grant.`);
  throw new HubError(403, 'forbidden', `${what} needs a token whose "ssehub" claim has "admin": true.`);
}

export function tokenRequired(message: string): HubError {
  return new HubError(401, 'token_required', message, { 'WWW-Authenticate': 'Bearer' });
}

/**
 * Everyone, when the hub has no key configured: every non-reserved topic both ways, the system
 * topics (`anySystemTopic`, i.e. `$ssehub/**`) for subscribing only, and the operator endpoints
 * (such a hub listens on 127.0.0.1 by default).
 */
export function openAccess(anyTopic: Selector, anySystemTopic: Selector): Principal {
  return { authenticated: false, subject: undefined, publish: [anyTopic], subscribe: [anyTopic, anySystemTopic], admin: true, expiresAt: undefined };
}

export const ANONYMOUS: Principal = Object.freeze({ authenticated: false, subject: undefined, publish: [], subscribe: [], admin: false, expiresAt: undefined });
