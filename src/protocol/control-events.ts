/**
 * The hub's control events: named events the hub itself writes on a stream, and the reasons they
 * carry. The hub sends them (and refuses their names from publishers); ssehub's client reads them.
 * Shared by both sides so that they cannot drift apart.
 */

/** Event names starting with this are reserved for the hub's control events. */
export const RESERVED_EVENT_PREFIX = 'ssehub.';

/** True for a name in the hub's reserved range: never an application's event. */
export function isReservedEventName(name: string): boolean {
  return name.startsWith(RESERVED_EVENT_PREFIX);
}

/**
 * Sent first on a stream when the hub cannot prove that nothing was lost since the client's
 * Last-Event-ID. Its data is a {@link ResetDetail} as JSON; what history still holds follows.
 */
export const RESET_EVENT = `${RESERVED_EVENT_PREFIX}reset` as const;

/**
 * Ends catch-up: empty data, and the id from which live delivery continues. It moves the client's
 * Last-Event-ID to the hub's position even when no event of its topics was sent, so a client that
 * drops before its first event still resumes without a gap. It is a named event (not a bare "id:"
 * line) because common clients only take an id from an event they dispatch; onmessage never sees it.
 */
export const POSITION_EVENT = `${RESERVED_EVENT_PREFIX}position` as const;

/** Sent just before the hub ends a stream whose credential expired; its data is an {@link ExpiredDetail} as JSON. */
export const EXPIRED_EVENT = `${RESERVED_EVENT_PREFIX}expired` as const;

/**
 * Presence, on a stream opened with `?presence=1`: first one PRESENCE_EVENT per presence topic of
 * the stream (its data a {@link PresenceDetail}: who is there now), then a JOIN_EVENT when a subject
 * connects to one of them anywhere in the cluster and a LEAVE_EVENT when its last connection
 * closes (after the grace period, so a reconnect is neither). Their data is a {@link MemberDetail}.
 */
export const PRESENCE_EVENT = `${RESERVED_EVENT_PREFIX}presence` as const;
export const JOIN_EVENT = `${RESERVED_EVENT_PREFIX}join` as const;
export const LEAVE_EVENT = `${RESERVED_EVENT_PREFIX}leave` as const;

/** A subject on a presence topic: its client info (from its grant) and its open streams there. */
export interface PresenceMember {
  subject: string;
  info?: unknown;
  connections: number;
}

/** The data of a {@link PRESENCE_EVENT}. */
export interface PresenceDetail {
  topic: string;
  members: PresenceMember[];
}

/** The data of a {@link JOIN_EVENT} or {@link LEAVE_EVENT}. */
export interface MemberDetail {
  topic: string;
  member: PresenceMember;
}

/**
 * Why a resume may have missed events:
 * - `history-exceeded`: events after the client's id were evicted (retention, the byte budget);
 * - `unknown-id`: the id is not one this hub's history can place (another run, a wiped store).
 */
export const GAP_REASONS = ['history-exceeded', 'unknown-id'] as const;
export type GapReason = (typeof GAP_REASONS)[number];

/** The data of a {@link RESET_EVENT}. */
export interface ResetDetail {
  reason: GapReason;
  /** The Last-Event-ID the client resumed from. */
  lastEventId: string;
}

/** The reason an {@link EXPIRED_EVENT} gives. */
export const EXPIRED_REASON = 'credential-expired';

/** The data of an {@link EXPIRED_EVENT}. */
export interface ExpiredDetail {
  reason: typeof EXPIRED_REASON;
}

/**
 * Sent just before the hub ends a stream that a disconnect named (POST /admin/disconnect,
 * hub.disconnect()); its data is a {@link RevokedDetail} as JSON. Final: ssehub's client does not
 * reconnect after it, and a reconnect with the same token would be refused (401 token_revoked) for
 * a subject or a token id.
 */
export const REVOKED_EVENT = `${RESERVED_EVENT_PREFIX}revoked` as const;

/** The reason a {@link REVOKED_EVENT} gives. */
export const REVOKED_REASON = 'revoked';

/** The data of a {@link REVOKED_EVENT}: the reason, and the one criterion the disconnect named. */
export interface RevokedDetail {
  reason: typeof REVOKED_REASON;
  subject?: string;
  topic?: string;
  tokenId?: string;
}

/**
 * The end of a topic: the publisher's last event was published with `end` (POST
 * /topics/{t}?end=true, `end: true` in a batch, hub.publish's end option). Unlike the other control
 * events it is stored IN the topic's log, right after that last event, with an id: every engine
 * keeps and delivers it in order, so a client resuming from before the end gets the rest and then
 * the end, on any instance. A stream whose topics have all ended (exact topics, no pattern) is
 * closed by the hub after it; a pattern stream hears it for each topic and stays open. Its data is
 * an {@link EndDetail} as JSON. Final: ssehub's client stops reading the topic after it.
 */
export const END_EVENT = `${RESERVED_EVENT_PREFIX}end` as const;

/** The data of an {@link END_EVENT}: which topic ended. */
export interface EndDetail {
  topic: string;
}

/**
 * A reader asked the producer of a topic to stop (POST /topics/{t}/cancel): sent to every stream
 * subscribed to the topic, on every instance, with no id (it is a signal, not part of the topic's
 * history: never stored, never replayed). Its data is a {@link CancelDetail} as JSON.
 */
export const CANCEL_EVENT = `${RESERVED_EVENT_PREFIX}cancel` as const;

/** The data of a {@link CANCEL_EVENT}: which topic's producer is asked to stop. */
export interface CancelDetail {
  topic: string;
}
