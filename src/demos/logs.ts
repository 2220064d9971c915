/**
 * The logs demo: a real child process (this Node binary running a fixed script) prints a deploy
 * log, about 40 lines over about 4 s, INFO lines on stdout and WARN/ERROR lines on stderr. Each
 * line is published, in the order it was read, to `demo/logs/<id>` as a `line` event
 * `{"stream":"stdout"|"stderr","text":"…"}`; when the process has exited and its output is
 * drained, one `exit` event `{"code":0}` (`{"code":null,"signal":"…"}` if a signal ended it).
 * This is what `ssehub pipe` does for any command, run here on the server.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { DemoTask } from './runner.js';

export const LOGS_TOPIC_PREFIX = 'demo/logs/';
/** A run that takes longer than this is killed (it normally takes about 4 s). */
const MAX_RUN_MS = 20_000;

/** [level, message]: INFO goes to stdout, WARN and ERROR to stderr. */
const LINES: ReadonlyArray<readonly [string, string]> = [
  ['INFO', 'deploy 4812 started by ci@example.com (branch main, commit 9f3c2e1)'],
  ['INFO', 'fetching artifacts from registry.internal/shop/web:9f3c2e1'],
  ['INFO', 'artifact size 48.2 MB, checksum sha256:1c9e…a41f verified'],
  ['INFO', 'loading environment "production" (eu-west-1)'],
  ['WARN', 'config key CACHE_TTL is deprecated; use CACHE_MAX_AGE'],
  ['INFO', 'running database migrations (3 pending)'],
  ['INFO', 'migration 0141_add_order_status_index applied in 812 ms'],
  ['INFO', 'migration 0142_backfill_shipping_region applied in 1904 ms'],
  ['INFO', 'migration 0143_drop_legacy_cart applied in 97 ms'],
  ['INFO', 'warming cache: 1200 product pages'],
  ['INFO', 'cache warm 25% (300/1200)'],
  ['INFO', 'cache warm 50% (600/1200)'],
  ['WARN', 'slow upstream: catalog-api p99 latency 1840 ms (threshold 1000 ms)'],
  ['INFO', 'cache warm 75% (900/1200)'],
  ['INFO', 'cache warm 100% (1200/1200)'],
  ['INFO', 'starting canary: 1 of 12 instances'],
  ['INFO', 'canary web-7f9c health check passed (200 OK in 43 ms)'],
  ['ERROR', 'canary web-7f9c: payment-gateway connection refused (ECONNREFUSED 10.0.4.17:8443)'],
  ['INFO', 'retrying payment-gateway connection (attempt 2 of 5) in 500 ms'],
  ['INFO', 'canary web-7f9c: payment-gateway connected'],
  ['INFO', 'canary error rate 0.02% over 60 s (budget 1%)'],
  ['INFO', 'rolling out to 11 remaining instances, 3 at a time'],
  ['INFO', 'instances web-2a11, web-2a12, web-2a13 updated'],
  ['INFO', 'instances web-3b21, web-3b22, web-3b23 updated'],
  ['WARN', 'instance web-3b22 took 14.2 s to become ready (expected < 10 s)'],
  ['INFO', 'instances web-4c31, web-4c32, web-4c33 updated'],
  ['INFO', 'instances web-5d41, web-5d42 updated'],
  ['INFO', 'all 12 instances on 9f3c2e1'],
  ['INFO', 'switching load balancer target group to blue'],
  ['INFO', 'draining old target group (30 s)'],
  ['ERROR', 'health check failed for web-2a12: 503 Service Unavailable'],
  ['INFO', 'web-2a12 restarted; health check passed'],
  ['INFO', 'smoke tests: 24 passed, 0 failed'],
  ['INFO', 'purging CDN paths /static/*, /products/*'],
  ['INFO', 'CDN purge completed in 2.1 s'],
  ['WARN', 'disk usage on build agent at 81%'],
  ['INFO', 'notifying #deploys channel'],
  ['INFO', 'recording deploy 4812 in the audit log'],
  ['INFO', 'old release 9a1d0b7 kept for rollback'],
  ['INFO', 'deploy 4812 finished in 4.0 s: success'],
];

/** The child's program: one line every 100 ms, each stamped with the time it is printed. */
export const LOG_PRODUCER_SCRIPT = `
const lines = ${JSON.stringify(LINES)};
let i = 0;
const next = () => {
  const [level, message] = lines[i++];
  const text = new Date().toISOString() + ' ' + level.padEnd(5) + ' ' + message + '\\n';
  (level === 'INFO' ? process.stdout : process.stderr).write(text);
  if (i < lines.length) setTimeout(next, 100);
};
setTimeout(next, 100);
`;

export function logsTask(): DemoTask {
  return async ({ publish, signal }) => {
    // An empty environment: the child needs nothing from the hub's (and gets none of its secrets).
    const child = spawn(process.execPath, ['-e', LOG_PRODUCER_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], env: {} });
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    signal.addEventListener('abort', kill, { once: true });
    const watchdog = setTimeout(kill, MAX_RUN_MS);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    });
    // Lines are published one after another in the order they were read, across both streams.
    let published: Promise<void> = Promise.resolve();
    const forward = (stream: 'stdout' | 'stderr', input: NodeJS.ReadableStream): Promise<void> => {
      const reader = createInterface({ input, crlfDelay: Infinity });
      reader.on('line', (text) => {
        published = published.then(() => publish('line', { stream, text }));
        published.catch(kill); // cannot publish: no point in running on
      });
      return new Promise((resolve) => reader.once('close', resolve));
    };
    try {
      const [, , status] = await Promise.all([forward('stdout', child.stdout!), forward('stderr', child.stderr!), exited]);
      await published;
      await publish('exit', status.signal === null ? { code: status.code } : { code: null, signal: status.signal });
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', kill);
      kill();
    }
  };
}
