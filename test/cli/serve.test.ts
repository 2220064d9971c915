import assert from 'node:assert/strict';
import { describeEngine } from '../../src/cli/serve.js';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { OPTIONS } from '../../src/config.js';
import { freePort, processAlive, spawnHub } from '../support/hub.js';
import { httpRequest, openStream, publish } from '../support/http.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const run = promisify(execFile);
const ssehub = (...args: string[]) => run(process.execPath, [CLI, ...args]);

describe('ssehub serve', () => {
  test('--help lists every option with its environment variable', async () => {
    const { stdout } = await ssehub('serve', '--help');
    for (const option of OPTIONS) {
      assert.ok(stdout.includes(`--${option.flag}`), option.flag);
      assert.ok(stdout.includes(option.env), option.env);
    }
    const top = await ssehub('--help');
    assert.match(top.stdout, /serve/);
  });

  test('a bad flag, an HS256 secret under 32 bytes or an unknown command exits 2 with a message', async () => {
    await assert.rejects(ssehub('serve', '--port', 'x'), (error: any) => error.code === 2 && /--port/.test(error.stderr));
    await assert.rejects(ssehub('frobnicate'), (error: any) => error.code === 2 && /unknown command/.test(error.stderr));
    await assert.rejects(ssehub('serve', '--port', '0', '--jwt-secret', 'short'), (error: any) => error.code === 2 && /at least 32/.test(error.stderr) && /openssl rand -base64 32/.test(error.stderr));
  });

  for (const workers of [[], ['--workers', '2']]) {
    test(`a port in use is one line naming it and how to choose another, and a non-zero exit${workers.length ? ' (--workers 2)' : ''}`, async () => {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const { port } = blocker.address() as AddressInfo;
      try {
        await assert.rejects(ssehub('serve', '--port', String(port), '--log-level', 'warn', ...workers), (error: any) => {
          assert.notEqual(error.code, 0);
          const lines = (error.stderr as string).trim().split('\n');
          assert.equal(lines.length, 1, error.stderr);
          assert.match(lines[0]!, new RegExp(`^ssehub: port ${port} on 127\\.0\\.0\\.1 is already in use`));
          assert.match(lines[0]!, /--port <n> \(or SSEHUB_PORT=<n>\)/);
          return true;
        });
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    });
  }

  test('an engine server that cannot be reached at start is a clear error, not a hang', async () => {
    for (const url of ['redis://127.0.0.1:1', 'nats://127.0.0.1:1', 'postgres://postgres@127.0.0.1:1/test']) {
      await assert.rejects(
        ssehub('serve', '--port', '0', '--engine', url),
        (error: any) => error.code !== 0 && /engine cannot be reached/.test(error.stderr),
        url,
      );
    }
  });

  test('the engine it prints never shows a password', () => {
    assert.equal(describeEngine('redis://user:hunter2@cache:6379'), 'redis://user:***@cache:6379');
    assert.equal(describeEngine('memory'), 'memory');
  });

  test('prints its URL, serves, and reads settings from the environment', async () => {
    const hub = await spawnHub([], { env: { SSEHUB_RETRY: '750ms' } });
    try {
      assert.match(hub.output(), /ssehub listening on http:\/\/127\.0\.0\.1:\d+ \(engine: memory\)/);
      const stream = await openStream(`${hub.url}/topics/cli`);
      await stream.waitUntil(() => stream.retries.length > 0, 5000, 'retry');
      assert.deepEqual(stream.retries, [750]);
      await publish(hub.url, 'cli', 'hi');
      assert.equal((await stream.waitForEvents(1))[0]!.data, 'hi');
      stream.close();
    } finally {
      await hub.stop();
    }
  });

  test('--metrics-listen with --workers 2: printed, shared by the workers, each scrape answered by one of them', async () => {
    const metricsPort = await freePort();
    const hub = await spawnHub(['--workers', '2', '--jwt-secret', 'serve-secret-serve-secret-serve-secret', '--metrics-listen', `127.0.0.1:${metricsPort}`]);
    try {
      assert.match(hub.output(), new RegExp(`ssehub metrics on http://127\\.0\\.0\\.1:${metricsPort} `));
      const instances = new Set<string>();
      // Each request on a connection of its own: node:cluster hands connections to the workers in turn.
      for (let i = 0; i < 20 && instances.size < 2; i++) {
        const reply = await httpRequest(`http://127.0.0.1:${metricsPort}/stats`);
        assert.equal(reply.status, 200, reply.text);
        instances.add(reply.json().instance as string);
      }
      assert.equal(instances.size, 2, 'both workers answer on the metrics port');
      assert.equal((await httpRequest(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200);
      assert.equal((await httpRequest(`${hub.url}/metrics`)).status, 401, 'the main port asks for the admin grant');
    } finally {
      await hub.stop();
    }
    await assert.rejects(httpRequest(`http://127.0.0.1:${metricsPort}/livez`), { code: 'ECONNREFUSED' });
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: stops accepting, ends open streams, exits 0`, async () => {
      const hub = await spawnHub(['--shutdown-timeout', '20s']);
      const streams = await Promise.all([1, 2, 3].map(() => openStream(`${hub.url}/topics/bye`)));
      assert.equal((await httpRequest(`${hub.url}/stats`)).json().connections, 3);
      const started = Date.now();
      hub.child.kill(signal);
      await Promise.all(streams.map((stream) => stream.ended)); // ended by the hub: clients reconnect elsewhere
      const code = await hub.exited;
      assert.equal(code, 0, hub.output());
      // Streams are ended, not left to the 20 s shutdown timeout to cut.
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      await assert.rejects(httpRequest(`${hub.url}/healthz`), /ECONNREFUSED/);
    });
  }

  test('a client that holds a request open cannot keep the hub from exiting', async () => {
    const hub = await spawnHub(['--shutdown-timeout', '500ms', '--request-timeout', '60s']);
    const { port } = new URL(hub.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    // A publish whose body never finishes arriving.
    socket.write('POST /topics/slow HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc');
    await new Promise((resolve) => setTimeout(resolve, 200));
    hub.child.kill('SIGTERM');
    assert.equal(await hub.exited, 0, hub.output());
    assert.match(hub.output(), /shutdown timeout/);
    socket.destroy();
  });

  for (const workers of [[], ['--workers', '2']]) {
    test(`npx ssehub serve: SIGTERM to the npx process stops the hub${workers.length ? ' (--workers 2)' : ''}`, { timeout: 60_000 }, async () => {
      // A project with ssehub's bin in node_modules/.bin, as after npm install; the bin notes its pid.
      const project = mkdtempSync(join(tmpdir(), 'ssehub-npx-'));
      const pidFile = join(project, 'hub.pid');
      mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
      writeFileSync(join(project, 'package.json'), '{"name":"app","version":"1.0.0","private":true}');
      const bin = join(project, 'node_modules', '.bin', 'ssehub');
      writeFileSync(bin, `#!/bin/sh\necho $$ > '${pidFile}'\nexec '${process.execPath}' '${CLI}' "$@"\n`);
      chmodSync(bin, 0o755);
      const npx = spawn('npx', ['ssehub', 'serve', '--port', '0', '--log-level', 'warn', '--stats-interval', '0', ...workers], {
        cwd: project,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      npx.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // stdout ends when every process holding it has exited: npm, its shell, and the hub.
      const ended = once(npx.stdout!, 'end');
      npx.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        while (!/listening on/.test(output)) await Promise.race([once(npx.stdout!, 'data'), ended.then(() => assert.fail(`npx ended:\n${output}`))]);
        const hubPid = Number(readFileSync(pidFile, 'utf8'));
        assert.notEqual(hubPid, npx.pid, 'npx runs the hub in a process of its own');
        npx.kill('SIGTERM');
        // A cap, so that a hub that runs on fails the test instead of holding the pipe (and the run) open.
        let cap: NodeJS.Timeout | undefined;
        await Promise.race([ended, new Promise((_, reject) => (cap = setTimeout(() => reject(new Error(`the hub still runs:\n${output}`)), 20_000)))]);
        clearTimeout(cap);
        assert.equal(processAlive(hubPid), false, output);
        assert.match(output, /has exited; stopping/);
      } finally {
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
        } catch {
          // already gone
        }
        npx.stdout!.destroy();
        npx.stderr!.destroy();
        rmSync(project, { recursive: true, force: true });
      }
    });
  }

  test('under npm, a hub whose shell is left waiting for it (npm itself killed) stops too', { timeout: 60_000 }, async () => {
    // npm (here: a shell run under the name npm, which is what the hub looks for) runs a shell that
    // runs the hub and waits for it; npm dies by SIGKILL, passing nothing on. The hub's own parent
    // is still there: its grandparent is not.
    const folder = mkdtempSync(join(tmpdir(), 'ssehub-npm-killed-'));
    const npmStandIn = join(folder, 'npm');
    symlinkSync('/bin/sh', npmStandIn);
    const pidFile = join(folder, 'hub.pid');
    // \$! is the inner shell's: the outer one passes it on unexpanded.
    const inner = `'${process.execPath}' '${CLI}' serve --port 0 --log-level warn --stats-interval 0 & echo \\$! > '${pidFile}'; wait`;
    const npm = spawn(npmStandIn, ['-c', `sh -c "${inner}" & wait`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_command: 'start' } });
    let output = '';
    npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ended = once(npm.stderr!, 'end');
    let hubPid: number | undefined;
    try {
      while (!/listening on/.test(output)) await once(npm.stdout!, 'data');
      hubPid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(hubPid > 0, `the hub's pid, not ${JSON.stringify(readFileSync(pidFile, 'utf8'))}`);
      npm.kill('SIGKILL');
      const deadline = Date.now() + 20_000;
      while (processAlive(hubPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const chain = (pid: number): string => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          return `${pid}(${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}) <- ${ppid > 1 ? chain(ppid) : ppid}`;
        } catch {
          return `${pid}(gone)`;
        }
      };
      assert.equal(processAlive(hubPid), false, `the hub still runs: ${chain(hubPid)}\n${output}`);
      await ended; // every writer of the pipes has exited: what the hub said is all in
      assert.match(output, /has exited; stopping/);
    } finally {
      if (hubPid !== undefined && processAlive(hubPid)) process.kill(hubPid, 'SIGKILL');
      npm.stdout!.destroy();
      npm.stderr!.destroy();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
