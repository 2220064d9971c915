#!/usr/bin/env node
/**
 * `npm test`'s runner: every test/**\/*.test.ts file, compiled once (scripts/test-tree.mjs), each in
 * a `node --test` process of its own, SLOTS files at a time. A file runs beside any other, but for
 * the groups below: at most one of the browser group at a time (Chromium is heavy), one of the
 * processes group, and the ALONE files last, one at a time, with nothing beside them; each listed
 * file with its reason. The longest files start first (LONG_FIRST), so the run does not end on one
 * long file alone. Each file's output is printed when it ends; the output ends with the summary of
 * all, in node's own "# pass N" form, the ten slowest files, each failed test again (a log that
 * keeps only the tail still says what failed), then "N passed, N failed" alone on a line; the exit
 * code is non-zero if any file failed.
 *
 *   node scripts/run-tests.mjs [file …]     (no files: the whole suite, with the type checks as two more jobs)
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestTree } from './test-tree.mjs';
import { tapFailures } from './tap-failures.mjs';

/**
 * Files that are limited in what runs beside them, and why: Chromium's pages, one at a time; the
 * tests that kill engine servers or hubs under load and count every event (their failovers are timed
 * by the servers they kill), one at a time; the tests that start, kill and count hub, worker or nginx
 * processes of their own (each on its own spare ports), one at a time; the ALONE files last, with
 * nothing beside them. The groups run beside each other.
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
  },
  failover: {
    'test/integration/engine-restart.test.ts': 'kills and restarts its own Redis and NATS servers under load',
    'test/integration/nats-cluster.test.ts': 'runs its own 3-node NATS cluster and kills a server under load',
    'test/integration/redis-sentinel.test.ts': 'runs its own Redis masters, replicas (through proxies) and sentinels, kills masters under load and the sentinels under a running hub',
    'test/integration/postgres-failover.test.ts': 'runs its own PostgreSQL primary and standby, kills the primary under load and promotes the standby',
    'test/integration/cluster.test.ts': 'three hubs per engine, one killed under load',
  },
  processes: {
    'test/cluster/limits.test.ts': 'worker processes sharing limits: several hub processes at once',
    'test/integration/nginx.test.ts': 'nginx instances and failover through them under load',
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
const GROUP_LIMITS = { browser: 1, failover: 1, processes: 1 };
/** A file still running after this long is stopped and counted as failed: a hung file must not hang the run. */
const FILE_TIMEOUT_MS = 10 * 60_000;
/**
 * The longest files (see the slowest files printed at the end), started first: the run then ends
 * on short files instead of one long file running alone.
 */
const LONG_FIRST = [
  'test/bench/run.test.ts',
  'test/integration/cluster.test.ts',
  'test/e2e/dashboard.test.ts',
  'test/cluster/worker.test.ts',
  'test/http/slow-consumers.test.ts',
  'test/integration/postgres-failover.test.ts',
  'test/http/connection-churn.test.ts',
  'test/cli/publish.test.ts',
  'test/integration/redis-sentinel.test.ts',
  'test/presence/cluster.test.ts',
  'test/e2e/demos.test.ts',
  'test/integration/webhook-failover.test.ts',
  'test/http/malformed-requests.test.ts',
  'test/cli/serve.test.ts',
  'test/cluster/primary.test.ts',
  'test/integration/nats-cluster.test.ts',
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
/**
 * The type checks (`npm run typecheck`'s two tsc runs), part of the whole suite's run: each is one
 * job among the test files, started first, instead of a minute on one core before them.
 */
const TSC = join('node_modules', 'typescript', 'bin', 'tsc');
const TYPECHECKS = process.argv.length > 2 ? [] : ['typecheck: tsc -p tsconfig.json --noEmit', 'typecheck: tsc -p tsconfig.client.json'];
const commandOf = (job) =>
  job.startsWith('typecheck: ')
    ? [TSC, ...job.slice('typecheck: tsc '.length).split(' ')]
    : ['--enable-source-maps', '--test', '--test-reporter=tap', compiled(job)];
const shared = [...TYPECHECKS, ...files.filter((file) => !(file in ALONE)).sort((a, b) => rank(a) - rank(b))];
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

/**
 * CPU seconds of this runner's waited-for children so far (/proc/self/stat's cutime and cstime, in
 * clock ticks of 1/100 s): a test file's process adds its own and its reaped children's when it
 * ends, so the difference across its exit is its CPU (null where /proc is not Linux's).
 */
function childrenCpuSeconds() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return null;
  }
}
let cpuSeen = childrenCpuSeconds();

/** The process groups of the files running now: stopped with the runner (Ctrl-C reaches only the runner's own group). */
const groups = new Set();
const killGroup = (pid) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is empty
  }
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const pid of groups) killGroup(pid);
    process.exit(130);
  });
}

/** Runs one file; resolves with its exit code, its summary's counts, its output, its time and its CPU. */
function runFile(file) {
  return new Promise((resolve) => {
    const begun = Date.now();
    // Each file in a process group of its own: a stopped file takes every process it started with
    // it (node --test runs the file in a child of its own, which would otherwise outlive it).
    const child = spawn(process.execPath, commandOf(file), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    groups.add(child.pid);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk.toString()));
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\nrun-tests: ${file} still ran after ${FILE_TIMEOUT_MS / 60_000} minutes: stopped, and counted as failed\n`;
      killGroup(child.pid);
    }, FILE_TIMEOUT_MS);
    // The file's process has exited: whatever it left running in its group is stopped, then its
    // output is read to the end ('close': the pipes can still hold the summary at 'exit'), unless a
    // process outside the group still holds them after 5 s.
    child.once('exit', () => {
      killGroup(child.pid);
      setTimeout(() => child.emit('close', child.exitCode, child.signalCode), 5000).unref();
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      groups.delete(child.pid);
      const cpuNow = childrenCpuSeconds();
      const cpu = cpuNow === null || cpuSeen === null ? null : cpuNow - cpuSeen;
      cpuSeen = cpuNow;
      const counts = {};
      for (const key of KEYS) {
        const match = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(output.slice(-4096));
        if (match) counts[key] = Number(match[1]);
      }
      // A file that ended without its summary counts as failed; a type check by its exit code.
      if (TYPECHECKS.includes(file)) counts.fail = code === 0 ? 0 : 1;
      else if (counts.fail === undefined) counts.fail = 1;
      resolve({ file, code: code ?? (signal ? 1 : 0), counts, output, ms: Date.now() - begun, cpu });
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
console.log(`# all files: ${shared.length - TYPECHECKS.length} files${TYPECHECKS.length > 0 ? ` and the ${TYPECHECKS.length} type checks` : ''} ${SLOTS} at a time (at most ${Object.entries(GROUP_LIMITS).map(([group, limit]) => `${limit} of the ${group} group`).join(', ')}); then ${alone.length} alone`);
for (const key of KEYS) console.log(`# ${key} ${total[key]}`);
console.log(`# duration_ms ${Date.now() - started}`);
const cpuTotal = results.every((result) => result.cpu !== null) ? results.reduce((sum, result) => sum + result.cpu, 0) : null;
if (cpuTotal !== null) console.log(`# cpu_seconds ${cpuTotal.toFixed(0)} (every file's process and the processes it waited for)`);
console.log('# the slowest files (seconds from start to end, beside others; CPU seconds):');
for (const { ms, cpu, file } of [...results].sort((a, b) => b.ms - a.ms).slice(0, 10)) {
  const group = file in ALONE ? 'alone' : groupOf(file);
  console.log(`#   ${(ms / 1000).toFixed(1).padStart(6)} ${cpu === null ? '' : `${cpu.toFixed(1).padStart(6)} `}${file}${group === undefined ? '' : ` (${group})`}`);
}
// Every file's figures, for choosing LONG_FIRST and the groups.
writeFileSync(join(tree, 'file-times.json'), `${JSON.stringify(results.map(({ file, ms, cpu }) => ({ file, seconds: ms / 1000, cpuSeconds: cpu })), null, 1)}\n`);
const failed = results.filter((result) => result.code !== 0 || result.counts.fail > 0);
for (const { file, output } of failed) console.log(`# what failed in ${file}:\n${tapFailures(output)}\n`);
if (failed.length > 0) console.log(`# failed: ${failed.map((result) => result.file).join(', ')}`);
console.log(`${total.pass} passed, ${total.fail} failed`);
process.exitCode = failed.length > 0 ? 1 : 0;
