/** Starting real hubs for tests: in this process (fast) or as a child process (memory, signals). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { defaultConfig, type HubConfig } from '../../src/config.js';
import type { Hub } from '../../src/hub/hub.js';
import { startHub, type RunningHub } from '../../src/start.js';
import { parseSubscribeSelector } from '../../src/topics/index.js';
import { builtCli } from './cli.js';

/**
 * A hub on a free port of 127.0.0.1 with default settings, quiet logs (unless a test passes its
 * own logger), and the given overrides.
 * The $ssehub/stats publisher is off unless a test sets statsIntervalMs: its event every second
 * would make retained-event counts and stream positions depend on timing.
 */
export async function startTestHub(overrides: Partial<HubConfig> = {}, logger: Logger = pino({ level: 'silent' })): Promise<RunningHub> {
  const config = defaultConfig({ port: 0, host: '127.0.0.1', logLevel: 'silent', shutdownTimeoutMs: 2000, statsIntervalMs: 0, ...overrides });
  return startHub(config, logger);
}


/** How long spawnHub waits for "listening": generous, for a loaded machine (--workers on a remote engine start three processes). */
const START_TIMEOUT_MS = 60_000;

export interface HubProcess {
  child: ChildProcess;
  url: string;
  pid: number;
  /** Everything the process printed so far. */
  output(): string;
  /** Resident memory of the hub process, in bytes (from /proc). */
  rssBytes(): number;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(): Promise<number | string>;
}

/**
 * Runs `ssehub serve` in its own process, on a free port, and waits for it to listen. As with
 * startTestHub, the $ssehub/stats publisher is off unless `args` set --stats-interval (a later flag wins).
 * `env` is added to this process's environment (SSEHUB_… settings; a flag wins over it).
 */
export async function spawnHub(args: string[] = [], options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<HubProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), builtCli(), 'serve', '--port', '0', '--log-level', 'warn', '--stats-interval', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    // A hub that has not listened within a minute is stopped: left running, its pipes would keep the
    // test's process from ever exiting.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hub did not start within ${START_TIMEOUT_MS / 1000} s:\n${output}`));
    }, START_TIMEOUT_MS);
    const look = (): void => {
      const match = /listening on (https?:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) => reject(new Error(`hub exited with ${code} before listening:\n${output}`)));
  });
  return {
    child,
    url,
    pid: child.pid!,
    output: () => output,
    rssBytes: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A port nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The pids of a process's children (the workers of `ssehub serve --workers N`), from /proc. */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Whether a process exists (and is not a zombie waiting to be reaped). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Events the hub's history holds on users' topics: what `stats().retainedEvents` counts, less the
 * hub's own system topics ($ssehub/presence: the instances telling each other their streams).
 */
export async function userEventsRetained(hub: Hub): Promise<number> {
  return (await hub.engine.history([parseSubscribeSelector('**')], 'none')).events.length;
}
