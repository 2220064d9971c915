/**
 * The logs demo over real HTTP: a real child process's stdout and stderr lines, in order, then its
 * exit code; the child is gone when it is done, and killed when the hub closes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub, userEventsRetained } from '../support/hub.js';
import { childrenWith, follow, postDemo } from './support.js';

const MARKER = 'deploy 4812'; // in the child's script, so on its command line

describe('demo: logs', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true });
  });
  after(() => hub.close());

  test('lines of a real child process, stdout and stderr, in order, then exit with code 0', async () => {
    const reply = await postDemo(hub.url, 'logs');
    assert.equal(reply.status, 202, reply.text);
    const { run, topic, lastEventId } = reply.json() as { run: string; topic: string; lastEventId: string };
    assert.equal(topic, `demo/logs/${run}`);
    const stream = await follow(hub.url, [topic], lastEventId);
    await stream.waitUntil(() => stream.events.some((e) => e.type === 'line'), 5000, 'a first line');
    assert.equal((await childrenWith(MARKER)).length, 1, 'a child process of the hub prints them');

    await stream.waitUntil(() => stream.events.some((e) => e.type === 'exit'), 15_000, 'exit');
    const events = stream.events;
    assert.deepEqual(events.at(-1)!.type, 'exit');
    assert.deepEqual(JSON.parse(events.at(-1)!.data), { code: 0 });
    const lines = events.slice(0, -1).map((e) => {
      assert.equal(e.type, 'line');
      return JSON.parse(e.data) as { stream: string; text: string };
    });
    assert.equal(lines.length, 40);
    const format = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (INFO |WARN |ERROR) \S/;
    for (const line of lines) {
      const match = format.exec(line.text);
      assert.ok(match, line.text);
      assert.equal(line.stream, match[2] === 'INFO ' ? 'stdout' : 'stderr', line.text);
    }
    assert.ok(lines.filter((l) => l.stream === 'stderr').length >= 3, 'some lines on stderr');
    assert.ok(lines.filter((l) => l.stream === 'stdout').length >= 20, 'most on stdout');
    // In the order the child printed them, over the seconds it ran.
    const times = lines.map((l) => Date.parse(format.exec(l.text)![1]!));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, `line ${i} out of order`);
    assert.ok(times.at(-1)! - times[0]! >= 3000, 'printed over about 4 s');
    assert.match(lines[0]!.text, /deploy 4812 started/);
    assert.match(lines.at(-1)!.text, /finished/);
    assert.deepEqual(await childrenWith(MARKER), [], 'the child is gone');
    stream.close();
  });

  test('closing the hub kills a running child and publishes nothing more', async () => {
    const own = await startTestHub({ demos: true });
    const reply = await postDemo(own.url, 'logs');
    assert.equal(reply.status, 202, reply.text);
    const { topic, lastEventId } = reply.json() as { topic: string; lastEventId: string };
    const stream = await follow(own.url, [topic], lastEventId);
    await stream.waitForEvents(3, 5000);
    assert.equal((await childrenWith(MARKER)).length, 1);
    await own.close();
    const retained = await userEventsRetained(own.hub);
    for (let i = 0; i < 50 && (await childrenWith(MARKER)).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await childrenWith(MARKER), [], 'the child was killed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await userEventsRetained(own.hub), retained, 'nothing published after close');
    assert.ok(!stream.events.some((e) => e.type === 'exit'));
  });
});
