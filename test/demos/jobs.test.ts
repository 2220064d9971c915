/** The jobs demo over real HTTP: each job's progress 0..100 in steps of 10, in order, then done. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { follow, postDemo } from './support.js';

describe('demo: jobs', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true });
  });
  after(() => hub.close());

  test('each job reports 0, 10, … 100 on demo/jobs/<id>, in order, then done', async () => {
    const started = Date.now();
    const reply = await postDemo(hub.url, 'jobs', { jobs: 3 });
    assert.equal(reply.status, 202, reply.text);
    const { jobs, lastEventId } = reply.json() as { jobs: string[]; lastEventId: string };
    assert.equal(jobs.length, 3);
    assert.equal(new Set(jobs).size, 3, 'every job has its own id');
    for (const job of jobs) assert.match(job, /^[0-9a-f]{12}$/);
    // Open the stream late on purpose: what was published before is replayed from lastEventId.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const stream = await follow(hub.url, jobs.map((job) => `demo/jobs/${job}`), lastEventId);
    await stream.waitUntil(() => stream.events.filter((e) => e.type === 'done').length === 3, 30_000, 'three done events');
    const elapsed = Date.now() - started;
    for (const job of jobs) {
      const mine = stream.events.filter((e) => JSON.parse(e.data).job === job);
      assert.deepEqual(
        mine.map((e) => [e.type, e.data]),
        [
          ...Array.from({ length: 11 }, (_, i) => ['progress', JSON.stringify({ job, percent: i * 10 })]),
          ['done', JSON.stringify({ job })],
        ],
      );
    }
    // Twelve steps of at least 120 ms each: paced, not sent at once. (Timers never fire early, so
    // this bound holds on any machine; how late a loaded machine runs them is not checked.)
    assert.ok(elapsed >= 12 * 120 - 50, `took ${elapsed} ms`);
    stream.close();
  });

  test('an empty body starts one job', async () => {
    const reply = await postDemo(hub.url, 'jobs');
    assert.equal(reply.status, 202, reply.text);
    const { jobs, lastEventId } = reply.json() as { jobs: string[]; lastEventId: string };
    assert.equal(jobs.length, 1);
    const stream = await follow(hub.url, [`demo/jobs/${jobs[0]}`], lastEventId);
    await stream.waitUntil(() => stream.events.some((e) => e.type === 'done'), 10_000, 'done');
    assert.equal(stream.events.length, 12);
    stream.close();
  });
});
