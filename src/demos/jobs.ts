/**
 * The jobs demo: a simulated background job that reports its progress. On `demo/jobs/<id>`:
 * `progress` events `{"job":"<id>","percent":p}` for p = 0, 10, …, 100, one every step, then one
 * `done` event `{"job":"<id>"}`. Each job gets its own step (about 150 ms, jittered) so that jobs
 * started together visibly move at different paces.
 */
import type { DemoTask } from './runner.js';

export const JOBS_TOPIC_PREFIX = 'demo/jobs/';
export const MAX_JOBS_PER_REQUEST = 5;

/** A step between 120 and 180 ms: about 150 ms, different for each job. */
export function jobStepMs(random: () => number = Math.random): number {
  return 120 + Math.round(random() * 60);
}

export function jobTask(job: string, stepMs: number = jobStepMs()): DemoTask {
  return async ({ publish, sleep }) => {
    for (let percent = 0; percent <= 100; percent += 10) {
      await sleep(stepMs);
      await publish('progress', { job, percent });
    }
    await sleep(stepMs);
    await publish('done', { job });
  };
}
