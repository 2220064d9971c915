// Topic names.
//
// Topic syntax
// ------------
// - A topic is 1 to `maxSegments` segments separated by `/`, for example `orders/42/items`.
// - Each segment is one or more characters from `A-Z a-z 0-9 - _ . ~ : @ + = ,`.
//   Empty segments are not allowed, so a topic never starts or ends with `/` and never contains `//`.
//   Neither are the segments `.` and `..`: in a URL path they mean "this" and "parent", and a topic
//   that a proxy or client may rewrite (`a/../b` to `b`) could land somewhere else.
// - The whole topic is at most `maxLength` characters long.
//   Defaults: `maxLength` 256, `maxSegments` 16.
// - Topics whose first segment starts with `$` (for example `$ssehub/stats`) are reserved for the
//   hub's own system topics. `$` is allowed only as the very first character of a topic and must be
//   followed by at least one ordinary character. Reserved topics are refused unless the caller passes
//   `{ allowReserved: true }`. The hub publishes its own events under `$ssehub/` (SYSTEM_TOPIC_PREFIX);
//   clients may subscribe to those (see parseSubscribeSelector in selector.ts) but never publish.
//
// Selectors (see selector.ts) use the same syntax plus two wildcard segments:
// - a segment that is exactly `*` matches exactly one segment (`orders/*` matches `orders/1`,
//   not `orders` nor `orders/1/items`);
// - a last segment that is exactly `**` matches one or more trailing segments (`orders/**` matches
//   `orders/1` and `orders/1/items`, not `orders`). A bare `**` matches every non-reserved topic.
// - `**` anywhere but last is invalid, and so is a wildcard mixed into a segment (`ord*`, `a**`).
// - A selector may name a reserved topic only with `{ allowReserved: true }`. A pattern matches a
//   reserved topic only if its own first segment literally starts with `$`: `**` and `*/stats`
//   never match `$ssehub/stats`, while `$ssehub/*` does.
//
// Every violation is reported as `HubError(400, 'invalid_topic', message)`, for topics and selectors
// alike; the message names the offending input and what is wrong with it.
import { HubError } from '../errors.js';

export interface TopicLimits {
  maxLength: number;
  maxSegments: number;
}

export const DEFAULT_TOPIC_LIMITS: TopicLimits = Object.freeze({ maxLength: 256, maxSegments: 16 });

export interface TopicOptions {
  limits?: TopicLimits;
  allowReserved?: boolean;
}

/** First character of a reserved (system) topic. */
export const RESERVED_TOPIC_PREFIX = '$';

/** The hub's own system topics, e.g. `$ssehub/stats`: published by the hub, subscribable by clients. */
export const SYSTEM_TOPIC_PREFIX = '$ssehub/';

const SLASH = 0x2f;
const DOLLAR = 0x24;
const STAR = 0x2a;
const ALLOWED_CHARACTERS_TEXT = 'A-Z a-z 0-9 - _ . ~ : @ + = ,';

/** ASCII lookup table: 1 for characters allowed anywhere inside a segment. */
const ALLOWED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) ALLOWED[c] = 1; // 0-9
for (let c = 0x41; c <= 0x5a; c++) ALLOWED[c] = 1; // A-Z
for (let c = 0x61; c <= 0x7a; c++) ALLOWED[c] = 1; // a-z
for (const ch of '-_.~:@+=,') ALLOWED[ch.charCodeAt(0)] = 1;

/** True when the topic (or selector source) is in the reserved `$` namespace. */
export function isReservedTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR;
}

/**
 * Validates `raw` as a topic and returns it unchanged.
 * @throws HubError(400, 'invalid_topic') naming the topic and the problem.
 */
export function parseTopic(raw: string, options?: TopicOptions): string {
  checkSyntax(raw, options, 'topic');
  return raw;
}

/** What is being checked: a topic (no wildcards) or a selector (wildcard segments allowed). */
export type SyntaxKind = 'topic' | 'selector';

/**
 * Shared validator for topics and selectors; not part of the public API (index.ts does not
 * re-export it). Returns the segments of `raw`; throws on the first problem found.
 */
export function checkSyntax(raw: unknown, options: TopicOptions | undefined, kind: SyntaxKind): string[] {
  if (typeof raw !== 'string') {
    throw new HubError(400, 'invalid_topic', `invalid ${kind}: expected a string, got ${describeType(raw)}`);
  }
  const fail = (problem: string): never => {
    throw new HubError(400, 'invalid_topic', `invalid ${kind} ${quote(raw)}: ${problem}`);
  };
  const limits = options?.limits ?? DEFAULT_TOPIC_LIMITS;

  if (raw.length === 0) fail('it is empty');
  if (raw.length > limits.maxLength) {
    fail(`it is ${raw.length} characters long; the maximum length is ${limits.maxLength}`);
  }

  const segments = raw.split('/');
  const last = segments.length - 1;
  if (segments.length > limits.maxSegments) {
    fail(`it has ${segments.length} segments; the maximum is ${limits.maxSegments}`);
  }

  let offset = 0; // index in raw of the current segment's first character
  for (let s = 0; s <= last; s++) {
    const segment = segments[s] as string;
    if (segment.length === 0) {
      if (s === 0) fail('it starts with "/" (empty first segment)');
      if (s === last) fail('it ends with "/" (empty last segment)');
      fail(`it contains an empty segment ("//") at index ${offset - 1}`);
    }
    if (segment === '.' || segment === '..') fail(`the segment ${quote(segment)} is not allowed (it would read as a relative path)`);
    if (kind === 'selector' && (segment === '*' || segment === '**')) {
      if (segment === '**' && s !== last) {
        fail(`"**" is only allowed as the last segment (found at segment ${s + 1} of ${segments.length})`);
      }
    } else {
      for (let i = 0; i < segment.length; i++) {
        const c = segment.charCodeAt(i);
        if (c < 128 && ALLOWED[c] === 1) continue;
        if (c === DOLLAR && s === 0 && i === 0) {
          if (segment.length === 1) fail('the reserved prefix "$" must be followed by a name (e.g. "$ssehub")');
          continue;
        }
        if (c === STAR) {
          if (kind === 'selector') {
            fail(`a wildcard must be a whole segment ("*" or a final "**"), found in segment ${quote(segment)}`);
          }
          fail('wildcards ("*", "**") are only allowed in selectors, not in topics');
        }
        if (c === DOLLAR) {
          fail(`"$" is only allowed as the first character (reserved system ${kind}s), found at index ${offset + i}`);
        }
        const cp = segment.codePointAt(i) as number;
        fail(
          `character ${describeChar(cp)} at index ${offset + i} is not allowed; ` +
            `segments may contain only ${ALLOWED_CHARACTERS_TEXT}`,
        );
      }
    }
    offset += segment.length + 1;
  }

  if (raw.charCodeAt(0) === DOLLAR && options?.allowReserved !== true) {
    fail('topics starting with "$" are reserved for the hub\'s system topics');
  }
  return segments;
}

function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}

function describeChar(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp < 0x20 || cp === 0x7f || cp === 0x20) return hex;
  return `${JSON.stringify(String.fromCodePoint(cp))} (${hex})`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
