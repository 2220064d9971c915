/**
 * The wire formats a stream may speak: `sse` (text/event-stream, every HTTP stream) and `json` (one
 * JSON message per line, split into WebSocket frames by the WebSocket sink; protocol/ws.ts). The hub
 * encodes an event once per format in use, and every subscriber of that format gets the same bytes.
 * Ids and control events are the same in both: only the encoding differs.
 */
import type { StoredEvent } from '../engines/engine.js';
import { encodeEvent, encodeWsEvent } from '../protocol/index.js';

export type WireFormat = 'sse' | 'json';

export const WIRE_FORMATS: readonly WireFormat[] = ['sse', 'json'];

/** A control event of the hub (ssehub.reset, ssehub.position…): no topic, an id only for a position. */
export interface ControlMessage {
  event: string;
  data: string;
  id?: string;
}

/** An event's frame. `ephemeral`: delivered without an id (it is not in history, so nothing resumes from it), under its own topic. */
export function eventFrame(format: WireFormat, event: StoredEvent, topic: string = event.topic, ephemeral = false): Uint8Array {
  const id = ephemeral ? undefined : event.id;
  if (format === 'json') {
    return Buffer.from(encodeWsEvent({ ...(id === undefined ? {} : { id }), topic, ...(event.event === undefined ? {} : { event: event.event }), data: event.data, ...(ephemeral ? { ephemeral: true as const } : {}) }));
  }
  // One object of fields, absent ones undefined (encodeEvent leaves those out): this runs once per event.
  return Buffer.from(encodeEvent({ id, event: event.event, data: event.data }));
}

export function controlFrame(format: WireFormat, control: ControlMessage): Uint8Array {
  return Buffer.from(format === 'json' ? encodeWsEvent(control) : encodeEvent(control));
}

/** A control event encoded in every format once, for a message sent to many streams. */
export class ControlFrames {
  private readonly frames = new Map<WireFormat, Uint8Array>();

  constructor(private readonly control: ControlMessage) {}

  for(format: WireFormat): Uint8Array {
    let frame = this.frames.get(format);
    if (frame === undefined) this.frames.set(format, (frame = controlFrame(format, this.control)));
    return frame;
  }
}
