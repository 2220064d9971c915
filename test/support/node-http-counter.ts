/** Counts the requests node:http itself parses, per local port: the publish fast path's never show up. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

export interface NodeHttpCounter {
  on(port: number): number;
  stop(): void;
}

export function countNodeHttpRequests(): NodeHttpCounter {
  const counts = new Map<number, number>();
  const listener = (message: unknown): void => {
    const port = (message as { socket: Socket }).socket.localPort ?? 0;
    counts.set(port, (counts.get(port) ?? 0) + 1);
  };
  subscribe('http.server.request.start', listener);
  return { on: (port) => counts.get(port) ?? 0, stop: () => unsubscribe('http.server.request.start', listener) };
}
