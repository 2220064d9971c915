/**
 * The WebSocket benchmark's clients, one kind per server protocol: ssehub.v1 over the `ws` package
 * (ssehub and the plain `ws` broadcast server speak it alike) and socket.io's own client. Each can
 * subscribe to a topic, publish and wait for the server's ack, and report the data of every event.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';

export interface BenchClient {
  subscribe(topic: string): Promise<void>;
  /** Resolves once the server acknowledged the publish. */
  publish(topic: string, data: string): Promise<void>;
  /** Called with the data of every event the client receives. */
  onEvent(listener: (data: string) => void): void;
  close(): void;
}

export type ClientProtocol = 'ssehub.v1' | 'socket.io';

export function connectClient(protocol: ClientProtocol, base: string): Promise<BenchClient> {
  return protocol === 'socket.io' ? socketIoClient(base) : ssehubClient(base);
}

async function ssehubClient(base: string): Promise<BenchClient> {
  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, ['ssehub.v1']);
  const pending = new Map<string, { resolve(): void; reject(error: Error): void }>();
  let listener: (data: string) => void = () => {};
  let refs = 0;
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { type: string; ref?: string; topic?: string; data?: string; code?: string };
    if (message.type === 'event' && message.topic !== undefined) listener(message.data!);
    else if (message.type === 'ready') ready();
    else if (message.ref !== undefined) {
      const waiting = pending.get(message.ref);
      pending.delete(message.ref);
      if (message.type === 'error') waiting?.reject(new Error(`the server refused a message: ${message.code}`));
      else waiting?.resolve();
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'auth' }));
  await isReady;
  const request = (message: Record<string, unknown>): Promise<void> =>
    new Promise((resolve, reject) => {
      const ref = String(++refs);
      pending.set(ref, { resolve, reject });
      socket.send(JSON.stringify({ ...message, ref }));
    });
  return {
    subscribe: (topic) => request({ type: 'subscribe', topics: [topic] }),
    publish: (topic, data) => request({ type: 'publish', topic, data }),
    onEvent: (next) => void (listener = next),
    close: () => socket.terminate(),
  };
}

async function socketIoClient(base: string): Promise<BenchClient> {
  const socket: Socket = io(base, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    subscribe: async (topic) => void (await socket.emitWithAck('subscribe', [topic])),
    publish: async (topic, data) => void (await socket.emitWithAck('publish', { topic, data })),
    onEvent: (listener) => void socket.on('event', (event: { data: string }) => listener(event.data)),
    close: () => socket.disconnect(),
  };
}
