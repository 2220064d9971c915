/**
 * Disconnects, cluster-wide: the one way a disconnect goes, from POST /admin/disconnect, from
 * hub.disconnect() and from `ssehub disconnect` alike. The credentials it names go on the
 * deny-list first (so a reconnect racing the message is already refused), then a `disconnect`
 * message on the system bus's control channel tells every instance, this one included, to end its
 * matching streams with the ssehub.revoked control event.
 */
import { parseDisconnectCriterion, type DisconnectCriterion, type RevocationList } from '../auth/revocation.js';
import { REVOKED_EVENT, REVOKED_REASON, type RevokedDetail } from '../protocol/index.js';
import type { Hub, HubLogger } from './hub.js';
import type { SystemBus } from './system-bus.js';

const MESSAGE_TYPE = 'disconnect';

/** What a disconnect answers: what was asked, and until when the credentials it names are refused. */
export interface DisconnectResult {
  disconnect: DisconnectCriterion;
  /** ISO time until which reconnects with the named credentials are refused; absent for a topic. */
  refusedUntil?: string;
}

/**
 * Revokes the streams `value` names on every instance: the value is checked (400
 * invalid_disconnect), the deny-list written, the message sent. Resolves once the engine has taken
 * the message; the instances end their streams as it reaches them.
 */
export async function disconnect(value: unknown, hub: Hub, bus: SystemBus, revocations: RevocationList): Promise<DisconnectResult> {
  const criterion = parseDisconnectCriterion(value, hub.topicLimits);
  const until = await revocations.deny(criterion);
  await bus.send('control', MESSAGE_TYPE, criterion);
  return until === undefined ? { disconnect: criterion } : { disconnect: criterion, refusedUntil: new Date(until).toISOString() };
}

/** Makes this instance end its matching streams whenever any instance sends a disconnect. */
export function listenForDisconnects(hub: Hub, bus: SystemBus, revocations: RevocationList, logger: HubLogger): void {
  bus.onGap(() => revocations.forgetAll());
  bus.on('control', (message) => {
    if (message.type !== MESSAGE_TYPE) return;
    let criterion: DisconnectCriterion;
    try {
      criterion = parseDisconnectCriterion(message.data, hub.topicLimits);
    } catch (error) {
      logger.warn({ err: error, id: message.id }, 'ignored a disconnect message without one valid criterion');
      return;
    }
    revocations.forget(criterion);
    const detail: RevokedDetail = { reason: REVOKED_REASON, ...criterion };
    const ended = hub.endStreams(criterion, { event: REVOKED_EVENT, data: JSON.stringify(detail) });
    logger.info({ ...criterion, ended, from: message.instance }, 'streams disconnected');
  });
}
