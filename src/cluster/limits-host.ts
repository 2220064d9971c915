/**
 * The primary process's side of the limits of `ssehub serve --workers N`: it keeps the hub's one
 * LocalLimits (open streams per client IP and per subject, publish rates per publisher) and answers
 * every worker's requests for it (protocol in limits-protocol.ts), so that the workers count as one
 * hub whichever worker a connection lands on.
 *
 * The invariant: a worker's slots live no longer than the worker. Every slot taken for a worker is
 * held under that worker's channel until the worker releases it, and all of them are released at
 * once when the channel closes: a worker that dies, even by SIGKILL, leaves no stream counted.
 */
import { toRemoteError, type IpcPort } from '../engines/ipc-protocol.js';
import type { LocalLimits, PublishCharge, StreamLease } from '../auth/limits.js';
import { isLimitsMessage, LIMITS_MESSAGE, type LimitsCall, type LimitsReply, type LimitsRequest } from './limits-protocol.js';

export class LimitsHost {
  constructor(readonly limits: LocalLimits) {}

  /** Charges a publish carried by an append (for the IpcEngineHost): throws the HubError of an exceeded rate. */
  readonly checkCharge = (charge: PublishCharge): void => this.limits.chargePublish(charge);

  /** Serves a worker's channel; returns a function that stops and releases the worker's slots (also called when the channel closes). */
  attach(port: IpcPort): () => void {
    /** The slots held for this worker, by "<client>:<lease>". */
    const leases = new Map<string, StreamLease>();
    let attached = true;
    const stopListening = port.listen((message) => {
      if (!isLimitsMessage(message)) return;
      if (message.type === 'request') this.serve(port, leases, message);
      else if (message.type === 'release') this.release(leases, `${message.client}:${message.lease}`);
    });
    const stopWatching = port.onClose(() => detach());
    const detach = (): void => {
      if (!attached) return;
      attached = false;
      stopListening();
      stopWatching();
      for (const lease of leases.values()) lease.release();
      leases.clear();
    };
    return detach;
  }

  private serve(port: IpcPort, leases: Map<string, StreamLease>, request: LimitsRequest): void {
    let reply: LimitsReply;
    try {
      this.call(leases, request.client, request.call);
      reply = { ssehub: LIMITS_MESSAGE, type: 'reply', client: request.client, id: request.id, ok: true };
    } catch (error) {
      reply = { ssehub: LIMITS_MESSAGE, type: 'reply', client: request.client, id: request.id, ok: false, error: toRemoteError(error) };
    }
    port.post(reply); // a worker that is gone needs no answer
  }

  private call(leases: Map<string, StreamLease>, client: string, call: LimitsCall): void {
    switch (call?.op) {
      case 'openStream':
        leases.set(`${client}:${call.lease}`, this.limits.openStream(call.ip, call.subject));
        return;
      case 'charge':
        this.limits.chargePublish(call.charge);
        return;
      default:
        throw new Error(`unknown limits request ${JSON.stringify((call as { op?: unknown } | undefined)?.op)}`);
    }
  }

  private release(leases: Map<string, StreamLease>, key: string): void {
    const lease = leases.get(key);
    if (lease === undefined) return; // refused, or never reached the primary
    leases.delete(key);
    lease.release();
  }
}
