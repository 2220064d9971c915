/**
 * Grants from the application: instead of a token, the app says who a request is and what it may
 * do, from its own session. In process, its `authorize(request)` returns a Grant (or null: no
 * session); on the standalone server, its forward-auth endpoint answers one as JSON
 * (forward-auth.ts). Either way it becomes a Principal here, checked as strictly as a token's claims.
 */
import { HubError } from '../errors.js';
import type { Principal } from './principal.js';
import { parseSelectorList } from './selector-list.js';

export interface Grant {
  /** Who the request is: open streams and publish rates are counted per subject. Non-empty. */
  subject: string;
  /** Topics and patterns it may read; `$ssehub/…` system topics only when named literally. */
  subscribe?: string[];
  /** Topics and patterns it may publish to. */
  publish?: string[];
  /** When the grant stops being valid, in ms since the epoch; open streams end then. */
  expiresAt?: number;
  /** May read the operator endpoints (GET /stats, GET /metrics), as a token's "admin": true. */
  admin?: boolean;
  /**
   * Client info others see on presence topics (a JSON object, at most 1 KiB: a name, an avatar
   * URL). With it, the subject is a member of every topic its streams name.
   */
  presence?: Record<string, unknown>;
}

/** A value that is not a valid, current grant; the caller chooses the HubError it becomes. */
export class InvalidGrant extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidGrant';
  }
}

/**
 * The principal a grant describes. A malformed grant is never taken as anonymous or as "no
 * limits": it throws, and the caller refuses the request.
 * @throws InvalidGrant naming the field and the problem.
 */
export function principalOfGrant(value: unknown, now: number = Date.now()): Principal {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidGrant(`a grant must be an object { subject, subscribe?, publish?, expiresAt? }, not ${describe(value)}.`);
  }
  const grant = value as Record<string, unknown>;
  if (typeof grant.subject !== 'string' || grant.subject === '') {
    throw new InvalidGrant('the grant\'s "subject" must be a non-empty string naming who the request is.');
  }
  if (grant.admin !== undefined && typeof grant.admin !== 'boolean') throw new InvalidGrant('the grant\'s "admin" must be true or false.');
  const expiresAt = grant.expiresAt;
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new InvalidGrant('the grant\'s "expiresAt" must be a number: milliseconds since the epoch.');
    }
    // An expiry in seconds (a JWT's `exp`) reads as a date in 1970: refused like any past one.
    if (expiresAt <= now) {
      throw new InvalidGrant(`the grant expired at ${new Date(expiresAt).toISOString()} ("expiresAt" is in milliseconds since the epoch).`);
    }
  }
  return {
    authenticated: true,
    subject: grant.subject,
    publish: selectorsOf(grant.publish, 'publish'),
    subscribe: selectorsOf(grant.subscribe, 'subscribe'),
    expiresAt: expiresAt as number | undefined,
    admin: grant.admin === true,
    ...(grant.presence === undefined ? {} : { presence: grant.presence }),
  };
}

function selectorsOf(value: unknown, field: 'publish' | 'subscribe') {
  try {
    return parseSelectorList(value, field);
  } catch (error) {
    throw new InvalidGrant(`the grant's "${field}" ${(error as Error).message}`);
  }
}

/**
 * What an app's in-process `authorize(request)` returned, as a principal: null or undefined (no
 * session) is null, for the caller to treat as anonymous; anything else must be a valid grant, or
 * the request fails with 500 authorize_failed (the app's bug, never an open door).
 */
export function principalOfAppGrant(value: unknown, now: number = Date.now()): Principal | null {
  if (value === null || value === undefined) return null;
  try {
    return principalOfGrant(value, now);
  } catch (error) {
    if (!(error instanceof InvalidGrant)) throw error;
    throw new HubError(500, 'authorize_failed', `authorize() returned an invalid grant: ${error.message}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
