/** `ssehub serve`: runs the hub until SIGTERM or SIGINT, then shuts down gracefully and exits 0. */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { runPrimary, workerCount } from '../cluster/primary.js';
import { runWorker } from '../cluster/worker.js';
import { authEnabled, describeOptions, loadConfig, type HubConfig } from '../config.js';
import { startHub } from '../start.js';

export const SERVE_HELP = `Usage: ssehub serve [options]

Runs the hub. Every option can also be set by its environment variable; flags win.

The port speaks HTTP/1.1; with --tls-cert and --tls-key, HTTPS: HTTP/2 and HTTP/1.1 on the same
port, chosen per connection (ALPN). "ssehub cert" writes a certificate for local use. With --h2c,
cleartext HTTP/2 only, for a proxy that speaks it.

With --workers N (0: one per CPU core), N worker processes serve the port and a primary process
restarts any that dies. With the memory engine the primary holds the events and every worker reaches
them, so the workers act as one hub; with Redis, NATS or PostgreSQL each worker connects on its own.
Either way the primary keeps the stream and publish limits for all the workers.

Options:
${describeOptions()}
  --help                          Show this help.
`;

export async function serve(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  // The processes above, noted before anything is announced: npm may be killed the moment it is.
  const above = ancestry();
  const config = loadConfig(argv, env);
  const workers = workerCount(config);
  if (workers > 1) {
    // The workers run this same command: cluster.fork starts them with this process's argv and environment.
    if (cluster.isWorker) return runWorker(config);
    await runPrimary(config, workers, { announce: (url, protocols, metricsUrl) => announce(config, url, protocols, metricsUrl, `${workers} workers`) });
    stopWithNpm(env, above);
    return;
  }
  const running = await startHub(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`ssehub: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`ssehub: ${signal} received, closing streams\n`);
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`ssehub: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Announced once the signals are handled: whoever reads "listening" may signal at once.
  announce(config, running.url, running.protocols, running.metricsUrl);
  stopWithNpm(env, above);
}

const PARENT_CHECK_MS = 250;

/**
 * `npx ssehub serve` and `npm start` run the hub as npm's grandchild, through a shell: npm passes
 * SIGTERM and SIGINT on to the shell, which dies without passing them on, and the hub would run on
 * orphaned. So under npm (it sets npm_command), a hub whose parent has gone stops as on SIGTERM; so
 * does one whose parent's own parent was npm and has gone (where /proc tells): npm killed, or
 * exiting before it passed the signal on, leaves the shell waiting for the hub, and the hub's
 * parent unchanged. (Only npm: a script's `ssehub serve &` outlives the script's shell on purpose.)
 * Outside npm, a hub outliving its parent (nohup, a daemon's double fork) is left alone.
 */
function stopWithNpm(env: NodeJS.ProcessEnv, { parent, grandparent }: Ancestry): void {
  if (env.npm_command === undefined) return;
  const timer = setInterval(() => {
    const gone = process.ppid !== parent ? parent : grandparent !== undefined && parentOf(parent) !== grandparent ? grandparent : undefined;
    if (gone === undefined) return;
    clearInterval(timer);
    process.stderr.write(`ssehub: its parent process (${gone}, run by npm ${env.npm_command}) has exited; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS);
  timer.unref();
}

interface Ancestry {
  parent: number;
  /** The parent's parent, when it is npm. */
  grandparent: number | undefined;
}

function ancestry(): Ancestry {
  const parent = process.ppid;
  const above = parentOf(parent);
  return { parent, grandparent: above !== undefined && isNpm(above) ? above : undefined };
}

/** Whether a process is npm (its name, from /proc: npm titles itself "npm exec …", "npm start"…). */
function isNpm(pid: number): boolean {
  try {
    return /^npm\b/.test(readFileSync(`/proc/${pid}/comm`, 'utf8'));
  } catch {
    return false;
  }
}

/** A process's parent, from /proc (Linux); undefined where it cannot be read. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Prints where the hub listens, and warns when it is open to anyone. */
function announce(config: HubConfig, url: string, protocols: string, metricsUrl: string | undefined, workers?: string): void {
  // Plain HTTP/1.1 is the default and goes unsaid; HTTP/2 (over TLS or h2c) is named.
  const details = [`engine: ${describeEngine(config.engine)}`];
  if (protocols !== 'HTTP/1.1') details.push(protocols);
  if (workers !== undefined) details.push(workers);
  let lines = `ssehub listening on ${url} (${details.join(', ')})\n`;
  if (metricsUrl !== undefined) lines += `ssehub metrics on ${metricsUrl} (/metrics, /stats, /livez, /healthz; no token)\n`;
  // One write: whoever reads the first line has the second too.
  process.stdout.write(lines);
  if (!authEnabled(config)) {
    process.stderr.write(
      'ssehub: warning: no token key is configured, so anyone who can reach this hub may publish and subscribe\n' +
        '        to every topic. Set --jwt-secret (or --jwt-public-key / --jwks) to require tokens, or --auth-url to ask\n' +
        '        your app; see docs/security.md.\n',
    );
  }
}

/** The engine setting without any password it may carry. */
export function describeEngine(spec: string): string {
  try {
    const url = new URL(spec);
    if (url.password) url.password = '***';
    return url.href.replace(/\/$/, '');
  } catch {
    return spec;
  }
}
