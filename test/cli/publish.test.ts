import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { colorEnabled, LineSplitter, styleFor } from '../../src/cli/common.js';
import type { RunningHub } from '../../src/start.js';
import { freePort, startTestHub } from '../support/hub.js';
import { openStream, type OpenStream } from '../support/http.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();


interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with a clean environment (no SSEHUB_*, no colour settings). */
function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; result: Promise<Result>; stdout(): string } {
  const base = { ...process.env };
  for (const key of ['SSEHUB_URL', 'SSEHUB_TOKEN', 'NO_COLOR', 'FORCE_COLOR']) delete base[key];
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Result>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { child, result, stdout: () => stdout };
}

function ssehub(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const run = start(args, options.env);
  run.child.stdin!.end(options.input ?? '');
  return run.result;
}

describe('ssehub publish', () => {
  let hub: RunningHub;
  let stream: OpenStream;
  let seen = 0;
  /** The events the test's subscriber received since the last call. */
  const next = async (n: number) => {
    const events = await stream.waitForEvents(seen + n);
    const fresh = events.slice(seen, seen + n);
    seen += n;
    return fresh;
  };

  before(async () => {
    hub = await startTestHub();
    stream = await openStream(`${hub.url}/events?topic=cli/**`);
  });
  after(async () => {
    stream.close();
    await hub.close();
  });

  test('publishes the data argument and prints the id', async () => {
    const { code, stdout, stderr } = await ssehub(['publish', 'cli/a', 'hello world', '--url', hub.url]);
    assert.equal(code, 0, stderr);
    const [event] = await next(1);
    assert.equal(event!.data, 'hello world');
    assert.equal(event!.type, 'message');
    assert.equal(stdout, `${event!.lastEventId}\n`);
  });

  test('--event names the event; SSEHUB_URL is the default hub', async () => {
    const { code, stderr } = await ssehub(['publish', 'cli/b', 'x', '--event', 'status'], { env: { SSEHUB_URL: hub.url } });
    assert.equal(code, 0, stderr);
    const [event] = await next(1);
    assert.equal(event!.type, 'status');
    assert.equal(event!.data, 'x');
  });

  test('--json sends JSON (a string value stays JSON text)', async () => {
    assert.equal((await ssehub(['publish', 'cli/j', '{"a": [1, 2], "b": null}', '--json', '--url', hub.url])).code, 0);
    assert.equal((await ssehub(['publish', 'cli/j', '"just a string"', '--json', '--url', hub.url])).code, 0);
    const [object, string] = await next(2);
    assert.deepEqual(JSON.parse(object!.data), { a: [1, 2], b: null });
    assert.equal(string!.data, '"just a string"');
  });

  test('--json with invalid JSON is refused before anything is sent (exit 2)', async () => {
    const { code, stdout, stderr } = await ssehub(['publish', 'cli/j', '{"a": ', '--json', '--url', hub.url]);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^ssehub: The data is not valid JSON/);
    // Nothing was published: the next event the subscriber sees is this marker.
    assert.equal((await ssehub(['publish', 'cli/j', 'marker', '--url', hub.url])).code, 0);
    assert.equal((await next(1))[0]!.data, 'marker');
  });

  test('without a data argument, all of stdin is one event (one trailing newline removed)', async () => {
    const { code, stdout, stderr } = await ssehub(['publish', 'cli/stdin', '--url', hub.url], { input: 'first line\nsecond line\n' });
    assert.equal(code, 0, stderr);
    const [event] = await next(1);
    assert.equal(event!.data, 'first line\nsecond line');
    assert.equal(stdout.trim(), event!.lastEventId);
  });

  test('--lines: 250 lines become 250 events in order, empty lines skipped, ids printed in order', async () => {
    const lines = Array.from({ length: 250 }, (_, i) => `line ${i}`);
    const input = `${lines.slice(0, 100).join('\n')}\n\n\r\n${lines.slice(100).join('\r\n')}`; // no final newline
    const { code, stdout, stderr } = await ssehub(['publish', 'cli/lines', '--lines', '--event', 'log', '--url', hub.url], { input });
    assert.equal(code, 0, stderr);
    const events = await next(250);
    assert.deepEqual(
      events.map((event) => event.data),
      lines,
    );
    assert.ok(events.every((event) => event.type === 'log'));
    assert.deepEqual(
      stdout.trimEnd().split('\n'),
      events.map((event) => event.lastEventId),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(stream.events.length, seen, 'no events for the empty lines');
  });

  test('--lines publishes each line while stdin is still open', async () => {
    const run = start(['publish', 'cli/live', '--lines', '--url', hub.url]);
    run.child.stdin!.write('one\n');
    assert.equal((await next(1))[0]!.data, 'one'); // stdin is still open: the line went out on its own
    run.child.stdin!.write('two\n');
    assert.equal((await next(1))[0]!.data, 'two');
    run.child.stdin!.end('three');
    assert.equal((await next(1))[0]!.data, 'three');
    const { code, stdout } = await run.result;
    assert.equal(code, 0);
    assert.equal(stdout.trimEnd().split('\n').length, 3);
  });

  test('--lines --json: lines before an invalid one are published, then exit 2 naming the line', async () => {
    const { code, stdout, stderr } = await ssehub(['publish', 'cli/jl', '--lines', '--json', '--url', hub.url], {
      input: '{"n":1}\n\n[2]\nnot json\n{"n":4}\n',
    });
    assert.equal(code, 2);
    assert.match(stderr, /Line 4 is not valid JSON/);
    const events = await next(2);
    assert.deepEqual(
      events.map((event) => event.data),
      ['{"n":1}', '[2]'],
    );
    assert.equal(stdout.trimEnd().split('\n').length, 2);
    assert.equal((await ssehub(['publish', 'cli/jl', 'marker', '--url', hub.url])).code, 0);
    assert.equal((await next(1))[0]!.data, 'marker');
  });

  test('--idempotency-key: the same publish twice stores one event', async () => {
    const args = ['publish', 'cli/once', 'x', '--idempotency-key', 'cli-test-key-1', '--url', hub.url];
    const first = await ssehub(args);
    const second = await ssehub(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(first.stdout, second.stdout);
    assert.equal((await ssehub(['publish', 'cli/once', 'marker', '--url', hub.url])).code, 0);
    const [event, marker] = await next(2);
    assert.equal(event!.lastEventId, first.stdout.trim());
    assert.equal(marker!.data, 'marker');
  });

  test('a refusal from the hub prints its message and code and exits 1', async () => {
    const { code, stdout, stderr } = await ssehub(['publish', 'bad//topic', 'x', '--url', hub.url]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^ssehub: .*topic.* \(invalid_topic\)\n$/);
    const reserved = await ssehub(['publish', 'cli/a', 'x', '--event', 'ssehub.reset', '--url', hub.url]);
    assert.equal(reserved.code, 1);
    assert.match(reserved.stderr, /\(reserved_event_name\)/);
  });

  test('--ndjson: a batch of {topic, event, data} lines, stored in order, ids printed in order', async () => {
    const input = '{"topic":"cli/nd/a","data":"one"}\n\n{"topic":"cli/nd/b","event":"status","data":{"n":2}}\r\n{"topic":"cli/nd/a","data":[3]}\n';
    const { code, stdout, stderr } = await ssehub(['publish', '--ndjson', '-', '--url', hub.url], { input });
    assert.equal(code, 0, stderr);
    const events = await next(3);
    assert.deepEqual(
      events.map((event) => [event.type, event.data]),
      [
        ['message', 'one'],
        ['status', '{"n":2}'],
        ['message', '[3]'],
      ],
    );
    assert.equal(stdout, events.map((event) => `${event.lastEventId}\n`).join(''));
  });

  test('--ndjson: a bad line refuses the lot, naming the line (exit 2, nothing published)', async () => {
    for (const [bad, why] of [
      ['not json', /line 2: not JSON/],
      ['{"data":"no topic"}', /line 2: "topic" must be/],
      ['{"topic":"cli/nd","data":"x","extra":1}', /line 2: unknown field "extra"/],
      ['{"topic":"cli/nd"}', /line 2: "data" is missing/],
    ] as const) {
      const { code, stdout, stderr } = await ssehub(['publish', '--ndjson', '--url', hub.url], { input: `{"topic":"cli/nd","data":"first"}\n${bad}\n` });
      assert.equal(code, 2, bad);
      assert.equal(stdout, '');
      assert.match(stderr, why);
      assert.match(stderr, /nothing was published/);
    }
    // A batch the hub refuses (an invalid topic on line 2) stores nothing either.
    const refused = await ssehub(['publish', '--ndjson', '--url', hub.url], { input: '{"topic":"cli/nd","data":"first"}\n{"topic":"bad//topic","data":"x"}\n' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /invalid_topic/);
    assert.equal((await ssehub(['publish', 'cli/nd', 'marker', '--url', hub.url])).code, 0);
    assert.equal((await next(1))[0]!.data, 'marker', 'no event of the refused batches was stored');
  });

  test('a hub that is down: each retry is noted on stderr (number, delay, reason); --quiet leaves only the final error', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const noisy = start(['publish', 'cli/down', 'x', '--url', down]);
    noisy.child.stdin!.end();
    const { code, stderr } = await noisy.result;
    assert.equal(code, 1);
    const notices = stderr.split('\n').filter((line) => line.includes('retry'));
    assert.equal(notices.length, 5, stderr);
    notices.forEach((notice, i) => assert.match(notice, new RegExp(`^ssehub: publish failed: .*ECONNREFUSED.*; retry ${i + 1} of 5 in \\d+\\.\\d s$`)));
    assert.match(stderr, /cannot reach the hub at .*ECONNREFUSED/);

    const quiet = await ssehub(['publish', 'cli/down', 'x', '--quiet', '--url', down]);
    assert.equal(quiet.code, 1);
    assert.match(quiet.stderr, /^ssehub: cannot reach the hub at [^\n]*\n$/);
  });

  test('bad arguments exit 2', async () => {
    for (const args of [
      ['publish'],
      ['publish', 'cli/a', 'x', 'y'],
      ['publish', 'cli/a', 'x', '--lines'],
      ['publish', 'cli/a', '--lines', '--idempotency-key', 'k'],
      ['publish', 'cli/a', 'x', '--nope'],
      ['publish', 'cli/a', 'x', '--url', 'not a url'],
      ['publish', 'cli/a', 'x', '--url', 'ftp://example.com'],
    ]) {
      const { code, stderr } = await ssehub(args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /^ssehub: /, args.join(' '));
    }
  });

  test('--help on each command, and the top-level help lists them', async () => {
    for (const [command, pattern] of [
      ['publish', /Usage: ssehub publish <topic> \[data\].*--event.*--json.*--lines.*--idempotency-key.*--url.*SSEHUB_URL.*--token.*SSEHUB_TOKEN/s],
      ['subscribe', /Usage: ssehub subscribe.*--json.*--last-event-id.*--count.*--url.*--token/s],
      ['pipe', /Usage: ssehub pipe <topic> .*-- <command>.*stdout.*stderr.*exit.*--quiet.*--url.*--token/s],
    ] as const) {
      const { code, stdout } = await ssehub([command, '--help']);
      assert.equal(code, 0, command);
      assert.match(stdout, pattern, command);
    }
    const top = await ssehub(['--help']);
    for (const command of ['serve', 'token', 'publish', 'subscribe', 'pipe']) assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'));
    assert.match((await ssehub(['help', 'pipe'])).stdout, /Usage: ssehub pipe/);
  });
});

describe('cli helpers', () => {
  test('colours: only for a terminal without NO_COLOR, unless FORCE_COLOR', () => {
    assert.equal(colorEnabled({ isTTY: true }, {}), true);
    assert.equal(colorEnabled({ isTTY: false }, {}), false);
    assert.equal(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }), false);
    assert.equal(colorEnabled({ isTTY: true }, { NO_COLOR: '' }), true);
    assert.equal(colorEnabled({ isTTY: true }, { TERM: 'dumb' }), false);
    assert.equal(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' }), true);
    assert.equal(colorEnabled({ isTTY: true }, { FORCE_COLOR: '0' }), false);
    assert.equal(styleFor({ isTTY: true }, {}).red('x'), '\x1b[31mx\x1b[39m');
    assert.equal(styleFor({ isTTY: false }, {}).red('x'), 'x');
  });

  test('LineSplitter: LF and CRLF, UTF-8 split across chunks, a final line without newline', () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from('a\r\nbé\n\nc', 'utf8');
    const lines: string[] = [];
    for (let i = 0; i < bytes.length; i++) lines.push(...splitter.push(bytes.subarray(i, i + 1)));
    lines.push(...splitter.end());
    assert.deepEqual(lines, ['a', 'bé', '', 'c']);
    assert.deepEqual(splitter.end(), []);
  });
});
