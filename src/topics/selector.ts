/**
 * Selectors: an exact topic or a pattern with `*` (one segment) and a final `**` (one or more
 * trailing segments). The syntax is documented in topic.ts.
 */
import { checkSyntax, SYSTEM_TOPIC_PREFIX, type TopicLimits, type TopicOptions } from './topic.js';

export type Selector =
  | { kind: 'exact'; source: string; topic: string }
  | { kind: 'pattern'; source: string; segments: readonly string[] };

const DOLLAR = 0x24;

/**
 * Parses a selector. A selector without wildcard segments is `exact`; otherwise it is a `pattern`
 * whose `segments` contain literals, `'*'`, and possibly a final `'**'`.
 * @throws HubError(400, 'invalid_topic') naming the selector and the problem.
 */
export function parseSelector(raw: string, options?: TopicOptions): Selector {
  const segments = checkSyntax(raw, options, 'selector');
  let wildcard = false;
  for (const segment of segments) {
    if (segment === '*' || segment === '**') {
      wildcard = true;
      break;
    }
  }
  if (!wildcard) return Object.freeze({ kind: 'exact', source: raw, topic: raw });
  return Object.freeze({ kind: 'pattern', source: raw, segments: Object.freeze(segments) });
}

/**
 * Parses a selector a client may subscribe to (or be granted, or make public): any ordinary topic
 * or pattern, or one under the system namespace `$ssehub/`: an exact system topic (`$ssehub/stats`)
 * or a pattern whose first segment names the namespace literally (`$ssehub/*`, `$ssehub/**`).
 * Other `$` topics, and `$ssehub` itself, stay refused. Publishing never goes through here: system
 * topics are published to by the hub alone.
 */
export function parseSubscribeSelector(raw: string, options?: { limits?: TopicLimits }): Selector {
  const allowReserved = typeof raw === 'string' && raw.startsWith(SYSTEM_TOPIC_PREFIX);
  return parseSelector(raw, { ...options, allowReserved });
}

function isWildcard(segment: string | undefined): boolean {
  return segment === '*' || segment === '**';
}

/**
 * Whether `topic` (an already validated topic) is matched by `selector`. A pattern whose first
 * segment is a wildcard never matches a reserved (`$…`) topic. Does not allocate.
 */
export function selectorMatches(selector: Selector, topic: string): boolean {
  if (selector.kind === 'exact') return selector.topic === topic;
  const segments = selector.segments;
  const length = topic.length;
  if (length === 0 || segments.length === 0) return false;
  if (topic.charCodeAt(0) === DOLLAR && isWildcard(segments[0])) return false;

  let pos = 0; // start of the current topic segment; length + 1 once the topic is used up
  for (let i = 0; i < segments.length; i++) {
    if (pos > length) return false; // pattern longer than topic
    const segment = segments[i] as string;
    if (segment === '**') return true; // at least one topic segment remains
    let end = topic.indexOf('/', pos);
    if (end === -1) end = length;
    if (segment !== '*' && (end - pos !== segment.length || !topic.startsWith(segment, pos))) return false;
    pos = end + 1;
  }
  return pos === length + 1;
}

/**
 * Whether every topic matched by `requested` is also matched by `granted`, e.g. for authorization:
 * a grant of `orders/**` covers a subscription to `orders/*` or `orders/1/x`, but not `orders`.
 * An exact grant covers only the same exact topic.
 */
export function selectorCovers(granted: Selector, requested: Selector): boolean {
  if (requested.kind === 'exact') return selectorMatches(granted, requested.topic);
  if (granted.kind === 'exact') return false; // a pattern matches infinitely many topics

  const g = granted.segments;
  const r = requested.segments;
  if (g.length === 0 || r.length === 0) return false;
  // A requested pattern starting with a literal `$…` reaches reserved topics; a granted pattern
  // starting with a wildcard never matches those.
  if (isWildcard(g[0]) && !isWildcard(r[0]) && (r[0] as string).charCodeAt(0) === DOLLAR) return false;

  for (let i = 0; i < g.length; i++) {
    const gs = g[i] as string;
    if (i >= r.length) return false; // granted needs more segments than requested can supply
    const rs = r[i] as string;
    if (gs === '**') return true; // requested has at least one segment from here on
    if (gs === '*') {
      if (rs === '**') return false; // `**` may span several segments where `*` takes one
      continue;
    }
    if (gs !== rs) return false; // a literal covers only the identical literal
  }
  return g.length === r.length;
}
