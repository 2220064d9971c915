/**
 * The engine server a run shares (Redis, NATS, PostgreSQL), found on this machine so that its CPU
 * can be read from /proc beside the hubs': the process of the expected name that holds the
 * listening socket of the engine URL's port. By port, not by name alone: other servers of the same
 * kind (a test's own PostgreSQL cluster, a Sentinel's Redis) may run beside it.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { redisClusterNodes } from '../src/engines/redis.js';

/** What each engine's server is called (its /proc comm), and its default port. */
const SERVER_PROCESSES: Record<string, { names: string[]; port: number }> = {
  'redis:': { names: ['redis-server'], port: 6379 },
  'nats:': { names: ['nats-server'], port: 4222 },
  'postgres:': { names: ['postgres'], port: 5432 },
  'postgresql:': { names: ['postgres'], port: 5432 },
};

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface EngineServer {
  /** The listening process: PostgreSQL's postmaster, whose descendants are its backends and helpers. */
  pid: number;
  /** e.g. "redis-server on 6379". */
  description: string;
}

/**
 * The local process serving `url`, or undefined when the URL names no single local server (a
 * Sentinel or cluster URL with several hosts, a remote host, a server this user cannot see).
 */
export function engineServer(url: string): EngineServer | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const known = SERVER_PROCESSES[parsed.protocol];
  // Only a server on this machine can be read from /proc: a remote host names none (its port here may be another's).
  if (!known || !LOCAL_HOSTS.has(parsed.hostname)) return undefined;
  const port = parsed.port === '' ? known.port : Number(parsed.port);
  const pid = listeningProcess(port, known.names);
  return pid === undefined ? undefined : { pid, description: `${known.names[0]} on ${port}` };
}

/**
 * The local processes serving `url`: the one engineServer finds, or for a Redis Cluster
 * (`redis-cluster://h1:7000,h2:7001`) each node the URL names; empty when any of them cannot be
 * read here (a remote host: the cluster's CPU would be counted in part).
 */
export function engineServers(url: string): EngineServer[] {
  if (!/^redis-cluster:/i.test(url)) {
    const server = engineServer(url);
    return server === undefined ? [] : [server];
  }
  // The nodes as the engine reads them from the URL.
  const servers = redisClusterNodes(url).nodes.map(({ host, port }) => engineServer(`redis://${host}:${port}`));
  return servers.every((server) => server !== undefined) ? (servers as EngineServer[]) : [];
}

/** The process named one of `names` that holds a socket listening on `port` (IPv4 or IPv6). */
export function listeningProcess(port: number, names: string[]): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, the socket's inode is the tenth field.
      if (fields.length < 10 || fields[3] !== '0A') continue;
      if (parseInt(fields[1]!.split(':')[1]!, 16) === port) inodes.add(`socket:[${fields[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    let fds: string[];
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (!names.includes(comm)) continue;
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
