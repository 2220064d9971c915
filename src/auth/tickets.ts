/**
 * Stream tickets: short-lived, one-shot credentials for one set of topics, for clients (like the
 * browser's EventSource across origins) that can put nothing but a URL on a stream request.
 *
 * A ticket is 256 random bits. Only its SHA-256 is stored (in the engine's shared key-value store,
 * so any hub instance can redeem it), with the topics it was issued for and the expiry of the
 * credential it was issued from. Redeeming deletes it atomically: a second use finds nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { HubError } from '../errors.js';
import { parseSelector, type Selector } from '../topics/index.js';
import type { Principal, TokenFacts } from './principal.js';

/** Where tickets are kept: the engine's shared key-value store fits this shape. */
export interface TicketStore {
  setOnce(key: string, value: string, ttlMs: number): Promise<boolean>;
  take(key: string): Promise<string | null>;
}

interface TicketRecord {
  subject: string | null;
  topics: string[];
  /** Topics it may publish to over the WebSocket it opens (none unless issued so: the demo's chat room). */
  publish?: string[];
  /** The presence info of the principal it was issued for. */
  presence?: unknown;
  expiresAt: number | null;
  /** The token it was issued from, so that revoking that token refuses the ticket too. */
  token?: { id: string | null; issuedAt: number | null };
}

const keyOf = (ticket: string): string => `ticket:${createHash('sha256').update(ticket).digest('base64url')}`;

export class TicketOffice {
  constructor(
    private readonly kv: TicketStore,
    private readonly ttlMs: number,
  ) {}

  /**
   * Issues a ticket for exactly these topics (the caller has checked the principal may read them),
   * and to publish to `publish` (the caller has checked that too; POST /tickets gives none).
   */
  async issue(principal: Principal, topics: readonly Selector[], publish: readonly Selector[] = []): Promise<{ ticket: string; expiresInSeconds: number }> {
    const ticket = randomBytes(32).toString('base64url');
    const record: TicketRecord = {
      subject: principal.subject ?? null,
      topics: topics.map((selector) => selector.source),
      expiresAt: principal.expiresAt ?? null,
    };
    if (publish.length > 0) record.publish = publish.map((selector) => selector.source);
    if (principal.presence !== undefined) record.presence = principal.presence;
    if (principal.token !== undefined) record.token = { id: principal.token.id ?? null, issuedAt: principal.token.issuedAt ?? null };
    await this.kv.setOnce(keyOf(ticket), JSON.stringify(record), this.ttlMs);
    return { ticket, expiresInSeconds: Math.round(this.ttlMs / 1000) };
  }

  /** Trades a ticket for a principal that may subscribe to the ticket's topics only. Once. */
  async redeem(ticket: string): Promise<Principal> {
    const stored = /^[A-Za-z0-9_-]{43}$/.test(ticket) ? await this.kv.take(keyOf(ticket)) : null;
    if (stored === null) throw new HubError(401, 'invalid_ticket', 'The ticket is unknown, already used or expired; ask for a new one.');
    const record = JSON.parse(stored) as TicketRecord;
    return {
      authenticated: true,
      subject: record.subject ?? undefined,
      publish: (record.publish ?? []).map((source) => parseSelector(source)),
      ...(record.presence === undefined ? {} : { presence: record.presence }),
      subscribe: record.topics.map((source) => parseSelector(source, { allowReserved: true })),
      // A ticket opens streams only; the operator endpoints need the token itself.
      admin: false,
      expiresAt: record.expiresAt ?? undefined,
      token: tokenFactsOf(record),
    };
  }
}

function tokenFactsOf(record: TicketRecord): TokenFacts | undefined {
  if (record.token === undefined) return undefined;
  return { id: record.token.id ?? undefined, issuedAt: record.token.issuedAt ?? undefined };
}
