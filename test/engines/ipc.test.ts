/**
 * The IpcEngine (a worker's engine under `ssehub serve --workers N`) against the engine contract,
 * over real IPC: each namespace is a child process holding a MemoryEngine behind an IpcEngineHost,
 * as the primary does, and instances on one namespace are IpcEngines on that child's channel.
 * Then what only a remote engine can do: errors that cross the channel, a primary that stops
 * answering, and one that dies.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import type { LimitSettings } from '../../src/auth/limits.js';
import { HubError } from '../../src/errors.js';
import { IpcEngine } from '../../src/engines/ipc.js';
import { childPort } from '../../src/engines/ipc-protocol.js';
import type { EngineSettings } from '../../src/engines/settings.js';
import { parseSelector, type Selector } from '../../src/topics/index.js';
import { moduleProcess } from '../support/checkout.js';
import { describeEngineContract } from './contract.js';

const HOST = moduleProcess(new URL('../support/ipc-engine-host.ts', import.meta.url));
const children: ChildProcess[] = [];
const hosts = new Map<string, Promise<ChildProcess>>();

/** A child process serving a MemoryEngine over its IPC channel. */
async function startHost(settings: EngineSettings, limits?: LimitSettings): Promise<ChildProcess> {
  const args = limits === undefined ? [JSON.stringify(settings)] : [JSON.stringify(settings), JSON.stringify(limits)];
  const child = fork(HOST.file, args, { execArgv: HOST.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child;
}

after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describeEngineContract('ipc', {
  shared: true,
  open: async (settings) => {
    let host = hosts.get(settings.namespace);
    if (host === undefined) {
      host = startHost(settings);
      hosts.set(settings.namespace, host);
    }
    return IpcEngine.open({ port: childPort(await host) });
  },
});

const settings = { historyMaxEvents: 100, historyMaxAgeMs: 3_600_000, namespace: 'unused' };

describe('IpcEngine over a real channel', () => {
  test('an engine error comes back as the same HubError: status, code and message', async () => {
    const host = await startHost(settings);
    const engine = await IpcEngine.open({ port: childPort(host) });
    try {
      // The worker checked nothing here: the primary parses the selector's source again, and refuses it.
      const bad = { kind: 'exact', source: 'a//b', topic: 'a//b' } as Selector;
      const expected = (() => {
        try {
          parseSelector('a//b');
        } catch (error) {
          return error as HubError;
        }
        throw new Error('a//b parsed');
      })();
      await assert.rejects(engine.history([bad], '0'), (error: unknown) => {
        assert.ok(error instanceof HubError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.code, 'invalid_topic');
        assert.equal(error.message, expected.message);
        return true;
      });
      // And a good one still works on the same channel.
      const [stored] = await engine.append([{ topic: 'ok', data: 'x' }]);
      const history = await engine.history([parseSelector('ok')], '0');
      assert.deepEqual(history.events.map((event) => event.id), [stored!.id]);
    } finally {
      await engine.close();
      host.kill('SIGKILL');
    }
  });

  test('with the primary\'s limits, an append carries its rate charge, and one over the rate is refused whole, storing nothing', async () => {
    const plain = await startHost(settings);
    const unlimited = await IpcEngine.open({ port: childPort(plain) });
    assert.equal(unlimited.checksPublishCharges, false, 'a host without limits checks no charge');
    await unlimited.close();
    plain.kill('SIGKILL');

    const limits: LimitSettings = { maxStreamsPerIp: 0, maxStreamsPerSubject: 0, publishRate: 1, publishBurst: 3, publishBytesRate: 0, publishBytesBurst: 0, rateLimitSubjects: false };
    const host = await startHost(settings, limits);
    const engine = await IpcEngine.open({ port: childPort(host) });
    try {
      assert.equal(engine.checksPublishCharges, true);
      const charge = (events: number) => ({ charge: { key: 'ip:192.0.2.1', events, bytes: events } });
      await engine.append([{ topic: 'charged', data: '1' }, { topic: 'charged', data: '2' }], charge(2));
      await assert.rejects(
        engine.append([{ topic: 'charged', data: '3' }, { topic: 'charged', data: '4' }], charge(2)),
        (error: unknown) => error instanceof HubError && error.status === 429 && error.code === 'rate_limited' && error.headers?.['Retry-After'] !== undefined,
      );
      await engine.append([{ topic: 'charged', data: '5' }], charge(1));
      const history = await engine.history([parseSelector('charged')], '0');
      assert.deepEqual(history.events.map((event) => event.data), ['1', '2', '5']);
    } finally {
      await engine.close();
      host.kill('SIGKILL');
    }
  });

  test('a primary that stops answering: requests fail with 503 after their timeout, health says why, and it recovers', async () => {
    const host = await startHost(settings);
    const ready = await IpcEngine.open({ port: childPort(host) }); // the child has loaded and answers
    await ready.close();
    const engine = await IpcEngine.open({ port: childPort(host), requestTimeoutMs: 300 });
    try {
      host.kill('SIGSTOP');
      await assert.rejects(engine.position(), (error: unknown) => error instanceof HubError && error.status === 503 && error.code === 'engine_unavailable');
      await assert.rejects(engine.kv.get('k'), (error: unknown) => error instanceof HubError && error.code === 'engine_unavailable');
      const health = await engine.health(200);
      assert.equal(health.ok, false);
      assert.match(health.detail ?? '', /no answer within 200 ms/);
      host.kill('SIGCONT');
      // The late replies to the requests that timed out are ignored; new requests are answered.
      const [stored] = await engine.append([{ topic: 'back', data: 'y' }]);
      assert.equal(engine.compareIds(await engine.position(), stored!.id), 0);
      assert.equal((await engine.health()).ok, true);
    } finally {
      host.kill('SIGCONT');
      await engine.close();
      host.kill('SIGKILL');
    }
  });

  test('a primary that dies: waiting and later requests fail with 503 at once, health is not ok, nothing hangs', async () => {
    const host = await startHost(settings);
    const engine = await IpcEngine.open({ port: childPort(host), requestTimeoutMs: 60_000 });
    try {
      host.kill('SIGSTOP');
      // Failed by the channel closing, long before the 60 s timeout.
      const waiting = assert.rejects(
        engine.append([{ topic: 't', data: 'lost?' }]),
        (error: unknown) => error instanceof HubError && error.status === 503 && /primary process is gone/.test(error.message),
      );
      const exited = new Promise((resolve) => host.once('exit', resolve));
      host.kill('SIGKILL');
      await exited;
      await waiting;
      await assert.rejects(engine.history([parseSelector('t')], '0'), (error: unknown) => error instanceof HubError && error.code === 'engine_unavailable');
      await assert.rejects(engine.kv.setOnce('k', 'v', 1000), (error: unknown) => error instanceof HubError && error.code === 'engine_unavailable');
      const health = await engine.health();
      assert.equal(health.ok, false);
    } finally {
      await engine.close();
    }
  });

  test('stats are the primary\'s figures, kept fresh by replies', async () => {
    const host = await startHost(settings);
    const engine = await IpcEngine.open({ port: childPort(host) });
    try {
      await engine.append([{ topic: 's/1', data: 'a' }, { topic: 's/2', data: 'b' }, { topic: 's/1', data: 'c' }]);
      assert.deepEqual(engine.stats(), { topics: 2, retainedEvents: 3, retainedBytes: 3 * (1 + 200), evictedForBudget: 0 });
    } finally {
      await engine.close();
      host.kill('SIGKILL');
    }
  });
});
