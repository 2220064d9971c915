/**
 * A Redis Cluster the tests run themselves: `masters` redis-server processes with cluster mode on,
 * joined by `redis-cli --cluster create` (no replicas), on spare ports of 127.0.0.1 whose cluster
 * bus ports (port + 10000) are spare too. A master lost leaves the others serving their slots
 * (cluster-require-full-coverage no), as docs/scaling.md advises for the sharded engine.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './hub.js';
import { hasBinary, OwnServer } from './servers.js';

const run = promisify(execFile);

/** Why the cluster cannot run here, or undefined; in CI a missing binary fails the suite instead. */
export function redisClusterSkipReason(): string | undefined {
  const missing = ['redis-server', 'redis-cli'].filter((binary) => !hasBinary(binary));
  return missing.length > 0 && !process.env.CI ? `${missing.join(' and ')} not installed (.ci/run installs them)` : undefined;
}

/** A port whose cluster bus port (+10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await portFree(port + 10_000))) return port;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export class OwnRedisCluster {
  private constructor(readonly masters: readonly OwnServer[]) {}

  /** The engine URL of the cluster, naming every master. */
  get url(): string {
    return `redis-cluster://${this.masters.map((master) => `127.0.0.1:${master.port}`).join(',')}`;
  }

  static async start(count = 3): Promise<OwnRedisCluster> {
    const masters: OwnServer[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const port = await clusterPort();
        const server = new OwnServer(
          'redis-server',
          (dir) => ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no', '--save', '', '--appendonly', 'no', '--dir', dir],
          port,
        );
        masters.push(server);
        await server.start();
      }
      const nodes = masters.map((master) => `127.0.0.1:${master.port}`);
      await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
      const cluster = new OwnRedisCluster(masters);
      await cluster.untilReady();
      return cluster;
    } catch (error) {
      await Promise.allSettled(masters.map((master) => master.dispose()));
      throw error;
    }
  }

  /** Resolves once every node says the cluster is ok (every slot served). */
  async untilReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.masters.map(async (master) => (await run('redis-cli', ['-p', String(master.port), 'cluster', 'info']).catch(() => ({ stdout: '' }))).stdout),
      );
      if (states.every((state) => state.includes('cluster_state:ok'))) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster is not ready:\n${states.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The master that serves a key (its hash slot), by asking the cluster. */
  async masterOf(key: string): Promise<OwnServer> {
    const { stdout } = await run('redis-cli', ['-p', String(this.masters[0]!.port), 'cluster', 'keyslot', key]);
    const slot = Number(stdout.trim());
    const { stdout: slots } = await run('redis-cli', ['-p', String(this.masters[0]!.port), 'cluster', 'slots']);
    // Each range is "start\nend\nhost\nport\nid…": find the one holding the slot.
    const lines = slots.trim().split('\n').map((line) => line.trim());
    for (let i = 0; i + 3 < lines.length; i++) {
      const [start, end, host, port] = [Number(lines[i]), Number(lines[i + 1]), lines[i + 2], Number(lines[i + 3])];
      if (host === '127.0.0.1' && start <= slot && slot <= end) {
        const master = this.masters.find((server) => server.port === port);
        if (master) return master;
      }
    }
    throw new Error(`no master found for slot ${slot}:\n${slots}`);
  }

  async dispose(): Promise<void> {
    await Promise.allSettled(this.masters.map((master) => master.dispose()));
  }
}
