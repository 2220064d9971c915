/** Helpers for the client tests: state change logs, request counting, small real HTTP servers. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StateChange } from '../../src/client/index.js';

/** Records a subscription's state changes (pass `log.record` as onStateChange) and waits on them. */
export class ClientLog {
  readonly changes: StateChange[] = [];
  #consumedReconnects = 0;
  readonly record = (change: StateChange): void => {
    this.changes.push(change);
  };

  get states(): string[] {
    return this.changes.map((change) => change.state);
  }

  /** Resolves once the subscription has been in `state` at least `count` times. */
  async waitForState(state: StateChange['state'], count = 1, timeoutMs = 5000): Promise<void> {
    await until(() => this.changes.filter((change) => change.state === state).length >= count, timeoutMs, `state ${state} x${count} (saw ${this.states.join(',')})`);
  }

  /** The next 'reconnecting' change not returned before. */
  async nextReconnect(timeoutMs = 5000): Promise<StateChange> {
    const index = this.#consumedReconnects++;
    let found: StateChange | undefined;
    await until(() => (found = this.changes.filter((change) => change.state === 'reconnecting')[index]) !== undefined, timeoutMs, `reconnect #${index + 1} (saw ${this.states.join(',')})`);
    return found!;
  }
}

export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The real fetch, counting its calls. */
export function countingFetch(): typeof fetch & { calls(): number } {
  let calls = 0;
  const counted = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    calls++;
    return fetch(input, init);
  }) as typeof fetch & { calls(): number };
  counted.calls = () => calls;
  return counted;
}


/** A plain HTTP server answering with `handler`: what a proxy or a misconfigured route would send. */
export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy in front of the hub that lets the first `drops` requests through but cuts the
 * connection as the answer comes back: the hub stored the events, the client never hears so.
 */
export async function startAnswerDroppingProxy(target: string, drops: number): Promise<{ url: string; forwarded(): number; close(): Promise<void> }> {
  const { connect, createServer: createTcpServer } = await import('node:net');
  const { port, hostname } = new URL(target);
  let forwarded = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(port), hostname);
    const drop = forwarded++ < drops;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (drop) {
        client.destroy();
        upstream.destroy();
      } else {
        client.write(chunk);
      }
    });
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forwarded: () => forwarded,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
