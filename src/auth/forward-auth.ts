/**
 * Forward auth (--auth-url): the hub asks the application whether a request may subscribe,
 * publish or take a ticket, as nginx's `auth_request` and Nchan's `nchan_authorize_request` do,
 * so the app authorizes streams with its own session instead of minting tokens.
 *
 * The hub sends `GET <url>?action=<action>&topic=<t1>&topic=<t2>` (one `topic` parameter per
 * topic: a topic may contain ",") with the request's `Cookie`, `Authorization` and `Origin`, and
 * `X-Forwarded-For` (the client address the hub resolved), `X-Forwarded-Proto`,
 * `X-Forwarded-Host`, `X-Original-Method` and `X-Original-URI`. The app answers:
 *   200 with a JSON grant `{ subject, subscribe?, publish?, expiresAt? }`: allowed (grant.ts);
 *   401: no session, the request is anonymous (null: public topics only, else the hub's 401);
 *   403: refused, 403 forbidden.
 * Anything else (another status, a redirect, an answer that is not a valid grant or larger than
 * 64 KiB, a network error, no answer within the timeout) is 503 auth_unavailable: the hub never
 * lets a request through because it could not ask.
 */
import { createHash } from 'node:crypto';
import { HubError } from '../errors.js';
import { InvalidGrant, principalOfGrant } from './grant.js';
export type { AuthRequest, Authorize } from './authorize.js';
import type { AuthRequest, Authorize } from './authorize.js';
import type { Principal } from './principal.js';

export interface ForwardAuthSettings {
  /** The app's endpoint, http:// or https://. */
  url: string;
  /** How long the app has to answer (headers and body); then 503 auth_unavailable. More than 0. */
  timeoutMs: number;
  /** How long an allowed answer is reused for the same credentials, action and topics (0: never). */
  cacheMs: number;
  /** Most answers kept (the oldest goes first); default MAX_CACHED_GRANTS. */
  maxCacheEntries?: number;
}

/** The largest answer read from the app: a grant is small, and a huge one must not cost the hub memory. */
export const MAX_AUTH_ANSWER_BYTES = 64 * 1024;
export const MAX_CACHED_GRANTS = 10_000;

/**
 * The auth URL, or invalid_config: checked by loadConfig and again by createForwardAuth, for
 * configurations built without loadConfig. Messages never repeat the value: it may carry secrets.
 */
export function parseAuthUrl(raw: string, name = '--auth-url'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HubError(400, 'invalid_config', `${name} is not a URL; expected e.g. http://127.0.0.1:3000/ssehub/auth`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HubError(400, 'invalid_config', `${name} must be an http:// or https:// URL, not ${url.protocol}`);
  }
  // fetch refuses URLs with credentials: every request would fail, closed, with 503.
  if (url.username !== '' || url.password !== '') {
    throw new HubError(400, 'invalid_config', `${name} must not carry a user name or password.`);
  }
  return url;
}

export function createForwardAuth(settings: ForwardAuthSettings, now: () => number = Date.now): Authorize {
  const base = parseAuthUrl(settings.url);
  if (!(settings.timeoutMs > 0)) throw new HubError(400, 'invalid_config', '--auth-timeout must be more than 0.');
  const cache = settings.cacheMs > 0 ? new GrantCache(settings.cacheMs, settings.maxCacheEntries ?? MAX_CACHED_GRANTS, now) : undefined;

  return async (request) => {
    if (cache === undefined) return ask(base, settings.timeoutMs, request, now);
    const key = cacheKey(request);
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const principal = await ask(base, settings.timeoutMs, request, now);
    // Only allowed answers are kept: a refusal or a failure is asked again next time.
    if (principal !== null) cache.set(key, principal);
    return principal;
  };
}

async function ask(base: URL, timeoutMs: number, request: AuthRequest, now: () => number): Promise<Principal | null> {
  const url = new URL(base);
  url.searchParams.set('action', request.action);
  url.searchParams.delete('topic');
  for (const topic of request.topics) url.searchParams.append('topic', topic);
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (error: unknown): HubError => unavailable(signal.aborted ? `did not answer within ${timeoutMs} ms` : failureOf(error));

  let response: Response;
  try {
    // No redirects: a login page's redirect is not a grant, and the cookie must not follow it elsewhere.
    response = await fetch(url, { method: 'GET', headers: forwardedHeaders(request), redirect: 'manual', signal });
  } catch (error) {
    throw failed(error);
  }
  if (response.status !== 200) {
    response.body?.cancel().catch(() => {});
    if (response.status === 401) return null;
    if (response.status === 403) throw forbidden(request);
    throw unavailable(`answered ${response.status}`);
  }
  let text: string;
  try {
    text = await readBounded(response, MAX_AUTH_ANSWER_BYTES);
  } catch (error) {
    throw error instanceof HubError ? error : failed(error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw unavailable('answered something that is not JSON');
  }
  try {
    return principalOfGrant(value, now());
  } catch (error) {
    if (error instanceof InvalidGrant) throw unavailable(`answered an invalid grant (${error.message.replace(/\.$/, '')})`);
    throw error;
  }
}

/** The headers the app decides on. The Cookie and Authorization go to the app only, never into a message. */
function forwardedHeaders(request: AuthRequest): Record<string, string> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'X-Forwarded-For': request.clientAddress,
    'X-Forwarded-Proto': request.protocol,
    'X-Original-Method': request.method,
    'X-Original-URI': request.target,
  };
  const cookie = headerOf(request, 'cookie', '; ');
  const authorization = headerOf(request, 'authorization', ', ');
  const origin = headerOf(request, 'origin', ', ');
  const host = headerOf(request, 'host', ', ') ?? headerOf(request, ':authority', ', ');
  if (cookie !== undefined) headers.Cookie = cookie;
  if (authorization !== undefined) headers.Authorization = authorization;
  if (origin !== undefined) headers.Origin = origin;
  if (host !== undefined) headers['X-Forwarded-Host'] = host;
  return headers;
}

function headerOf(request: AuthRequest, name: string, separator: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(separator) : value;
}

/** The body, refused past `limit` bytes without reading further (Content-Length first, then as it arrives). */
async function readBounded(response: Response, limit: number): Promise<string> {
  const tooLarge = () => unavailable(`answered more than ${limit / 1024} KiB`);
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) {
    response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw unavailable('answered something that is not UTF-8');
  }
}

/** What went wrong reaching the app, by error code only: a message could name internal addresses. */
function failureOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code === undefined ? 'could not be reached' : `could not be reached (${code})`;
}

function unavailable(what: string): HubError {
  return new HubError(503, 'auth_unavailable', `Cannot authorize this request: the auth server ${what}; retry later.`, { 'Retry-After': '1' });
}

function forbidden(request: AuthRequest): HubError {
  const topics = request.topics.map((topic) => `"${topic}"`).join(', ');
  const doing = request.action === 'ticket' ? 'get a ticket for' : request.action === 'publish' ? 'publish to' : 'subscribe to';
  return new HubError(403, 'forbidden', `Not allowed to ${doing} ${topics}.`);
}

/**
 * Allowed answers by credentials, action and topics. An entry lives cacheMs, never past its
 * grant's expiresAt, so a cached grant cannot outlive what the app said. Revocation is the
 * trade-off: a session the app revokes goes on working from here until its entry expires.
 */
class GrantCache {
  // Insertion order is age: the first key is the oldest, and goes first when the cache is full.
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string): Principal | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.principal;
  }

  set(key: string, principal: Principal): void {
    const until = Math.min(this.now() + this.ttlMs, principal.expiresAt ?? Number.POSITIVE_INFINITY);
    this.entries.delete(key);
    this.entries.set(key, { principal, until });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * What the app's answer may depend on, hashed: the credentials (Cookie, Authorization), the
 * Origin, the action and the topics in order. Not the client address, method or URI: an app that
 * decides on those must leave the cache off.
 */
function cacheKey(request: AuthRequest): string {
  const fields = [headerOf(request, 'cookie', '; ') ?? null, headerOf(request, 'authorization', ', ') ?? null, headerOf(request, 'origin', ', ') ?? null, request.action, ...request.topics];
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url');
}
