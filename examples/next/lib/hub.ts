/**
 * The app's one hub. Next.js evaluates route modules again on every hot reload in development: a
 * hub made at module level would be made again each time, with its streams and history split
 * between the old and the new. Kept on globalThis, it is made once per server process.
 * (In a Next app, import it as '@/lib/hub'.)
 */
import { createHub, type EmbeddedHub } from 'ssehub';
import { grantFor, userOf } from '../../session.js';

const globalForHub = globalThis as typeof globalThis & { realtimeHub?: Promise<EmbeddedHub> };

export function realtimeHub(): Promise<EmbeddedHub> {
  return (globalForHub.realtimeHub ??= createHub<Request>({
    basePath: '/realtime',
    // Route handlers get the Fetch Request; the session is its cookie.
    authorize: (request) => {
      const user = userOf(request.headers.get('cookie'));
      return user === undefined ? null : grantFor(user);
    },
  }));
}
