/** A real WebSocket client (the `ws` package) for tests, recording every message and the close. */
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { WS_SUBPROTOCOL } from '../../src/protocol/index.js';
import { until } from './wait.js';

export interface TestSocket {
  socket: WebSocket;
  /** Every message received, parsed. */
  messages: any[];
  send(message: unknown): void;
  /** The first message (after `from`) for which `match` holds; waits for it. */
  next(match: (message: any) => boolean, what?: string, from?: number): Promise<any>;
  /** Events received (type "event"), control events included. */
  events(): any[];
  /** Resolves with the close code and reason when the connection closes. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Connects to `${base}/ws` (or `url` as given when it starts with ws:), waiting for the open. Rejects with the HTTP status when refused. */
export function connectWs(base: string, options: { query?: string; headers?: Record<string, string>; protocols?: string[]; path?: string } = {}): Promise<TestSocket> {
  const url = `${base.replace(/^http/, 'ws')}${options.path ?? '/ws'}${options.query ?? ''}`;
  const socket = new WebSocket(url, options.protocols ?? [WS_SUBPROTOCOL], { headers: options.headers ?? {} });
  const messages: any[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client: TestSocket = {
    socket,
    messages,
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
    async next(match, what = 'a message', from = 0) {
      let found: any;
      await until(() => (found = messages.slice(from).find(match)) !== undefined, `${what}; got ${JSON.stringify(messages).slice(0, 600)}`);
      return found;
    },
    events: () => messages.filter((message) => message.type === 'event'),
    closed,
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade answered ${res.statusCode}: ${body}`), { status: res.statusCode, body: body === '' ? {} : JSON.parse(body) })));
    });
    socket.once('error', reject);
  });
}

/** The refusal of an upgrade: its HTTP status and error code. */
export async function refusedUpgrade(connecting: Promise<TestSocket>): Promise<{ status: number; code: string }> {
  try {
    const client = await connecting;
    client.close();
  } catch (error: any) {
    return { status: error.status, code: error.body?.error?.code };
  }
  assert.fail('the upgrade was accepted');
}
