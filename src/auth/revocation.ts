/**
 * Revoking: what a disconnect names (one subject, one topic or one token id), and the deny-list
 * that refuses the revoked credentials afterwards. The deny-list lives in the engine's key-value
 * store, so every instance reads the same one:
 * - `revoked:token:<jti>`: a token id; every request with a token of that `jti` (or a ticket made
 *   from one) is refused;
 * - `revoked:subject:<sub>`: the time of the revocation; every token of that subject issued (`iat`)
 *   at or before it, and every one without an `iat`, is refused. Tokens issued later (the user
 *   signed in again) are accepted: this is "log out everywhere", not a ban.
 * Each entry lasts as long as a token may live (--jwt-max-lifetime; without one, DEFAULT_DENY_MS):
 * by then every credential it refuses has expired. A topic has no deny-list entry: its streams
 * end, and may be opened again by whoever may read the topic.
 * Only credentials that are tokens pay the reads: an app's grant (authorize(), --auth-url) is asked
 * for again on every request, so the app itself refuses a session it ended.
 */
import { HubError } from '../errors.js';
import { parseTopic, type TopicLimits } from '../topics/index.js';
import type { Principal } from './principal.js';

/** Which streams a disconnect ends: exactly one criterion. */
export type DisconnectCriterion = { subject: string } | { topic: string } | { tokenId: string };

export const DISCONNECT_CRITERIA = ['subject', 'topic', 'tokenId'] as const;

/** How long a deny-list entry lasts when tokens have no maximum lifetime (--jwt-max-lifetime 0). */
export const DEFAULT_DENY_MS = 24 * 3_600_000;

/** Longest subject or token id a disconnect may name (a token's claims are not longer in practice). */
const MAX_NAME_LENGTH = 1024;

const SHAPE = 'POST /admin/disconnect takes one criterion: {"subject": "…"}, {"topic": "…"} or {"tokenId": "…"}.';

function invalid(message: string): HubError {
  return new HubError(400, 'invalid_disconnect', `${message} ${SHAPE}`);
}

/**
 * The criterion a request (or hub.disconnect()) names: an object with exactly one of subject,
 * topic, tokenId, a non-empty string (a topic, not a pattern, valid as a publish's).
 * @throws HubError 400 invalid_disconnect (invalid_topic for a topic that is not one).
 */
export function parseDisconnectCriterion(value: unknown, limits: TopicLimits): DisconnectCriterion {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('The body is not a JSON object.');
  const keys = Object.keys(value);
  const unknown = keys.find((key) => !(DISCONNECT_CRITERIA as readonly string[]).includes(key));
  if (unknown !== undefined) throw invalid(`"${unknown}" is not a criterion.`);
  if (keys.length === 0) throw invalid('No criterion given.');
  if (keys.length > 1) throw invalid(`One criterion at a time, not ${keys.map((key) => `"${key}"`).join(' and ')}.`);
  const name = keys[0] as (typeof DISCONNECT_CRITERIA)[number];
  const given = (value as Record<string, unknown>)[name];
  if (typeof given !== 'string' || given === '') throw invalid(`"${name}" must be a non-empty string.`);
  if (given.length > MAX_NAME_LENGTH) throw invalid(`"${name}" is longer than ${MAX_NAME_LENGTH} characters.`);
  if (name === 'topic') return { topic: parseTopic(given, { limits }) };
  return name === 'subject' ? { subject: given } : { tokenId: given };
}

/** What the deny-list needs of the engine's key-value store. */
export interface DenyStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
}

const tokenKey = (id: string): string => `revoked:token:${id}`;
const subjectKey = (subject: string): string => `revoked:subject:${subject}`;

/** Most deny-list answers kept in memory (the oldest are forgotten first, and read again when needed). */
const MAX_REMEMBERED = 10_000;

export class RevocationList {
  /**
   * The deny-list's answers this instance has read, by key: null for "not revoked". A revocation
   * on any instance reaches every instance as a disconnect message (forget() drops its key, so the
   * next check reads the store again), and a break in those messages drops them all
   * (forgetAll()): so a token is read from the store once, not on every request.
   */
  private readonly remembered = new Map<string, string | null>();

  /** @param denyMs how long an entry lasts: the longest a token may live. */
  constructor(
    private readonly kv: DenyStore,
    readonly denyMs: number,
  ) {}

  /** A disconnect was sent, by this instance or another: what this one remembers of it is stale. */
  forget(criterion: DisconnectCriterion): void {
    if ('topic' in criterion) return;
    this.remembered.delete('subject' in criterion ? subjectKey(criterion.subject) : tokenKey(criterion.tokenId));
  }

  /** Disconnect messages may have been lost: read everything from the store again. */
  forgetAll(): void {
    this.remembered.clear();
  }

  private async read(key: string): Promise<string | null> {
    if (this.remembered.has(key)) {
      const value = this.remembered.get(key)!;
      // A revocation's entry expires in the store after denyMs; so does what is remembered of it.
      if (value === null || Number(value) + this.denyMs > Date.now()) return value;
    }
    const value = await this.kv.get(key);
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(key, value);
    return value;
  }

  /**
   * Refuses the criterion's credentials from now on, on every instance; returns until when (ms
   * since the epoch), or undefined for a topic, which has no entry.
   */
  async deny(criterion: DisconnectCriterion, now: number = Date.now()): Promise<number | undefined> {
    if ('topic' in criterion) return undefined;
    const key = 'subject' in criterion ? subjectKey(criterion.subject) : tokenKey(criterion.tokenId);
    await this.kv.set(key, String(now), this.denyMs);
    this.remembered.delete(key);
    return now + this.denyMs;
  }

  /**
   * Throws 401 token_revoked when the principal's token (or the token its ticket was made from)
   * is on the deny-list, by its id or by its subject. What is not remembered is read from the
   * store: one read per subject, one more per `jti`, at once.
   */
  async check(principal: Principal): Promise<void> {
    const token = principal.token;
    if (token === undefined) return;
    const [byId, bySubject] = await Promise.all([
      token.id === undefined ? null : this.read(tokenKey(token.id)),
      principal.subject === undefined ? null : this.read(subjectKey(principal.subject)),
    ]);
    if (byId !== null) throw revoked('This token was revoked.');
    // Issued at or before the revocation (iat has whole seconds: the same second counts as before).
    if (bySubject !== null && (token.issuedAt === undefined || token.issuedAt <= Number(bySubject))) {
      throw revoked(`The tokens of "${principal.subject}" issued until ${new Date(Number(bySubject)).toISOString()} were revoked; sign in again for a new one.`);
    }
  }
}

function revoked(message: string): HubError {
  return new HubError(401, 'token_revoked', message, { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="revoked"' });
}
