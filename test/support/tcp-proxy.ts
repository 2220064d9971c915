/**
 * A loopback TCP proxy whose connections a test can cut (a network drop) or stall, and whose
 * upstream it can move, as a virtual IP moves to the server that took over.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Destroys every open connection, both sides, as a network failure would. */
  cutAll(): void;
  /**
   * Stops passing on what the target sends (it waits in the proxy), connections left open: a link
   * that stalls without breaking, such as a replica's that its master's death then cuts.
   */
  holdReplies(): void;
  /** Sends the connections made from now on to another server. */
  retarget(target: URL | string): void;
  close(): Promise<void>;
}

/** Listens on `port` of 127.0.0.1 (0: any free one), e.g. the port of a proxy closed earlier, to bring a server back. */
export async function startTcpProxy(target: URL | string, port = 0): Promise<TcpProxy> {
  let upstreamUrl = new URL(target);
  const sockets = new Set<Socket>();
  const upstreams = new Map<Socket, Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    upstreams.set(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => (upstreams.delete(upstream), client.destroy()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cutAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    holdReplies: () => {
      for (const [upstream, client] of upstreams) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    retarget: (to) => {
      upstreamUrl = new URL(to);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
