/**
 * Everything that decides who may do what, assembled once from the configuration: token
 * verification, stream tickets, public topics, CORS and the per-client limits.
 */
import { parseSelector, parseSubscribeSelector, SYSTEM_TOPIC_PREFIX, type Selector } from '../topics/index.js';
import { createCorsPolicy, type CorsPolicy } from './cors.js';
import { RateLimiter, StreamCounter } from './limits.js';
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
  maxStreamsPerIp: number;
  maxStreamsPerSubject: number;
  publishRate: number;
  publishBurst: number;
}

export interface Access {
  /** False when no key is configured: everyone may publish and subscribe (non-reserved topics). */
  readonly enabled: boolean;
  readonly verifier: TokenVerifier | undefined;
  readonly cookieName: string;
  readonly publicTopics: readonly Selector[];
  readonly tickets: TicketOffice;
  readonly cors: CorsPolicy;
  readonly streamsPerIp: StreamCounter;
  readonly streamsPerSubject: StreamCounter;
  readonly publishRate: RateLimiter;
  /** Who a request without a credential is. */
  readonly anonymous: Principal;
}

export function createAccess(settings: AccessSettings, ticketStore: TicketStore): Access {
  const verifier = settings.tokens === undefined ? undefined : createTokenVerifier(settings.tokens);
  return {
    enabled: verifier !== undefined,
    verifier,
    cookieName: settings.cookieName,
    // A system topic may be made public too (e.g. --public-topics '$ssehub/stats' for an open dashboard).
    publicTopics: settings.publicTopics.map((source) => parseSubscribeSelector(source)),
    tickets: new TicketOffice(ticketStore, settings.ticketTtlMs),
    cors: createCorsPolicy(settings.corsOrigins),
    streamsPerIp: new StreamCounter(settings.maxStreamsPerIp, 'client IP'),
    streamsPerSubject: new StreamCounter(settings.maxStreamsPerSubject, 'token subject'),
    publishRate: new RateLimiter(settings.publishRate, settings.publishBurst),
    anonymous: verifier === undefined ? openAccess(parseSelector('**'), parseSubscribeSelector(`${SYSTEM_TOPIC_PREFIX}**`)) : ANONYMOUS,
  };
}
