#!/usr/bin/env node
/**
 * `npm test`'s runner: every test/**\/*.test.ts file, in two passes of node's test runner. Files
 * that are safe next to others run two at a time; the files listed in SERIAL run afterwards, one at
 * a time, each for the reason given. Both passes always run. The output ends with the summary of
 * both together, in node's own "# pass N" form, then "N passed, N failed" alone on a line; the exit
 * code is non-zero if either pass failed.
 *
 *   node scripts/run-tests.mjs [file …]     (no files: the whole suite)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Files that must not share the machine with another test file, and why. */
const SERIAL = {
  'test/bench/run.test.ts': 'the benchmark: fixed ports from 18300, saturates both cores, writes bench/profiles/',
  'test/integration/engine-restart.test.ts': 'kills and restarts Redis and NATS servers under load; its failover waits are timed',
  'test/integration/nginx.test.ts': 'nginx instances and failover through them under load',
  'test/integration/cluster.test.ts': 'three hubs per engine, failover timing',
  'test/client/hub-restart.test.ts': 'a hub process restarted while publishing: reconnect timing',
  'test/cluster/worker.test.ts': 'worker processes killed and restarted: respawn timing',
  'test/cluster/limits.test.ts': 'worker processes sharing limits: several hub processes at once',
  'test/http/node/fast-publish.test.ts': 'keep-alive and headers timeouts measured, socket backpressure loops',
  'test/e2e/cross-site.test.ts': 'Chromium',
  'test/e2e/dashboard.test.ts': 'Chromium',
  'test/e2e/demos.test.ts': 'Chromium',
  'test/e2e/client-connect.test.ts': 'Chromium',
  'test/e2e/restart.test.ts': 'Chromium across a hub restart',
  'test/e2e/six-connections.test.ts': 'Chromium',
  'test/react/use-subscription.test.ts': 'Chromium',
  'test/docs/readme-tour.test.ts': 'Chromium, and the CLI started several times',
  'test/package.test.ts': 'npm pack rebuilds dist/, which the benchmark and CLI tests run',
  'test/cli/serve.test.ts': 'npx-started hubs in a temp project; processes counted',
  'test/cluster/primary.test.ts': 'worker processes killed and counted',
  'test/integration/embedded-cluster.test.ts': 'app processes killed and resumed on Redis',
  'test/integration/history-budget.test.ts': 'floods a hub with 300 MiB and reads its RSS',
};
const CONCURRENCY = 2;

const allFiles = () =>
  readdirSync('test', { recursive: true })
    .map((name) => join('test', String(name)))
    .filter((name) => name.endsWith('.test.ts'))
    .sort();

const files = process.argv.length > 2 ? process.argv.slice(2) : allFiles();
const serial = files.filter((file) => file in SERIAL);
const parallel = files.filter((file) => !(file in SERIAL));
for (const file of Object.keys(SERIAL)) if (process.argv.length <= 2 && !files.includes(file)) console.error(`run-tests: ${file} is listed in SERIAL but does not exist`);

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

/** Runs one pass; resolves with its exit code and the counts of its summary lines. */
function pass(list, concurrency) {
  return new Promise((resolve) => {
    if (list.length === 0) return resolve({ code: 0, counts: {} });
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...list], { stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4096);
    });
    child.on('exit', (code, signal) => {
      const counts = {};
      for (const key of KEYS) {
        const match = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(tail);
        if (match) counts[key] = Number(match[1]);
      }
      // A pass that ended without its summary counts as failed.
      resolve({ code: code ?? (signal ? 1 : 0), counts: counts.fail === undefined ? { ...counts, fail: (counts.fail ?? 0) + 1 } : counts });
    });
  });
}

const started = Date.now();
const results = [await pass(parallel, CONCURRENCY), await pass(serial, 1)];
const total = Object.fromEntries(KEYS.map((key) => [key, results.reduce((sum, result) => sum + (result.counts[key] ?? 0), 0)]));
console.log(`# both passes: ${parallel.length} files ${CONCURRENCY} at a time, then ${serial.length} one at a time`);
for (const key of KEYS) console.log(`# ${key} ${total[key]}`);
console.log(`# duration_ms ${Date.now() - started}`);
console.log(`${total.pass} passed, ${total.fail} failed`);
process.exitCode = results.some((result) => result.code !== 0) || total.fail > 0 ? 1 : 0;
