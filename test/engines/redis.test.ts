import { Redis } from 'ioredis';
import { after } from 'node:test';
import { RedisEngine } from '../../src/engines/redis.js';
import { redisService } from '../support/services.js';
import { describeEngineContract } from './contract.js';

const service = await redisService();
const namespaces: string[] = [];

describeEngineContract('redis', {
  shared: true,
  service,
  open: (settings) => {
    namespaces.push(settings.namespace);
    return RedisEngine.open(service.url, settings, { info() {}, warn() {}, error() {} });
  },
});

// Leave nothing behind on the shared server.
after(async () => {
  if (!service.reachable) return;
  const redis = new Redis(service.url);
  for (const namespace of new Set(namespaces)) {
    const keys = await redis.keys(`${namespace}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});
