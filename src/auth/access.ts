/**
 * Everything that decides who may do what, assembled once from the configuration: token
 * verification, stream tickets, public topics, CORS and the per-client limits.
 */
import { parseSelector, parseSubscribeSelector, SYSTEM_TOPIC_PREFIX, type Selector } from '../topics/index.js';
import { createCorsPolicy, type CorsPolicy } from './cors.js';
import type { ClientLimits } from './limits.js';
import { ANONYMOUS, openAccess, type Principal } from './principal.js';
import { TicketOffice, type TicketStore } from './tickets.js';
import { createTokenVerifier, type TokenSettings, type TokenVerifier } from './tokens.js';

export interface AccessSettings {
  /** Undefined: no key configured, the hub is open to anyone. */
  tokens: TokenSettings | undefined;
  cookieName: string;
  publicTopics: readonly string[];
  corsOrigins: readonly string[];
  ticketTtlMs: number;
}

export interface Access {
  /** False when no key is configured: everyone may publish and subscribe (non-reserved topics). */
  readonly enabled: boolean;
  readonly verifier: TokenVerifier | undefined;
  readonly cookieName: string;
  readonly publicTopics: readonly Selector[];
  readonly tickets: TicketOffice;
  readonly cors: CorsPolicy;
  /** Open streams per client IP and per subject, publish rates per publisher: this process's, or the primary's under --workers. */
  readonly limits: ClientLimits;
  /** Who a request without a credential is. */
  readonly anonymous: Principal;
}

export function createAccess(settings: AccessSettings, ticketStore: TicketStore, limits: ClientLimits): Access {
  const verifier = settings.tokens === undefined ? undefined : createTokenVerifier(settings.tokens);
  return {
    enabled: verifier !== undefined,
    verifier,
    cookieName: settings.cookieName,
    // A system topic may be made public too (e.g. --public-topics '$ssehub/stats' for an open dashboard).
    publicTopics: settings.publicTopics.map((source) => parseSubscribeSelector(source)),
    tickets: new TicketOffice(ticketStore, settings.ticketTtlMs),
    cors: createCorsPolicy(settings.corsOrigins),
    limits,
    anonymous: verifier === undefined ? openAccess(parseSelector('**'), parseSubscribeSelector(`${SYSTEM_TOPIC_PREFIX}**`)) : ANONYMOUS,
  };
}
