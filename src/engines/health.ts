/**
 * Engine health checks: one cheap round trip to the engine's server, answered within a deadline.
 * Shared by the engines so that every one of them keeps the same promises to GET /healthz: the
 * check never rejects, never waits past its deadline, and never piles up probes on a server that
 * has stopped answering.
 */
import type { EngineHealth } from './engine.js';

/** How long a health check waits for the engine's server unless the caller says otherwise. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * Runs `probe` (a round trip to the server) for health checks. At most one probe is in flight per
 * engine: callers that arrive while one runs share it, each with its own deadline, so a server that
 * hangs holds one probe, however often the load balancer asks.
 */
export class HealthProbe {
  private inFlight: Promise<number> | undefined;

  constructor(
    private readonly engine: string,
    private readonly probe: () => Promise<unknown>,
  ) {}

  /** Resolves within timeoutMs (and a timer tick); never rejects. */
  check(timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Promise<EngineHealth> {
    const running = (this.inFlight ??= this.start());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<EngineHealth>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `the ${this.engine} server did not answer within ${timeoutMs} ms` }), timeoutMs);
    });
    const answer = running.then(
      (latencyMs): EngineHealth => ({ ok: true, latencyMs }),
      (error: unknown): EngineHealth => ({ ok: false, detail: describe(error) }),
    );
    return Promise.race([answer, deadline]).finally(() => clearTimeout(timer));
  }

  private start(): Promise<number> {
    const started = performance.now();
    // Called inside a promise chain, so a probe that throws synchronously is a rejection like any other.
    const running = Promise.resolve()
      .then(() => this.probe())
      .then(() => Math.round((performance.now() - started) * 10) / 10);
    const done = (): void => {
      if (this.inFlight === running) this.inFlight = undefined;
    };
    running.then(done, done);
    return running;
  }
}
