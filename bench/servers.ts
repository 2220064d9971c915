/**
 * The servers the benchmark compares, each started fresh on its own port for each scenario. All of
 * them take the same two requests, so the load generator treats them alike:
 *   GET  /topics/{topic}  opens an event stream (one topic)
 *   POST /topics/{topic}  publishes one event whose data is the JSON body
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

export interface RunningServer {
  port: number;
  /** The process whose tree is measured (nginx: the master, whose worker is its child). */
  pid: number;
  /** Everything the server printed, for error reports. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  port: number;
  /** ssehub only: worker processes (--workers); 1 runs the plain single process. */
  workers: number;
  /** ssehub only: false runs it with --tcp-nodelay false (Nagle's algorithm on its streams). */
  tcpNoDelay: boolean;
  /** ssehub only: false runs it with --fast-publish false (every publish through node:http). */
  fastPublish: boolean;
  /** ssehub only: run from src/ through tsx instead of the build in dist/ (quick checks, tests). */
  fromSource: boolean;
  /** ssehub only: run under `node --cpu-prof`, writing profiles to bench/profiles/. */
  profile: boolean;
  /** ssehub only: the checkout whose dist/ runs (--baseline), instead of this one. */
  checkout?: string;
  /**
   * ssehub: its --engine (a Redis, NATS or PostgreSQL URL) instead of the memory engine;
   * nchan-redis: the Redis it keeps its messages in, when this is a redis:// URL.
   */
  engine?: string;
  /**
   * The engine's key namespace (ssehub's --namespace, nchan_redis_namespace): one per measurement,
   * shared by the hubs of a run with several, so that runs never see each other's events.
   */
  namespace?: string;
}

export interface ServerKind {
  name: string;
  /** What it is, for the table's legend. */
  description: string;
  /** A yardstick rather than something a team would pick: measured only when --servers names it. */
  reference?: boolean;
  /** Whether a run without --servers measures it (every server but the yardsticks when not given), by the run's --engine. */
  inDefaultRun?(engine: string | undefined): boolean;
  /** Why it cannot run on this machine, or undefined when it can. */
  missing(options: StartOptions): string | undefined;
  /**
   * The engine server that instances started with these options share (its URL), or undefined for
   * a server that keeps everything in its own process. Only such a server runs as several hubs
   * (--hubs), and the engine server's CPU is measured beside it.
   */
  engineOf(options: StartOptions): string | undefined;
  start(options: StartOptions): Promise<RunningServer>;
}

/** The young generation held to 2 x 4 MiB, as deploy/systemd/ssehub.service runs the hub. */
export const SSEHUB_NODE_FLAGS = ['--max-semi-space-size=4'];

/** The servers a run measures when --servers does not name them. */
export function defaultServers(engine: string | undefined): ServerKind[] {
  return SERVERS.filter((kind) => (kind.inDefaultRun ? kind.inDefaultRun(engine) : kind.reference !== true));
}

export const SERVERS: ServerKind[] = [
  {
    name: 'ssehub',
    description: 'this project: `ssehub serve`, memory engine',
    missing: ({ fromSource, checkout }) => {
      if (checkout !== undefined) return existsSync(join(checkout, 'dist/cli/main.js')) ? undefined : `${checkout}/dist/ is not built (run \`npm run build\` there)`;
      return fromSource || existsSync(join(ROOT, 'dist/cli/main.js')) ? undefined : 'dist/ is not built (run `npm run build`)';
    },
    engineOf: ({ engine }) => (engine === undefined || engine === 'memory' ? undefined : engine),
    start: ({ port, workers, tcpNoDelay, fastPublish, fromSource, profile, checkout, engine, namespace }) => {
      // Node's flags as the shipped systemd units and `npm start` give them (see docs/deployment.md).
      const entry = [
        ...SSEHUB_NODE_FLAGS,
        ...(checkout !== undefined
          ? [join(checkout, 'dist/cli/main.js')]
          : fromSource
            ? ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')]
            : [join(ROOT, 'dist/cli/main.js')]),
      ];
      if (profile) entry.unshift('--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench/profiles'));
      // Limits meant for untrusted clients are lifted: the benchmark connects from a few addresses.
      const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--no-dashboard', '--max-streams-per-ip', '0', '--publish-rate', '0', '--log-level', 'warn'];
      if (workers > 1) args.push('--workers', String(workers));
      if (!tcpNoDelay) args.push('--tcp-nodelay', 'false');
      if (!fastPublish) args.push('--fast-publish', 'false');
      args.push(...engineArgs(engine, namespace ?? runNamespace(port)));
      // The byte rate by its variable, not a flag: a --baseline checkout from before the byte rate ignores it.
      return spawnServer(process.execPath, [...entry, ...args], port, { SSEHUB_PUBLISH_BYTES_RATE: '0' });
    },
  },
  {
    name: 'express-emitter',
    description: "the seeds' pattern: Express 5 + EventEmitter, res.write per event",
    missing: () => undefined,
    engineOf: () => undefined,
    start: ({ port }) => spawnServer(process.execPath, [join(ROOT, 'bench/servers/express-emitter.mjs'), String(port)], port),
  },
  {
    name: 'better-sse',
    description: 'better-sse 0.16 on node:http, one channel per topic',
    missing: () => undefined,
    engineOf: () => undefined,
    start: ({ port }) => spawnServer(process.execPath, [join(ROOT, 'bench/servers/better-sse.mjs'), String(port)], port),
  },
  {
    name: 'node-http-floor',
    description: 'reference: the least a node:http server can do per request (no history, no auth)',
    reference: true,
    missing: () => undefined,
    engineOf: () => undefined,
    start: ({ port }) => spawnServer(process.execPath, [join(ROOT, 'bench/servers/node-http-floor.mjs'), String(port)], port),
  },
  {
    name: 'node-net-floor',
    description: 'reference: the same work on plain net sockets, with a minimal HTTP reading of its own',
    reference: true,
    missing: () => undefined,
    engineOf: () => undefined,
    start: ({ port }) => spawnServer(process.execPath, [join(ROOT, 'bench/servers/node-net-floor.mjs'), String(port)], port),
  },
  {
    name: 'nchan',
    description: 'Nginx 1.22 + Nchan 1.3 (C), one worker',
    missing: nchanMissing,
    engineOf: () => undefined,
    start: ({ port }) => startNchan(port),
  },
  {
    name: 'nchan-redis',
    description: 'the same Nchan keeping its messages in Redis (nchan_redis_pass, distributed mode), as several Nchan servers share one',
    inDefaultRun: (engine) => engine?.startsWith('redis://') === true,
    missing: nchanMissing,
    engineOf: nchanRedisUrl,
    start: (options) => startNchan(options.port, { url: nchanRedisUrl(options), namespace: options.namespace ?? runNamespace(options.port) }),
  },
];

function nchanMissing(): string | undefined {
  return existsSync(NGINX) && existsSync(NCHAN_MODULE) ? undefined : 'nginx-light and libnginx-mod-nchan are not installed (scripts/ensure-services.sh installs them)';
}

/** nchan-redis's Redis: the --engine URL when it is a Redis one, else the local default. */
function nchanRedisUrl({ engine }: StartOptions): string {
  return engine?.startsWith('redis://') ? engine : 'redis://127.0.0.1:6379';
}

/** Nginx with Nchan from bench/servers/nchan.conf; with `redis`, its messages kept there under a namespace. */
async function startNchan(port: number, redis?: { url: string; namespace: string }): Promise<RunningServer> {
  const prefix = mkdtempSync(join(tmpdir(), 'ssehub-bench-nchan-'));
  for (const dir of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(prefix, dir));
  const upstream = redis
    ? `upstream bench_redis {\n    nchan_redis_server ${redis.url};\n    nchan_redis_namespace ${redis.namespace};\n    nchan_redis_storage_mode distributed;\n  }`
    : '';
  let conf = readFileSync(join(ROOT, 'bench/servers/nchan.conf'), 'utf8')
    .replaceAll('{{PREFIX}}', prefix)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{REDIS_UPSTREAM}}', upstream)
    .replaceAll('{{REDIS_PASS}}', redis ? 'nchan_redis_pass bench_redis;' : '');
  // As root, nginx's worker would drop to "nobody", which cannot use the temporary directories.
  if (process.getuid?.() === 0) conf = `user root;\n${conf}`;
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const server = await spawnServer(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], port);
  const stop = (): Promise<void> => server.stop().finally(() => rmSync(prefix, { recursive: true, force: true }));
  // Nchan connects to Redis after it listens, and answers 503 until then: wait for a publish to pass.
  if (redis) {
    const deadline = Date.now() + 15_000;
    let status = await publishStatus(port, 'bench-ready');
    while (status !== 201 && status !== 202) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Nchan on ${port} did not reach Redis at ${redis.url} (last answer: ${status}):\n${server.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = await publishStatus(port, 'bench-ready');
    }
  }
  return { ...server, stop };
}

/** The status of one small publish to `topic`, or the error's code. */
function publishStatus(port: number, topic: string): Promise<number | string> {
  return new Promise((resolve) => {
    const request = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: `/topics/${topic}`, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end('{}');
  });
}

async function spawnServer(command: string, args: string[], port: number, env: Record<string, string> = {}): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not start listening on ${port}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port,
    pid: child.pid!,
    output: () => output,
    stop: () => stopChild(child, exited),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A namespace of its own for a run on a shared engine (fresh tables, keys or stream; left behind,
 * named bench_*, for a look afterwards), from the time and the run's first port.
 */
export function runNamespace(port: number): string {
  return `bench_${Date.now().toString(36)}_${port}`;
}

/** The flags of a run on a shared engine: the engine and the run's namespace. */
export function engineArgs(engine: string | undefined, namespace: string): string[] {
  if (engine === undefined || engine === 'memory') return [];
  return ['--engine', engine, '--namespace', namespace];
}
