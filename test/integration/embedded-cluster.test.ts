/**
 * Embedded hubs form one cluster exactly as standalone ones: two Express app processes
 * (test/fixtures/embedded-app.ts), each with createHub on the same Redis namespace and its own
 * authorize(). A subscriber on app A gets what app B publishes, in process and over HTTP; when A is
 * killed, the subscriber resumes on B with its Last-Event-ID and loses nothing published meanwhile.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { moduleProcess } from '../support/checkout.js';
import { httpRequest, openStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { redisService } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const FIXTURE = moduleProcess(new URL('../fixtures/embedded-app.ts', import.meta.url));
const redis = await redisService();

interface App {
  url: string;
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
}

async function startApp(engine: string, namespace: string): Promise<App> {
  const child = spawn(process.execPath, [...FIXTURE.execArgv, FIXTURE.file, engine, namespace], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start:\n${output}`)), 20_000);
    const look = (): void => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve(match[1]!);
    };
    child.stdout!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited with ${code} before listening:\n${output}`));
    });
  });
  return { url, child, exited, output: () => output };
}

describeUnlessSkipped('two Express apps with embedded hubs on one Redis namespace', { skip: redis.skipReason() }, () => {
  const namespace = freshNamespace('embed');
  const apps: App[] = [];
  after(async () => {
    for (const app of apps) if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
    await Promise.all(apps.map((app) => app.exited));
    await removeNamespace('redis', redis.url, namespace);
  });

  test(`the Redis server answers at ${redis.url}`, () => {
    assert.ok(redis.reachable, `Redis is not reachable at ${redis.url}`);
  });

  test("one cluster: A's subscriber gets B's publishes in order, and resumes on B, losing nothing, when A is killed", async () => {
    const [a, b] = await Promise.all([startApp(redis.url, namespace), startApp(redis.url, namespace)]);
    apps.push(a!, b!);
    const alice = { 'x-user': 'alice' };
    const ops = { 'x-user': 'ops' };
    const published: Array<{ id: string; data: string }> = [];
    /** Publishes on B, alternating its in-process hub.publish route and the hub's own HTTP route. */
    const publishOnB = async (n: number): Promise<void> => {
      const data = `${n % 2 === 0 ? 'in-process' : 'http'}:${n}`;
      const reply =
        n % 2 === 0
          ? await httpRequest(`${b!.url}/orders/1/notes`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: data })
          : await httpRequest(`${b!.url}/realtime/topics/orders/1?event=note`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...ops }, body: data });
      assert.equal(reply.status, 201, `${data}: ${reply.text}\n${b!.output()}`);
      published.push({ id: reply.json().id, data });
    };

    // The app's authorize() is asked on each instance: without a session, no stream.
    const refused = await httpRequest(`${a!.url}/realtime/topics/orders/1`);
    assert.equal(refused.status, 401);

    const onA = await openStream(`${a!.url}/realtime/topics/orders/1`, alice);
    for (let n = 0; n < 6; n++) await publishOnB(n);
    await onA.waitForEvents(6, 10_000);
    assert.deepEqual(
      onA.events.map((event) => [event.lastEventId, event.data]),
      published.map(({ id, data }) => [id, data]),
      'every publish on B reached A, in order',
    );

    a!.child.kill('SIGKILL');
    await a!.exited;
    await onA.ended;
    for (let n = 6; n < 10; n++) await publishOnB(n);

    const onB = await openStream(`${b!.url}/realtime/topics/orders/1`, { ...alice, 'Last-Event-ID': onA.lastEventId() });
    await onB.waitForEvents(4, 10_000);
    await publishOnB(10);
    await onB.waitForEvents(5, 10_000);
    onB.close();
    const received = [...onA.events, ...onB.events];
    assert.deepEqual(
      received.map((event) => [event.lastEventId, event.data, event.type]),
      published.map(({ id, data }) => [id, data, 'note']),
      'each event exactly once, in order, across the failover',
    );
  });
});
