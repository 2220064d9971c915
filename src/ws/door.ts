/**
 * The WebSocket door: `GET /ws` upgraded by the `ws` package (noServer: it shares the hub's port,
 * or the app's server when embedded). Before the upgrade is accepted, in this order:
 * - the subprotocol: the client must offer `ssehub.v1` (400 unsupported_protocol);
 * - the Origin (cross-site WebSocket hijacking): a browser's page must be the hub's own origin or
 *   one in --cors-origins; `*` there lets any page in only without a cookie (403 origin_not_allowed);
 * - the credential, if the request carries one (a one-shot `?ticket=`, the token cookie, an
 *   Authorization header, or the app's session cookie): refused, it is the HTTP error answer (401…)
 *   and no socket is opened. Without one, the connection has --ws-auth-timeout to send
 *   `{"type":"auth","token":…}` and nothing else is accepted before it.
 * Then connection.ts takes the socket. One heartbeat timer pings every connection each --heartbeat:
 * one that has not answered the previous ping is cut, so a dead peer goes within two intervals.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Principal } from '../auth/principal.js';
import { HubError } from '../errors.js';
import { authenticate, cookieValue } from '../http/authenticate.js';
import type { RouteContext } from '../http/context.js';
import { hostOf, isSameOrigin } from '../http/cross-site.js';
import { asHubError, rawErrorResponse } from '../http/respond.js';
import { WS_CLOSE, WS_SUBPROTOCOL } from '../protocol/index.js';
import { WsConnection, type ConnectionSettings } from './connection.js';
import { WsStats } from './stats.js';

/** Where the door listens, below the hub's mount point. */
export const WS_PATH = '/ws';

/** Room a publish message takes besides its data (topic, name, key, JSON quoting of a string). */
const MESSAGE_OVERHEAD_BYTES = 4096;

/** node:http's 'upgrade' listener: true when the request was the hub's (answered or upgraded). */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface WebSocketDoor {
  /** The listener for upgrades to `path` (the hub's WS_PATH below its mount point); other paths are left alone. */
  upgradeAt(path: string): UpgradeListener;
  readonly stats: WsStats;
  /** Closes every connection (1001) and stops the heartbeat. */
  close(): Promise<void>;
}

export function createWebSocketDoor(context: RouteContext): WebSocketDoor {
  const { config, logger } = context;
  const stats = new WsStats();
  stats.register(context.metrics.registry);
  const settings: ConnectionSettings = {
    authTimeoutMs: config.wsAuthTimeoutMs,
    maxErrors: 10,
    maxPending: 256,
    ephemeralPerSecond: config.wsEphemeralRate,
    closeGraceMs: 2000,
  };
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // A publish message may carry as much data as an HTTP publish body (--max-body); past it, ws closes with 1009.
    maxPayload: config.maxBodyBytes + MESSAGE_OVERHEAD_BYTES,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  const connections = new Set<WsConnection>();
  const heartbeat = config.heartbeatMs > 0 ? setInterval(() => ping(connections), config.heartbeatMs) : undefined;
  heartbeat?.unref();
  let closing = false;

  const accept = (req: IncomingMessage, socket: Duplex, head: Buffer, principal: Principal | undefined): void => {
    server.handleUpgrade(req, socket, head, (ws) => {
      if (closing) return void ws.close(WS_CLOSE.GOING_AWAY, 'the hub is shutting down');
      const connection = new WsConnection(ws, req, context, settings, stats, principal);
      connections.add(connection);
      stats.connectionOpened(connection);
      ws.once('close', () => connections.delete(connection));
    });
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> => {
    socket.on('error', () => socket.destroy());
    try {
      if (closing) throw new HubError(503, 'shutting_down', 'The hub is shutting down.');
      checkUpgrade(req, context);
      const ticket = url.searchParams.get('ticket');
      const principal = ticket !== null || credentialAtUpgrade(req, context) ? await authenticate(req, context, { action: 'subscribe', topics: [] }, ticket) : undefined;
      if (socket.destroyed) return;
      accept(req, socket, head, principal ?? (context.access.enabled ? undefined : context.access.anonymous));
    } catch (error) {
      const refusal = asHubError(error, (unexpected) => logger.error({ err: unexpected }, 'WebSocket upgrade failed'));
      if (!socket.destroyed) socket.end(rawErrorResponse(refusal));
    }
  };

  return {
    stats,
    upgradeAt(path) {
      return (req, socket, head) => {
        const url = new URL(req.url ?? '/', 'http://hub.invalid');
        if (url.pathname !== path) return false;
        void upgrade(req, socket, head, url);
        return true;
      };
    },
    async close() {
      closing = true;
      if (heartbeat !== undefined) clearInterval(heartbeat);
      for (const connection of connections) connection.close(WS_CLOSE.GOING_AWAY, 'the hub is shutting down');
      server.close();
    },
  };
}

/** The subprotocol and the Origin, before anything is verified. */
function checkUpgrade(req: IncomingMessage, context: RouteContext): void {
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((name) => name.trim());
  if (!offered.includes(WS_SUBPROTOCOL)) {
    throw new HubError(400, 'unsupported_protocol', `Ask for the WebSocket subprotocol "${WS_SUBPROTOCOL}" (Sec-WebSocket-Protocol).`);
  }
  const { origin } = req.headers;
  // Only browsers send Origin, and a browser's page may be another site's: the allowlist decides.
  if (origin === undefined) return;
  const cors = context.access.cors;
  if (origin !== 'null' && (isSameOrigin(origin, hostOf(req)) || cors.allowsCredentials(origin))) return;
  const anyOrigin = cors.headersFor(origin)['Access-Control-Allow-Origin'] === '*';
  if (anyOrigin && req.headers.cookie === undefined) return;
  throw new HubError(403, 'origin_not_allowed', `A WebSocket from origin ${JSON.stringify(origin.slice(0, 200))} is not allowed: add it to --cors-origins.`);
}

/** Whether the upgrade itself carries a credential (else the first message must). */
function credentialAtUpgrade(req: IncomingMessage, { access }: RouteContext): boolean {
  if (!access.enabled) return false;
  if (req.headers.authorization !== undefined) return true;
  if (access.verifier && cookieValue(req.headers.cookie, access.cookieName) !== undefined) return true;
  return access.authorize !== undefined && req.headers.cookie !== undefined;
}

function ping(connections: Set<WsConnection>): void {
  for (const connection of connections) {
    // No pong since the last ping: the peer is gone (or its network is). Cut without a handshake.
    if (!connection.alive) {
      connection.socket.terminate();
      continue;
    }
    connection.alive = false;
    connection.socket.ping();
  }
}
