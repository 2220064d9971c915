/**
 * Everything that decides who may do what, assembled once from the configuration: token
 * verification, forward auth, stream tickets, public topics, CORS and the per-client limits.
 */
import { HubError } from '../errors.js';
import { parseSelector, parseSubscribeSelector, SYSTEM_TOPIC_PREFIX, type Selector } from '../topics/index.js';
import { createCorsPolicy, type CorsPolicy } from './cors.js';
import type { Authorize } from './authorize.js';
import { createForwardAuth, type ForwardAuthSettings } from './forward-auth.js';
import type { ClientLimits } from './limits.js';
import { ANONYMOUS, openAccess, type Principal } from './principal.js';
import { RevocationList, type DenyStore } from './revocation.js';
import { TicketOffice, type TicketStore } from './tickets.js';
import { createTokenVerifier, type TokenSettings, type TokenVerifier } from './tokens.js';

export interface AccessSettings {
  /** Undefined: no key configured, the hub is open to anyone. */
  tokens: TokenSettings | undefined;
  /** Undefined: no --auth-url, the app is not asked over HTTP. */
  forwardAuth?: ForwardAuthSettings | undefined;
  /** The app's authorize() in process (createHub's `authorize`, through appAuthorizer); not with forwardAuth. */
  appAuthorize?: Authorize | undefined;
  cookieName: string;
  publicTopics: readonly string[];
  corsOrigins: readonly string[];
  ticketTtlMs: number;
  /** How long a revoked token or subject stays on the deny-list: the longest a token may live. */
  denyMs: number;
}

export interface Access {
  /** False when neither a key nor forward auth is configured: everyone may publish and subscribe (non-reserved topics). */
  readonly enabled: boolean;
  readonly verifier: TokenVerifier | undefined;
  /**
   * Asks the app about a request without a token (its authorize(), or forward auth with --auth-url).
   * A principal, null (no session: the anonymous principal applies), or a HubError (403 forbidden,
   * 503 auth_unavailable, 500 authorize_failed).
   */
  readonly authorize: Authorize | undefined;
  readonly cookieName: string;
  readonly publicTopics: readonly Selector[];
  readonly tickets: TicketOffice;
  /** The deny-list of revoked tokens and subjects, checked for every credential that is a token. */
  readonly revocations: RevocationList;
  readonly cors: CorsPolicy;
  /** Open streams per client IP and per subject, publish rates per publisher: this process's, or the primary's under --workers. */
  readonly limits: ClientLimits;
  /** Who a request without a credential is. */
  readonly anonymous: Principal;
}

export function createAccess(settings: AccessSettings, kv: TicketStore & DenyStore, limits: ClientLimits): Access {
  const verifier = settings.tokens === undefined ? undefined : createTokenVerifier(settings.tokens);
  if (settings.appAuthorize !== undefined && settings.forwardAuth !== undefined) {
    throw new HubError(400, 'invalid_config', 'Give authorize() or --auth-url, not both: the app is asked one way.');
  }
  const authorize = settings.appAuthorize ?? (settings.forwardAuth === undefined ? undefined : createForwardAuth(settings.forwardAuth));
  const enabled = verifier !== undefined || authorize !== undefined;
  return {
    enabled,
    verifier,
    authorize,
    cookieName: settings.cookieName,
    // A system topic may be made public too (e.g. --public-topics '$ssehub/stats' for an open dashboard).
    publicTopics: settings.publicTopics.map((source) => parseSubscribeSelector(source)),
    tickets: new TicketOffice(kv, settings.ticketTtlMs),
    revocations: new RevocationList(kv, settings.denyMs),
    cors: createCorsPolicy(settings.corsOrigins),
    limits,
    // With access control on, a request without a credential gets public topics only: never the open grants.
    anonymous: enabled ? ANONYMOUS : openAccess(parseSelector('**'), parseSubscribeSelector(`${SYSTEM_TOPIC_PREFIX}**`)),
  };
}
