/**
 * A webhook receiver for tests: a node:http server on a fixed port that can be down (nothing
 * listens: connections are refused) and come up, answering each request as the test says. It
 * checks every request's signature with its own HMAC (node:crypto), not with the hub's signer.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedWebhook {
  id: string;
  timestamp: number;
  headers: IncomingHttpHeaders;
  body: string;
  type: string;
  data: { key?: string; n?: number; [name: string]: unknown };
  /** Whether one of the request's signatures is the HMAC this receiver computed. */
  signed: boolean;
  /** The status this receiver answered. */
  status: number;
}

/** The Standard Webhooks check, written out: HMAC-SHA256 of "id.timestamp.body" with the secret's bytes. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const content = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
  const expected = `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
  return String(headers['webhook-signature'] ?? '').split(' ').includes(expected);
}

export class WebhookReceiver {
  /** Every request that reached the receiver, in arrival order (refused ones included). */
  readonly requests: ReceivedWebhook[] = [];
  private server: Server | undefined;

  /** `answer` picks the status for a request (200 unless it says otherwise). */
  constructor(
    readonly port: number,
    private readonly secret: string,
    private readonly answer: (webhook: Omit<ReceivedWebhook, 'status'>) => number = () => 200,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Requests answered 2xx. */
  accepted(): ReceivedWebhook[] {
    return this.requests.filter((request) => request.status >= 200 && request.status < 300);
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { type: string; data: ReceivedWebhook['data'] };
        const webhook = {
          id: String(req.headers['webhook-id']),
          timestamp: Number(req.headers['webhook-timestamp']),
          headers: req.headers,
          body,
          type: parsed.type,
          data: parsed.data,
          signed: verifySignature(this.secret, req.headers, body),
        };
        const status = this.answer(webhook);
        this.requests.push({ ...webhook, status });
        res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Waits until the predicate holds over the requests received. */
  async until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(condition(), `timed out waiting for ${what}; received ${this.requests.length} requests: ${this.requests.map((r) => `${r.status} ${r.type} ${JSON.stringify(r.data)}`).slice(-10).join('; ')}`);
  }
}

/** A signing key in the Standard Webhooks form, fixed so that failures can be replayed. */
export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
