#!/usr/bin/env node
/**
 * `npm test`'s runner: every test/**\/*.test.ts file, compiled once (scripts/test-tree.mjs), in
 * passes of node's test runner. Files that
 * are safe next to others run two at a time; then the files of LANES, in two lanes side by side,
 * each a file at a time; then the ALONE files, one at a time; each listed file with its reason. Every
 * pass always runs. The output ends with the summary of all together, in node's own "# pass N" form,
 * the ten slowest files (scripts/test-file-times.mjs), then "N passed, N failed" alone on a line; the
 * exit code is non-zero if any pass failed.
 *
 *   node scripts/run-tests.mjs [file …]     (no files: the whole suite)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestTree, sourceNameOf } from './test-tree.mjs';

/**
 * Files that must not run beside the parallel pass, and why. After the parallel pass, the two lanes
 * run at the same time, each a file at a time: Chromium's pages next to the tests that start, kill
 * and count hub, worker, nginx or engine-server processes of their own (each on its own spare ports;
 * the two share nothing but the machine). The ALONE files run last, with nothing beside them.
 */
const LANES = {
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
    // Not Chromium: here to even out the two lanes' times (see the slowest files at the end).
    'test/cluster/limits.test.ts': 'worker processes sharing limits: several hub processes at once',
    'test/bench/run.test.ts': 'the benchmark\'s smoke run: fixed ports from 18300, both cores busy (it measures nothing by the clock)',
  },
  processes: {
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
/** Every file kept out of the parallel pass. */
const SERIAL = { ...LANES.browser, ...LANES.processes, ...ALONE };
const CONCURRENCY = 2;
/**
 * The parallel pass's longest files (see the slowest files printed at the end), started first: the
 * pass then ends on short files in both lanes instead of one long file running alone.
 */
const LONG_FIRST = [
  'test/http/slow-consumers.test.ts',
  'test/presence/cluster.test.ts',
  'test/integration/webhook-failover.test.ts',
  'test/http/connection-churn.test.ts',
  'test/http/malformed-requests.test.ts',
];

const allFiles = () =>
  readdirSync('test', { recursive: true })
    .map((name) => join('test', String(name)))
    .filter((name) => name.endsWith('.test.ts'))
    .sort();

const files = process.argv.length > 2 ? process.argv.slice(2) : allFiles();
const inLane = (lane) => files.filter((file) => file in lane);
const parallel = files.filter((file) => !(file in SERIAL)).sort((a, b) => rank(a) - rank(b));
function rank(file) {
  const index = LONG_FIRST.indexOf(file);
  return index === -1 ? LONG_FIRST.length : index;
}
for (const file of [...Object.keys(SERIAL), ...LONG_FIRST]) if (process.argv.length <= 2 && !files.includes(file)) console.error(`run-tests: ${file} is listed in run-tests.mjs but does not exist`);

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

// Every pass runs the compiled copies (scripts/test-tree.mjs); names stay the checkout's in the summary.
const ROOT = process.cwd();
if (!readdirSync(ROOT).includes('package.json')) throw new Error('run-tests: run it from the checkout\'s root (npm test does)');
const tree = await buildTestTree(ROOT);
const compiled = (file) => join(tree, file.replace(/\.ts$/, '.js'));

const timesDir = mkdtempSync(join(tmpdir(), 'ssehub-test-times-'));
const TIMES_REPORTER = new URL('./test-file-times.mjs', import.meta.url).href;

/**
 * Runs one pass; resolves with its exit code, the counts of its summary lines and, when `buffered`,
 * its output (else written as it comes).
 */
function pass(list, concurrency, name, buffered = false) {
  return new Promise((resolve) => {
    if (list.length === 0) return resolve({ code: 0, counts: {}, output: '' });
    const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${TIMES_REPORTER}`, `--test-reporter-destination=${join(timesDir, name)}`];
    const child = spawn(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...list.map(compiled)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    let output = '';
    child.stdout.on('data', (chunk) => {
      if (buffered) output += chunk.toString();
      else process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4096);
    });
    const begun = Date.now();
    child.on('exit', (code, signal) => {
      console.error(`run-tests: the ${name} pass took ${((Date.now() - begun) / 1000).toFixed(0)} s`);
      const counts = {};
      for (const key of KEYS) {
        const match = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(tail);
        if (match) counts[key] = Number(match[1]);
      }
      // A pass that ended without its summary counts as failed.
      resolve({ code: code ?? (signal ? 1 : 0), counts: counts.fail === undefined ? { ...counts, fail: (counts.fail ?? 0) + 1 } : counts, output });
    });
  });
}

const started = Date.now();
const results = [await pass(parallel, CONCURRENCY, 'parallel')];
const [processes, browser] = await Promise.all([pass(inLane(LANES.processes), 1, 'processes'), pass(inLane(LANES.browser), 1, 'browser', true)]);
process.stdout.write(browser.output);
results.push(processes, browser, await pass(inLane(ALONE), 1, 'alone'));
const total = Object.fromEntries(KEYS.map((key) => [key, results.reduce((sum, result) => sum + (result.counts[key] ?? 0), 0)]));
console.log(`# all passes: ${parallel.length} files ${CONCURRENCY} at a time; then ${inLane(LANES.processes).length} and ${inLane(LANES.browser).length} in two lanes, each a file at a time; then ${inLane(ALONE).length} alone`);
for (const key of KEYS) console.log(`# ${key} ${total[key]}`);
console.log(`# duration_ms ${Date.now() - started}`);
console.log('# the slowest files (seconds from start to end; the parallel pass shares the machine):');
for (const line of slowestFiles(10)) console.log(`#   ${line}`);
console.log(`${total.pass} passed, ${total.fail} failed`);
rmSync(timesDir, { recursive: true, force: true });
process.exitCode = results.some((result) => result.code !== 0) || total.fail > 0 ? 1 : 0;

/** "<seconds> <file>" for the `count` slowest files of both passes. */
function slowestFiles(count) {
  const rows = [];
  for (const name of ['parallel', 'processes', 'browser', 'alone']) {
    let text = '';
    try {
      text = readFileSync(join(timesDir, name), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').filter(Boolean)) {
      const [ms, file] = [Number(line.slice(0, line.indexOf(' '))), line.slice(line.indexOf(' ') + 1)];
      rows.push({ ms, file: `${sourceNameOf(ROOT, file)}${name === 'parallel' ? '' : ` (${name})`}` });
    }
  }
  return rows.sort((a, b) => b.ms - a.ms).slice(0, count).map((row) => `${(row.ms / 1000).toFixed(1).padStart(6)} ${row.file}`);
}
