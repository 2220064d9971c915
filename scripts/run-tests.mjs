#!/usr/bin/env node
/**
 * `npm test`'s runner: every test/**\/*.test.ts file, compiled once (scripts/test-tree.mjs), each in
 * a `node --test` process of its own, SLOTS files at a time. A file runs beside any other, but for
 * the groups below: at most one of the browser group at a time (Chromium is heavy), one of the
 * processes group, and the ALONE files last, one at a time, with nothing beside them; each listed
 * file with its reason. The longest files start first (LONG_FIRST), so the run does not end on one
 * long file alone. Each file's output is printed when it ends; the output ends with the summary of
 * all, in node's own "# pass N" form, the ten slowest files, then "N passed, N failed" alone on a
 * line; the exit code is non-zero if any file failed.
 *
 *   node scripts/run-tests.mjs [file …]     (no files: the whole suite)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestTree } from './test-tree.mjs';

/**
 * Files that are limited in what runs beside them, and why: Chromium's pages (and the benchmark's
 * smoke run, as heavy), one at a time; the tests that start, kill and count hub, worker, nginx or
 * engine-server processes of their own (each on its own spare ports; their failovers are timed by
 * the servers they kill), one at a time; the ALONE files
 * last, with nothing beside them.
 */
const GROUPS = {
  browser: {
    'test/e2e/cross-site.test.ts': 'Chromium',
    'test/e2e/dashboard.test.ts': 'Chromium',
    'test/e2e/demos.test.ts': 'Chromium',
    'test/e2e/restart.test.ts': 'Chromium across a hub restart',
    'test/e2e/six-connections.test.ts': 'Chromium',
    'test/e2e/mercure.test.ts': 'Chromium',
    'test/e2e/client-connect.test.ts': 'Chromium',
    'test/react/use-subscription.test.ts': 'Chromium',
    'test/docs/readme-tour.test.ts': 'Chromium, and the CLI started several times',
    'test/bench/run.test.ts': 'the benchmark\'s smoke run: fixed ports from 18300, both cores busy (it measures nothing by the clock)',
  },
  processes: {
    'test/cluster/limits.test.ts': 'worker processes sharing limits: several hub processes at once',
    'test/integration/engine-restart.test.ts': 'kills and restarts its own Redis and NATS servers under load',
    'test/integration/nats-cluster.test.ts': 'runs its own 3-node NATS cluster and kills a server under load',
    'test/integration/redis-sentinel.test.ts': 'runs its own Redis masters, replicas (through proxies) and sentinels, kills masters under load and the sentinels under a running hub',
    'test/integration/postgres-failover.test.ts': 'runs its own PostgreSQL primary and standby, kills the primary under load and promotes the standby',
    'test/integration/nginx.test.ts': 'nginx instances and failover through them under load',
    'test/integration/cluster.test.ts': 'three hubs per engine, one killed under load',
    'test/client/hub-restart.test.ts': 'a hub process restarted while publishing',
    'test/cluster/worker.test.ts': 'worker processes killed and restarted',
    'test/cli/serve.test.ts': 'npx-started hubs in a temp project; processes counted',
    'test/cluster/primary.test.ts': 'worker processes killed and counted',
    'test/integration/embedded-cluster.test.ts': 'app processes killed and resumed on Redis',
  },
};
const ALONE = {
  'test/http/node/fast-publish.test.ts': 'keep-alive and headers timeouts measured, socket backpressure loops',
  'test/integration/history-budget.test.ts': 'floods a hub with 300 MiB and reads its RSS',
};
/** Files at a time: the machine's two cores stay busy while some files wait on servers and timers. */
const SLOTS = 3;
/** At most this many of a group's files at a time. */
const GROUP_LIMITS = { browser: 1, processes: 1 };
/** A file still running after this long is stopped and counted as failed: a hung file must not hang the run. */
const FILE_TIMEOUT_MS = 10 * 60_000;
/**
 * The longest files (see the slowest files printed at the end), started first: the run then ends
 * on short files instead of one long file running alone.
 */
const LONG_FIRST = [
  'test/bench/run.test.ts',
  'test/integration/cluster.test.ts',
  'test/integration/postgres-failover.test.ts',
  'test/e2e/dashboard.test.ts',
  'test/cluster/worker.test.ts',
  'test/integration/redis-sentinel.test.ts',
  'test/integration/nats-cluster.test.ts',
  'test/cli/publish.test.ts',
  'test/integration/webhook-failover.test.ts',
  'test/e2e/demos.test.ts',
  'test/http/slow-consumers.test.ts',
  'test/presence/cluster.test.ts',
  'test/http/malformed-requests.test.ts',
  'test/cluster/primary.test.ts',
  'test/http/connection-churn.test.ts',
];

const allFiles = () =>
  readdirSync('test', { recursive: true })
    .map((name) => join('test', String(name)))
    .filter((name) => name.endsWith('.test.ts'))
    .sort();

const groupOf = (file) => Object.keys(GROUPS).find((group) => file in GROUPS[group]);
const rank = (file) => {
  const index = LONG_FIRST.indexOf(file);
  return index !== -1 ? index : LONG_FIRST.length + (groupOf(file) === undefined ? 1 : 0);
};
const files = process.argv.length > 2 ? process.argv.slice(2) : allFiles();
const shared = files.filter((file) => !(file in ALONE)).sort((a, b) => rank(a) - rank(b));
const alone = files.filter((file) => file in ALONE);
if (process.argv.length <= 2) {
  for (const file of [...Object.values(GROUPS).flatMap(Object.keys), ...Object.keys(ALONE), ...LONG_FIRST]) {
    if (!files.includes(file)) console.error(`run-tests: ${file} is listed in run-tests.mjs but does not exist`);
  }
}

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

// Every file runs compiled (scripts/test-tree.mjs); names stay the checkout's in the summary.
const ROOT = process.cwd();
if (!readdirSync(ROOT).includes('package.json')) throw new Error('run-tests: run it from the checkout\'s root (npm test does)');
const tree = await buildTestTree(ROOT);
const compiled = (file) => join(tree, file.replace(/\.ts$/, '.js'));

/** Runs one file; resolves with its exit code, its summary's counts, its output and its time. */
function runFile(file) {
  return new Promise((resolve) => {
    const begun = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=tap', compiled(file)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk.toString()));
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\nrun-tests: ${file} still ran after ${FILE_TIMEOUT_MS / 60_000} minutes: stopped, and counted as failed\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const counts = {};
      for (const key of KEYS) {
        const match = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(output.slice(-4096));
        if (match) counts[key] = Number(match[1]);
      }
      // A file that ended without its summary counts as failed.
      if (counts.fail === undefined) counts.fail = 1;
      resolve({ file, code: code ?? (signal ? 1 : 0), counts, output, ms: Date.now() - begun });
    });
  });
}

const started = Date.now();
const results = [];
/** Starts the files of `list` that may run now, while slots are free, until all have ended. */
function runAll(list, slots) {
  const pending = [...list];
  const running = new Map();
  return new Promise((resolve) => {
    const fill = () => {
      for (let i = 0; i < pending.length && running.size < slots; ) {
        const file = pending[i];
        const group = groupOf(file);
        const busy = [...running.values()].filter((other) => other === group).length;
        if (group !== undefined && busy >= GROUP_LIMITS[group]) {
          i += 1;
          continue;
        }
        pending.splice(i, 1);
        running.set(file, group);
        void runFile(file).then((result) => {
          running.delete(file);
          results.push(result);
          process.stdout.write(result.output);
          fill();
        });
      }
      if (pending.length === 0 && running.size === 0) resolve();
    };
    fill();
  });
}
await runAll(shared, SLOTS);
await runAll(alone, 1);

const total = Object.fromEntries(KEYS.map((key) => [key, results.reduce((sum, result) => sum + (result.counts[key] ?? 0), 0)]));
console.log(`# all files: ${shared.length} files ${SLOTS} at a time (at most ${GROUP_LIMITS.browser} of the browser group, ${GROUP_LIMITS.processes} of the processes group); then ${alone.length} alone`);
for (const key of KEYS) console.log(`# ${key} ${total[key]}`);
console.log(`# duration_ms ${Date.now() - started}`);
console.log('# the slowest files (seconds from start to end, beside others):');
for (const { ms, file } of [...results].sort((a, b) => b.ms - a.ms).slice(0, 10)) {
  const group = file in ALONE ? 'alone' : groupOf(file);
  console.log(`#   ${(ms / 1000).toFixed(1).padStart(6)} ${file}${group === undefined ? '' : ` (${group})`}`);
}
const failed = results.filter((result) => result.code !== 0 || result.counts.fail > 0);
if (failed.length > 0) console.log(`# failed: ${failed.map((result) => result.file).join(', ')}`);
console.log(`${total.pass} passed, ${total.fail} failed`);
process.exitCode = failed.length > 0 ? 1 : 0;
