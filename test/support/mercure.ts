/** Mercure's side of the tests: tokens as Mercure deployments sign them, and its form publishes. */
import { SignJWT } from 'jose';
import { httpRequest, type Reply } from './http.js';

export interface MercureClaim {
  publish?: string[];
  subscribe?: string[];
  payload?: unknown;
}

/** An HS256 token with a `mercure` claim, as Mercure's docs make them: no `sub`, no `exp` unless asked. */
export function mercureToken(secret: string, claim: MercureClaim, options: { subject?: string; expiresInSeconds?: number } = {}): Promise<string> {
  let jwt = new SignJWT({ mercure: claim }).setProtectedHeader({ alg: 'HS256' });
  if (options.subject !== undefined) jwt = jwt.setSubject(options.subject);
  if (options.expiresInSeconds !== undefined) jwt = jwt.setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + options.expiresInSeconds);
  return jwt.sign(Buffer.from(secret));
}

export type UpdateFields = Array<[name: 'topic' | 'data' | 'id' | 'type' | 'retry' | 'private', value: string]>;

/** POSTs a form-encoded update to the hub's /.well-known/mercure. */
export function publishUpdate(base: string, fields: UpdateFields, headers: Record<string, string> = {}): Promise<Reply> {
  return httpRequest(`${base}/.well-known/mercure`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** The subscribe URL for these topic selectors (and any further query parameters). */
export function subscribeUrl(base: string, selectors: string[], extra: Record<string, string> = {}): string {
  const query = new URLSearchParams(selectors.map((selector) => ['topic', selector]));
  for (const [name, value] of Object.entries(extra)) query.append(name, value);
  return `${base}/.well-known/mercure?${query}`;
}
