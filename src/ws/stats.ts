/**
 * What the WebSocket door counts, read into /metrics only when it is scraped (as the hub's own
 * counters are): open connections, closes by code, refused messages, slow consumers cut off.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class WsStats {
  /** Open connections (authenticated or still waiting for their `auth` message). */
  readonly connections = new Set<object>();
  readonly closes = new Map<number, number>();
  errors = 0;
  slowConsumers = 0;

  connectionOpened(connection: object): void {
    this.connections.add(connection);
  }

  connectionClosed(connection: object): void {
    this.connections.delete(connection);
  }

  /** A close the hub decided, by its code (protocol/ws.ts WS_CLOSE). */
  closed(code: number): void {
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
  }

  register(registry: Registry): void {
    const stats = this;
    new Gauge({ name: 'ssehub_ws_connections', help: 'Open WebSocket connections.', registers: [registry], collect() { this.set(stats.connections.size); } });
    const reported = new Map<number, number>();
    new Counter({
      name: 'ssehub_ws_closed_total',
      help: 'WebSocket connections the hub closed, by close code (see docs/websocket.md).',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        for (const [code, count] of stats.closes) {
          this.inc({ code: String(code) }, count - (reported.get(code) ?? 0));
          reported.set(code, count);
        }
      },
    });
    let errors = 0;
    new Counter({ name: 'ssehub_ws_refused_messages_total', help: 'WebSocket messages answered with an error.', registers: [registry], collect() { this.inc(stats.errors - errors); errors = stats.errors; } });
    let slow = 0;
    new Counter({
      name: 'ssehub_ws_slow_consumers_total',
      help: 'WebSocket connections closed (4008) for falling behind --max-buffer; counted in ssehub_slow_consumers_dropped_total too.',
      registers: [registry],
      collect() {
        this.inc(stats.slowConsumers - slow);
        slow = stats.slowConsumers;
      },
    });
  }
}
