import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ParsedEvent } from '../../src/protocol/index.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { openStream, type OpenStream } from '../support/http.js';
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
}

/** Runs the CLI with a clean environment (no SSEHUB_*, no colour settings). */
function start(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Running {
  const base = { ...process.env };
  for (const key of ['SSEHUB_URL', 'SSEHUB_TOKEN', 'NO_COLOR', 'FORCE_COLOR']) delete base[key];
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Result>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, result, stdout: () => stdout };
}

/** `node -e <script>` as the command after --. */
const nodeScript = (script: string): string[] => [process.execPath, '-e', script];

const named = (events: ParsedEvent[], type: string) => events.filter((event) => event.type === type).map((event) => event.data);

describe('ssehub pipe', () => {
  let hub: RunningHub;
  let dir: string;
  const children: ChildProcess[] = [];
  const streams: OpenStream[] = [];
  let topicCount = 0;
  /** A fresh topic with a subscriber already listening. */
  const listen = async (): Promise<{ topic: string; stream: OpenStream }> => {
    const topic = `pipe/t${++topicCount}`;
    const stream = await openStream(`${hub.url}/topics/${topic}`);
    streams.push(stream);
    return { topic, stream };
  };
  const run = (args: string[], options?: { env?: Record<string, string>; input?: string }): Running => {
    const running = start(args, options);
    children.push(running.child);
    return running;
  };
  const exitEvent = async (stream: OpenStream) => {
    await stream.waitUntil(() => stream.events.some((event) => event.type === 'exit'), 10_000, 'the exit event');
    const exits = stream.events.filter((event) => event.type === 'exit');
    assert.equal(exits.length, 1);
    assert.equal(stream.events.at(-1)!.type, 'exit', 'the exit event comes last');
    return JSON.parse(exits[0]!.data) as { code: number; signal: string | null };
  };

  before(async () => {
    hub = await startTestHub({ publishRate: 0 });
    dir = mkdtempSync(join(tmpdir(), 'ssehub-pipe-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const stream of streams.splice(0)) stream.close();
  });
  after(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('publishes stdout and stderr lines in order, then the exit event; echoes the output', async () => {
    const { topic, stream } = await listen();
    const script = `
      process.stdout.write('out 1\\nout 2\\n');
      process.stderr.write('err 1\\n');
      process.stdout.write('\\nout 4\\r\\n');
      process.stderr.write('err 2\\nerr 3 without newline');
      process.stdout.write('out 5 without newline');
    `;
    const { code, stdout, stderr } = await run(['pipe', topic, '--url', hub.url, '--', ...nodeScript(script)]).result;
    assert.equal(code, 0, stderr);
    assert.deepEqual(await exitEvent(stream), { code: 0, signal: null });
    assert.deepEqual(named(stream.events, 'stdout'), ['out 1', 'out 2', '', 'out 4', 'out 5 without newline']);
    assert.deepEqual(named(stream.events, 'stderr'), ['err 1', 'err 2', 'err 3 without newline']);
    assert.equal(stream.events.length, 9);
    // The command's output is still shown, unchanged.
    assert.equal(stdout, 'out 1\nout 2\n\nout 4\r\nout 5 without newline');
    assert.equal(stderr, 'err 1\nerr 2\nerr 3 without newline');
  });

  test('a failing command: its exit code is passed on and published; --quiet shows nothing', async () => {
    const { topic, stream } = await listen();
    const script = `console.log('about to fail'); console.error('oops'); process.exit(3)`;
    const { code, stdout, stderr } = await run(['pipe', topic, '--quiet', '--url', hub.url, '--', ...nodeScript(script)]).result;
    assert.equal(code, 3);
    assert.equal(stdout, '');
    assert.equal(stderr, '');
    assert.deepEqual(await exitEvent(stream), { code: 3, signal: null });
    assert.deepEqual(named(stream.events, 'stdout'), ['about to fail']);
    assert.deepEqual(named(stream.events, 'stderr'), ['oops']);
  });

  test('a command that does not exist: exit 127, a clear message, and the exit event with code 127', async () => {
    const { topic, stream } = await listen();
    const { code, stderr } = await run(['pipe', topic, '--url', hub.url, '--', 'ssehub-no-such-command-xyz', '--flag']).result;
    assert.equal(code, 127);
    assert.match(stderr, /^ssehub: cannot run "ssehub-no-such-command-xyz": command not found \(ENOENT\)\n$/);
    assert.deepEqual(await exitEvent(stream), { code: 127, signal: null });
    assert.equal(stream.events.length, 1);
  });

  test('lines reach subscribers while the command is still running', async () => {
    const { topic, stream } = await listen();
    const gate = join(dir, 'gate-1');
    // The command prints a line, then waits for a file that the test creates only once the
    // subscriber has seen that line: if lines were held until the end, this would never finish.
    const script = `
      const fs = require('node:fs');
      console.log('first');
      const giveUp = Date.now() + 20000;
      const timer = setInterval(() => {
        if (fs.existsSync(${JSON.stringify(gate)})) { clearInterval(timer); console.log('second'); }
        else if (Date.now() > giveUp) { clearInterval(timer); console.error('gate never opened'); process.exitCode = 9; }
      }, 10);
    `;
    const piping = run(['pipe', topic, '--url', hub.url, '--', ...nodeScript(script)]);
    await stream.waitUntil(() => named(stream.events, 'stdout').includes('first'), 15_000, 'the first line');
    assert.equal(piping.child.exitCode, null, 'ssehub pipe is still running');
    assert.equal(named(stream.events, 'exit').length, 0);
    writeFileSync(gate, '');
    const { code, stderr } = await piping.result;
    assert.equal(code, 0, stderr);
    assert.deepEqual(await exitEvent(stream), { code: 0, signal: null });
    assert.deepEqual(named(stream.events, 'stdout'), ['first', 'second']);
  });

  test('fast output: thousands of lines arrive complete and in order', async () => {
    const { topic, stream } = await listen();
    const script = `for (let i = 0; i < 3000; i++) console.log('line ' + i); for (let i = 0; i < 500; i++) console.error('e' + i);`;
    const { code, stderr } = await run(['pipe', topic, '--quiet', '--url', hub.url, '--', ...nodeScript(script)]).result;
    assert.equal(code, 0, stderr);
    assert.deepEqual(await exitEvent(stream), { code: 0, signal: null });
    assert.deepEqual(
      named(stream.events, 'stdout'),
      Array.from({ length: 3000 }, (_, i) => `line ${i}`),
    );
    assert.deepEqual(
      named(stream.events, 'stderr'),
      Array.from({ length: 500 }, (_, i) => `e${i}`),
    );
  });

  test('killed by a signal: exit 128 + its number, and the signal in the exit event', async () => {
    const { topic, stream } = await listen();
    const { code } = await run(['pipe', topic, '--url', hub.url, '--', ...nodeScript(`process.kill(process.pid, 'SIGTERM')`)]).result;
    assert.equal(code, 143);
    assert.deepEqual(await exitEvent(stream), { code: 143, signal: 'SIGTERM' });
  });

  test('SIGTERM and SIGINT are passed on to the command', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const { topic, stream } = await listen();
      const script = `
        process.on(${JSON.stringify(signal)}, () => { console.log('got ${signal}'); process.exit(5); });
        console.log('ready');
        setTimeout(() => process.exit(1), 20000);
      `;
      const piping = run(['pipe', topic, '--url', hub.url, '--', ...nodeScript(script)]);
      await stream.waitUntil(() => named(stream.events, 'stdout').includes('ready'), 15_000, 'ready');
      piping.child.kill(signal);
      const { code, stderr } = await piping.result;
      assert.equal(code, 5, `${signal}: ${stderr}`);
      assert.deepEqual(await exitEvent(stream), { code: 5, signal: null });
      assert.deepEqual(named(stream.events, 'stdout'), ['ready', `got ${signal}`]);
    }
  });

  test("the command reads ssehub's stdin", async () => {
    const { topic, stream } = await listen();
    const { code } = await run(['pipe', topic, '--quiet', '--url', hub.url, '--', ...nodeScript('process.stdin.pipe(process.stdout)')], {
      input: 'from stdin\n',
    }).result;
    assert.equal(code, 0);
    await exitEvent(stream);
    assert.deepEqual(named(stream.events, 'stdout'), ['from stdin']);
  });

  test('an unreachable hub: the command still runs to its end; the failure is reported at the end and the status is 1', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const marker = join(dir, 'ran');
    const script = `console.log('working'); require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'yes'); console.log('done')`;
    const { code, stdout, stderr } = await run(['pipe', 'pipe/nowhere', '--url', `http://127.0.0.1:${port}`, '--', ...nodeScript(script)]).result;
    assert.equal(code, 1);
    assert.equal(stdout, 'working\ndone\n');
    assert.match(stderr, /^ssehub: publishing to pipe\/nowhere failed: .*ECONNREFUSED.*; 3 of 3 events \(lines and the exit event\) were not sent\n$/);
    assert.equal((await import('node:fs')).readFileSync(marker, 'utf8'), 'yes');
  });

  test('a refused publish (invalid topic): the command runs, its non-zero status wins', async () => {
    const { code, stdout, stderr } = await run(['pipe', 'bad//topic', '--url', hub.url, '--', ...nodeScript(`console.log('hi'); process.exit(4)`)]).result;
    assert.equal(code, 4);
    assert.equal(stdout, 'hi\n');
    assert.match(stderr, /publishing to bad\/\/topic failed: .*\(invalid_topic\)/);
  });

  test('bad arguments exit 2', async () => {
    for (const args of [['pipe'], ['pipe', 't', 'echo', 'hi'], ['pipe', 't', '--'], ['pipe', '--', 'echo'], ['pipe', 't', '--bogus', '--', 'echo']]) {
      const { code, stderr } = await run(args).result;
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /^ssehub: /);
    }
    // --help after -- belongs to the command, not to ssehub.
    const { topic, stream } = await listen();
    const { code, stdout } = await run(['pipe', topic, '--url', hub.url, '--', ...nodeScript('console.log(process.argv.slice(1).join(" "))'), 'arg', '--help']).result;
    assert.equal(code, 0);
    assert.equal(stdout, 'arg --help\n');
    await exitEvent(stream);
  });
});
