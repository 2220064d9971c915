/**
 * The per-client limits of a worker of `ssehub serve --workers N`: kept by the primary process
 * (limits-host.ts) for every worker, asked for over the IPC channel (limits-protocol.ts), so that N
 * workers allow what one hub allows, not N times as much.
 *
 * - A stream's slots are taken by a request (a stream opens asynchronously anyway: its credential
 *   and history are read first) and given back by a one-way message when it closes. With no stream
 *   limit to apply, nothing is asked.
 * - A publish's charge travels with its append when the engine is the primary's (the IPC engine
 *   checks it there: Engine.checksPublishCharges), so it costs no extra round trip; with a shared
 *   engine (Redis, NATS, PostgreSQL) it is one request before the append.
 */
import type { ClientLimits, LimitSettings, PublishCharge, StreamLease } from '../auth/limits.js';
import { chargesPublisher } from '../auth/limits.js';
import { HubError } from '../errors.js';
import { DEFAULT_IPC_TIMEOUT_MS } from '../engines/ipc.js';
import type { IpcPort } from '../engines/ipc-protocol.js';
import { IpcRequests } from '../engines/ipc-requests.js';
import { isLimitsMessage, LIMITS_MESSAGE, type LimitsCall, type LimitsRelease } from './limits-protocol.js';

/** 503, so that clients retry: the primary is gone (this worker is about to exit with it) or stuck. */
function unavailable(detail: string): HubError {
  return new HubError(503, 'limits_unavailable', `The primary process, which keeps the hub's limits, cannot be reached (${detail}); retry later.`, {
    'Retry-After': '1',
  });
}

const NO_LEASE: StreamLease = Object.freeze({ release() {} });

export class SharedLimits implements ClientLimits {
  private readonly requests: IpcRequests;
  private nextLease = 1;

  constructor(
    private readonly port: IpcPort,
    private readonly settings: LimitSettings,
    timeoutMs = DEFAULT_IPC_TIMEOUT_MS,
  ) {
    this.requests = new IpcRequests(port, { tag: LIMITS_MESSAGE, timeoutMs, unavailable });
    // For the worker's lifetime: the worker exits with its channel.
    port.listen((message) => {
      if (isLimitsMessage(message) && message.type === 'reply') this.requests.receiveReply(message);
    });
    port.onClose(() => this.requests.fail('the primary process is gone'));
  }

  chargesPublisher(subject: string | undefined): boolean {
    return chargesPublisher(this.settings, subject);
  }

  async chargePublish(charge: PublishCharge): Promise<void> {
    await this.requests.request({ op: 'charge', charge } satisfies LimitsCall);
  }

  async openStream(ip: string, subject: string | undefined): Promise<StreamLease> {
    if (this.settings.maxStreamsPerIp === 0 && (subject === undefined || this.settings.maxStreamsPerSubject === 0)) return NO_LEASE;
    const lease = this.nextLease++;
    const call: LimitsCall = subject === undefined ? { op: 'openStream', lease, ip } : { op: 'openStream', lease, ip, subject };
    try {
      await this.requests.request(call);
    } catch (error) {
      // A refusal holds nothing; a request that timed out may still have taken slots in the primary.
      if (!(error instanceof HubError && error.status === 429)) this.release(lease);
      throw error;
    }
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.release(lease);
      },
    };
  }

  private release(lease: number): void {
    const message: LimitsRelease = { ssehub: LIMITS_MESSAGE, type: 'release', client: this.requests.client, lease };
    this.port.post(message); // with the primary gone there is nothing left to release
  }
}
