import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { styleFor } from '../../src/cli/common.js';
import { formatItem } from '../../src/cli/subscribe.js';
import type { RunningHub } from '../../src/start.js';
import { freePort, startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();


interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  result: Promise<Result>;
  stdout(): string;
  stderr(): string;
}

/** Runs the CLI with a clean environment (no SSEHUB_*, no colour settings). */
function start(args: string[], env: Record<string, string> = {}): Running {
  const base = { ...process.env };
  for (const key of ['SSEHUB_URL', 'SSEHUB_TOKEN', 'NO_COLOR', 'FORCE_COLOR']) delete base[key];
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Result>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, result, stdout: () => stdout, stderr: () => stderr };
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the hub has `n` open streams (the subscriber is connected, so nothing is published too early). */
const streamsOpen = (hub: RunningHub, n = 1) => until(() => hub.hub.stats().connections >= n, `${n} open stream(s)`);

async function publishBatch(hub: RunningHub, events: Array<{ topic: string; data: string; event?: string }>, token?: string): Promise<string[]> {
  const reply = await httpRequest(`${hub.url}/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(events),
  });
  assert.equal(reply.status, 201, reply.text);
  return reply.json().ids;
}

describe('ssehub subscribe', () => {
  let hub: RunningHub | undefined;
  const children: ChildProcess[] = [];
  const run = (args: string[], env?: Record<string, string>): Running => {
    const running = start(args, env);
    children.push(running.child);
    return running;
  };
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await hub?.close();
    hub = undefined;
  });

  test('--count 3 --json prints exactly the first three events as JSON lines and exits 0', async () => {
    hub = await startTestHub();
    const sub = run(['subscribe', 'orders/*', 'alerts', '--count', '3', '--json', '--url', hub.url]);
    await streamsOpen(hub);
    const ids = await publishBatch(hub, [
      { topic: 'orders/1', data: 'one' },
      { topic: 'elsewhere', data: 'not for us' },
      { topic: 'alerts', data: '{"level":"high"}', event: 'alert' },
      { topic: 'orders/2', data: 'multi\nline' },
      { topic: 'orders/3', data: 'four' },
    ]);
    const { code, stdout, stderr } = await sub.result;
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)),
      [
        { id: ids[0], event: 'message', data: 'one' },
        { id: ids[2], event: 'alert', data: '{"level":"high"}' },
        { id: ids[3], event: 'message', data: 'multi\nline' },
      ],
    );
    assert.ok(stdout.endsWith('\n'));
  });

  test('piped without --json: each event’s data on its own line, nothing else', async () => {
    hub = await startTestHub();
    const sub = run(['subscribe', 'plain', '--count', '2', '--url', hub.url]);
    await streamsOpen(hub);
    await publishBatch(hub, [
      { topic: 'plain', data: 'hello', event: 'greeting' },
      { topic: 'plain', data: 'world' },
    ]);
    const { code, stdout, stderr } = await sub.result;
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'hello\nworld\n');
  });

  test('--last-event-id replays what followed that id; an unknown id is a reset (JSON line, or a notice on stderr)', async () => {
    hub = await startTestHub();
    const ids = await publishBatch(
      hub,
      ['a', 'b', 'c', 'd'].map((data) => ({ topic: 'history', data })),
    );
    const resumed = await run(['subscribe', 'history', '--last-event-id', ids[1]!, '--count', '2', '--json', '--url', hub.url]).result;
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(
      resumed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line)),
      [
        { id: ids[2], event: 'message', data: 'c' },
        { id: ids[3], event: 'message', data: 'd' },
      ],
    );

    const reset = await run(['subscribe', 'history', '--last-event-id', 'nonsense-1', '--count', '1', '--json', '--url', hub.url]).result;
    assert.equal(reset.code, 0, reset.stderr);
    const [signal, first] = reset.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.equal(signal.lastEventId, 'nonsense-1');
    assert.equal(typeof signal.reset, 'string');
    assert.deepEqual(first, { id: ids[0], event: 'message', data: 'a' });

    const plain = await run(['subscribe', 'history', '--last-event-id', 'nonsense-1', '--count', '1', '--url', hub.url]).result;
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'a\n');
    assert.match(plain.stderr, /history was reset/);
  });

  test('a hub that requires tokens: 401 without one (exit 1, code on stderr); with a minted token it works', async () => {
    const secret = 'cli-subscribe-secret-cli-subscribe-secret';
    hub = await startTestHub({ jwtSecret: secret });
    const denied = await run(['subscribe', 'private/x', '--count', '1', '--url', hub.url]).result;
    assert.equal(denied.code, 1);
    assert.equal(denied.stdout, '');
    assert.match(denied.stderr, /^ssehub: .+ \(token_required\)\n$/);

    const badToken = await run(['subscribe', 'private/x', '--count', '1', '--url', hub.url, '--token', 'not.a.jwt']).result;
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /\(invalid_token\)/);

    const narrow = await mintToken({ secret, subject: 'narrow', subscribe: ['public/*'], lifetimeSeconds: 600 });
    const forbidden = await run(['subscribe', 'private/x', '--count', '1', '--url', hub.url], { SSEHUB_TOKEN: narrow }).result;
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /\(forbidden\)/);

    const token = await mintToken({ secret, subject: 'cli-user', subscribe: ['private/*'], publish: ['private/*'], lifetimeSeconds: 600 });
    const sub = run(['subscribe', 'private/x', '--count', '1', '--json', '--url', hub.url, '--token', token]);
    await streamsOpen(hub);
    const [id] = await publishBatch(hub, [{ topic: 'private/x', data: 'secret stuff' }], token);
    const { code, stdout, stderr } = await sub.result;
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { id, event: 'message', data: 'secret stuff' });
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal}: closes the stream and exits 0`, async () => {
      hub = await startTestHub();
      const sub = run(['subscribe', 'forever', '--url', hub.url]);
      await streamsOpen(hub);
      sub.child.kill(signal);
      const { code, signal: killedBy, stderr } = await sub.result;
      assert.equal(killedBy, null);
      assert.equal(code, 0, stderr);
      await until(async () => (await httpRequest(`${hub!.url}/stats`)).json().connections === 0, 'the stream to close');
    });
  }

  test('a closed stdout (| head -1) ends it quietly with status 0', async () => {
    hub = await startTestHub();
    const sub = run(['subscribe', 'head', '--url', hub.url]);
    await streamsOpen(hub);
    await publishBatch(hub, [{ topic: 'head', data: 'first' }]);
    await until(() => sub.stdout() === 'first\n', 'the first line');
    sub.child.stdout!.destroy(); // like head exiting after one line
    // The next write fails with EPIPE; keep publishing until it has happened.
    const timer = setInterval(() => void publishBatch(hub!, [{ topic: 'head', data: 'more' }]).catch(() => {}), 50);
    try {
      const { code, stderr } = await sub.result;
      assert.equal(code, 0);
      assert.equal(stderr, '');
    } finally {
      clearInterval(timer);
    }
  });

  test('a first connection that cannot be made (wrong port) exits 1 after a few attempts, saying so', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const sub = run(['subscribe', 'nowhere', '--url', url]);
    let cap: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => (cap = setTimeout(() => reject(new Error(`still retrying:\n${sub.stderr()}`)), 30_000)));
    const { code, stdout, stderr } = await Promise.race([sub.result, timedOut]);
    clearTimeout(cap);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.equal((stderr.match(/cannot connect: .*ECONNREFUSED.*retrying in/g) ?? []).length, 2, stderr);
    assert.match(stderr, new RegExp(`ssehub: cannot connect to the hub at ${url} \\(3 attempts\\): .*ECONNREFUSED.*; check --url`));
  });

  test('resumes after the hub restarts; reconnect notices go to stderr, not stdout', async () => {
    hub = await startTestHub();
    const port = hub.port;
    const sub = run(['subscribe', 'resume', '--json', '--url', hub.url]);
    await streamsOpen(hub);
    const [before] = await publishBatch(hub, [{ topic: 'resume', data: 'before' }]);
    await until(() => sub.stdout().includes('before'), 'the first event');
    await hub.close();
    await until(() => /connection lost|cannot connect/.test(sub.stderr()), 'a reconnect notice');
    hub = await startTestHub({ port });
    await streamsOpen(hub);
    const [afterId] = await publishBatch(hub, [{ topic: 'resume', data: 'after' }]);
    await until(() => sub.stdout().includes('"after"'), 'the event after the restart');
    sub.child.kill('SIGTERM');
    const { code, stdout, stderr } = await sub.result;
    assert.equal(code, 0, stderr);
    const items = stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    // The new hub does not know the old id: a reset, then the event.
    assert.deepEqual(items, [
      { id: before, event: 'message', data: 'before' },
      { reset: items[1].reset, lastEventId: before },
      { id: afterId, event: 'message', data: 'after' },
    ]);
    assert.match(stderr, /retrying in [\d.]+ s/);
    assert.match(stderr, new RegExp(`reconnected, resuming after ${before}`));
  });

  test('bad arguments exit 2', async () => {
    for (const args of [['subscribe'], ['subscribe', 't', '--count', 'x'], ['subscribe', 't', '--count', '0'], ['subscribe', 't', '--bogus']]) {
      const { code, stderr } = await run(args).result;
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /^ssehub: /);
    }
  });

  test('the terminal format: dim id, coloured event name, data', () => {
    const event = { kind: 'event', type: 'status', data: 'paid', id: 'abc-1', raw: 'paid' } as const;
    assert.equal(formatItem(event, 'friendly', styleFor({ isTTY: true }, {})), '\x1b[2mabc-1\x1b[22m \x1b[36mstatus\x1b[39m paid\n');
    assert.equal(formatItem(event, 'friendly', styleFor({ isTTY: true }, { NO_COLOR: '1' })), 'abc-1 status paid\n');
    assert.equal(formatItem(event, 'plain', styleFor({ isTTY: false }, {})), 'paid\n');
    assert.equal(formatItem({ kind: 'reset', reason: 'history-exceeded', lastEventId: 'x' }, 'plain', styleFor({}, {})), undefined);
  });
});
