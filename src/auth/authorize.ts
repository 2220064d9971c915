/**
 * Authorization by the application, instead of (or beside) tokens: the hub asks the app who a
 * request is, and the app answers with a grant from its own session. Two sources, one shape:
 * in process, the app's `authorize(request)` given to createHub (appAuthorizer below); on the
 * standalone server, its forward-auth endpoint (--auth-url, forward-auth.ts). Either becomes the
 * `Access.authorize` that http/authenticate.ts calls for a request without a token.
 */
import { HubError } from '../errors.js';
import { principalOfAppGrant, type Grant } from './grant.js';
import type { Principal } from './principal.js';

/** What a request asks to do: open a stream, publish, take a ticket, or read the operator endpoints. */
export type AuthAction = 'subscribe' | 'publish' | 'ticket' | 'admin';

/** What the hub knows of a request that needs authorizing, whatever door it came through. */
export interface AuthRequest {
  /** The request's headers (node:http's IncomingHttpHeaders fits); only Cookie, Authorization, Origin and Host are read. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The client's address as the hub resolved it (--trusted-proxies applied). */
  clientAddress: string;
  /** The scheme the client used to reach the hub. */
  protocol: 'http' | 'https';
  action: AuthAction;
  /** The topics or patterns asked for, as the client wrote them. */
  topics: readonly string[];
  method: string;
  /** The request target: path and query string. */
  target: string;
  /** The request object of the server or framework that carried it (what the app's authorize() gets). */
  original: unknown;
}

/**
 * Asks whether a request may do what it asks. A principal: allowed, with the grant's subject,
 * selectors and expiry. Null: no session (the app answered 401); the caller treats the request as
 * anonymous. Throws HubError 403 forbidden when refused, 503 auth_unavailable when it cannot tell.
 */
export type Authorize = (request: AuthRequest) => Promise<Principal | null>;

/**
 * The app's own authorization, in process: the request as its server or framework carried it
 * (Express's req after the app's middleware, a Fetch Request), and a grant, or null/undefined when
 * the request has no session.
 */
export type AppAuthorize<R = any> = (request: R) => Grant | null | undefined | Promise<Grant | null | undefined>;

/**
 * The app's authorize() as the hub calls it. A throw is the app's failure, not a refusal: 500
 * authorize_failed, the error logged (onError), and nothing is opened or published. An invalid
 * grant is the same (principalOfAppGrant), logged too: the operator must see the app's bug.
 */
export function appAuthorizer(app: AppAuthorize, onError: (error: unknown) => void): Authorize {
  return async (request) => {
    let value: unknown;
    try {
      value = await app(request.original);
    } catch (error) {
      onError(error);
      throw new HubError(500, 'authorize_failed', "The app's authorize() failed; the hub's log has the error.");
    }
    try {
      return principalOfAppGrant(value);
    } catch (error) {
      onError(error);
      throw error;
    }
  };
}
