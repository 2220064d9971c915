/**
 * The examples' session: the smallest cookie session that shows the idea, the same in every
 * example. POST /login { "user": "alice" } makes a session id, kept here in memory, and sets it in
 * an HttpOnly `sid` cookie; later requests carry the cookie and the app knows who they are. A real
 * app has its own (express-session, @fastify/session, a database…): what the hub needs from it is
 * only `grantFor(user)`, returned by authorize().
 */
import { randomBytes } from 'node:crypto';
import type { Grant } from 'ssehub';

const users = new Map<string, string>(); // session id → user

/** Starts a session for the user (a real app checks a password first); returns the Set-Cookie value. */
export function login(user: string): string {
  const sid = randomBytes(18).toString('base64url');
  users.set(sid, user);
  return `sid=${sid}; HttpOnly; SameSite=Lax; Path=/`;
}

/** The user of the session named by the request's Cookie header, if any. */
export function userOf(cookieHeader: string | null | undefined): string | undefined {
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(cookieHeader ?? '')?.[1];
  return sid === undefined ? undefined : users.get(sid);
}

/** A user name the examples accept: it becomes part of topic names. */
export function isUserName(value: unknown): value is string {
  return typeof value === 'string' && /^[a-z0-9_-]{1,32}$/i.test(value);
}

/** What a signed-in user may do on the hub: read their own topics and the news, publish to their own. */
export function grantFor(user: string): Grant {
  return { subject: user, subscribe: [`users/${user}/**`, 'news/**'], publish: [`users/${user}/**`] };
}
