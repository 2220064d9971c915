import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { engineServer, engineServers, listeningProcess } from '../../bench/engine-server.js';
import { redisService } from '../support/services.js';

const redis = await redisService();

it('finds the process listening on a port by its name, and only by both', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const name = readFileSync('/proc/self/comm', 'utf8').trim();
    assert.equal(listeningProcess(port, [name]), process.pid);
    assert.equal(listeningProcess(port, ['redis-server']), undefined, 'another name on that port');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(listeningProcess(port, [readFileSync('/proc/self/comm', 'utf8').trim()]), undefined, 'nothing listens there any more');
});

it('finds the Redis server of a redis:// URL', { skip: redis.skipReason() }, () => {
  const found = engineServer(redis.url);
  assert.ok(found, `no redis-server found listening for ${redis.url}`);
  assert.equal(readFileSync(`/proc/${found.pid}/comm`, 'utf8').trim(), 'redis-server');
  assert.match(found.description, /^redis-server on \d+$/);
});

it('names no server for a URL of several hosts or an unknown kind', () => {
  assert.equal(engineServer('redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster'), undefined);
  assert.equal(engineServer('nats://127.0.0.1:4222,127.0.0.1:4223'), undefined);
  assert.equal(engineServer('memory'), undefined);
  // A remote host: its port on this machine may be another server's, so none is named.
  assert.equal(engineServer('redis://10.0.0.9:6379'), undefined);
});

it('finds every node of a redis-cluster:// URL, or none when one is not on this machine', { skip: redis.skipReason() }, () => {
  const port = new URL(redis.url).port || '6379';
  const nodes = engineServers(`redis-cluster://127.0.0.1:${port},localhost:${port}`);
  assert.equal(nodes.length, 2, 'one server per node named');
  assert.ok(nodes.every((node) => readFileSync(`/proc/${node.pid}/comm`, 'utf8').trim() === 'redis-server'));
  assert.deepEqual(engineServers(`redis-cluster://127.0.0.1:${port},10.0.0.9:7000`), [], 'a remote node: the cluster cannot be measured whole');
  assert.equal(engineServers(redis.url).length, 1);
});
