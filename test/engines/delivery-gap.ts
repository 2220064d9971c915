/**
 * The delivery-gap check every distributed engine must pass: an instance cut off from its server
 * while an event it had not read left the server's log must report the gap (Engine.onDeliveryGap)
 * once it reads again, before it delivers what follows. The instance reaches the real server
 * through a TCP proxy that the check closes and reopens on the same port.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine, StoredEvent } from '../../src/engines/engine.js';
import type { EngineSettings } from '../../src/engines/settings.js';
import type { ServiceCheck } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { eventually } from './contract.js';
import { describeUnlessSkipped } from '../support/skip.js';

export interface DeliveryGapHarness {
  service: ServiceCheck;
  /** A namespace of its own for the check (removed by the engine's test file afterwards). */
  namespace(): string;
  /** Opens an instance on the server at `url`: the service's own, or a proxy's in front of it. */
  open(url: string, settings: EngineSettings): Promise<Engine>;
  /** Removes a stored event from the server's log, as retention does to what nobody read in time. */
  remove(event: StoredEvent, namespace: string): Promise<void>;
  /** What the engine says of such a gap. */
  detail: RegExp;
}

/** The instances of a check, for the steps an engine adds after the common ones. */
export interface CutOffInstance {
  namespace: string;
  /** The instance behind the proxy, and what it delivered and reported so far. */
  engine: Engine;
  delivered: StoredEvent[];
  gaps: string[];
  /** An instance straight on the server, for appending while the other is cut off. */
  publisher: Engine;
  /** Closes the proxy: every connection of the instance is cut and new ones are refused. */
  cutOff(): Promise<void>;
  /** Opens the proxy again on the same port: the instance reconnects by itself. */
  reconnect(): Promise<void>;
  /** Runs with the check's cleanups (last added, first run). */
  cleanup(step: () => unknown): void;
}

export function describeDeliveryGap(kind: string, harness: DeliveryGapHarness, more?: (instance: CutOffInstance) => Promise<void>): void {
  describeUnlessSkipped(`${kind} engine: an instance cut off while events left the server's log`, { skip: harness.service.skipReason() }, () => {
    test('says so to its delivery gap listeners, then delivers what the log still holds', async () => {
      const cleanups: Array<() => unknown> = [];
      try {
        const namespace = harness.namespace();
        const settings: EngineSettings = { namespace, historyMaxEvents: 100, historyMaxAgeMs: 3_600_000 };
        let proxy: TcpProxy = await startTcpProxy(harness.service.url);
        cleanups.push(() => proxy.close());
        const port = Number(new URL(proxy.url).port);
        const proxied = new URL(harness.service.url);
        proxied.host = new URL(proxy.url).host;
        const engine = await harness.open(proxied.href, settings);
        cleanups.push(() => engine.close());
        const publisher = await harness.open(harness.service.url, settings);
        cleanups.push(() => publisher.close());
        const instance: CutOffInstance = {
          namespace,
          engine,
          delivered: [],
          gaps: [],
          publisher,
          cutOff: () => proxy.close(),
          reconnect: async () => {
            proxy = await startTcpProxy(harness.service.url, port);
          },
          cleanup: (step) => cleanups.push(step),
        };
        engine.onDeliver((event) => instance.delivered.push(event));
        engine.onDeliveryGap((detail) => instance.gaps.push(detail));
        const data = (): string[] => instance.delivered.map((event) => event.data);

        await publisher.append([{ topic: 'a', data: '1' }]);
        await eventually(() => instance.delivered.length === 1, 'the first event');
        // Cut off: meanwhile two events are appended and the first of them leaves the log.
        await instance.cutOff();
        const [second] = await publisher.append([{ topic: 'a', data: '2' }]);
        await publisher.append([{ topic: 'b', data: '3' }]);
        await harness.remove(second!, namespace);
        assert.deepEqual(instance.gaps, [], 'nothing is reported while nothing was missed');
        await instance.reconnect();
        await eventually(() => instance.delivered.length === 2, 'delivery after the reconnect', 20_000);
        assert.deepEqual(data(), ['1', '3']);
        assert.equal(instance.gaps.length, 1, 'the missed event is reported');
        assert.match(instance.gaps[0]!, harness.detail);
        await more?.(instance);
      } finally {
        for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => {});
      }
    });
  });
}
