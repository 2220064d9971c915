/**
 * TopicIndex: finds, for a published topic, every value registered under a selector that matches
 * it. It sits on the fan-out path (one `match` per published event), so:
 * - exact selectors live in a `Map<topic, bucket>` (one hash lookup);
 * - patterns live in a segment trie whose nodes hold literal children, a `*` child, the values of
 *   patterns ending at the node, and the values of patterns ending with `**` below the node;
 * - a topic's segments are cached (bounded), so matching a topic seen before allocates nothing,
 *   and a topic is not split at all while no pattern is registered;
 * - values are kept in arrays (with a position map for O(1) removal once a selector has more than a
 *   few) so visiting needs no iterator.
 *
 * Changes made from inside a `visit` callback are safe: a value removed before it is reached is
 * not visited, a value added during a match is not visited by that match, and no value is visited
 * twice for the same registration. Empty buckets and trie nodes are pruned as soon as they empty.
 */
import type { Selector } from './selector.js';

const HOLE: unique symbol = Symbol('hole');
type Slot<T> = T | typeof HOLE;

/** Up to this many values a bucket finds one by scanning its items; past it, through a position map. */
const SCAN_LIMIT = 8;

/**
 * The values registered under one selector. Most selectors have one value or a few (a user's own
 * topic, a small room), and there are as many buckets as topics: a small bucket is an exact-size
 * array and nothing else; the position map that keeps removal O(1) is built once it grows past
 * SCAN_LIMIT values.
 */
class Bucket<T> {
  items: Slot<T>[] = [];
  #positions: Map<T, number> | undefined;
  #size = 0;
  holes = 0;

  get size(): number {
    return this.#size;
  }

  #indexOf(value: T): number {
    return this.#positions === undefined ? this.items.indexOf(value) : (this.#positions.get(value) ?? -1);
  }

  add(value: T): boolean {
    if (this.#indexOf(value) !== -1) return false;
    // A first value gets an array of its own size (a push onto an empty array reserves 17 slots).
    if (this.items.length === 0) this.items = [value];
    else this.items.push(value);
    this.#size++;
    if (this.#positions !== undefined) this.#positions.set(value, this.items.length - 1);
    else if (this.#size > SCAN_LIMIT) {
      this.#positions = new Map();
      this.items.forEach((item, index) => {
        if (item !== HOLE) this.#positions!.set(item, index);
      });
    }
    return true;
  }

  /** Removes `value`; returns 'no' if absent, 'hole' if it left a hole (deferred), else 'yes'. */
  remove(value: T, deferred: boolean): 'no' | 'yes' | 'hole' {
    const index = this.#indexOf(value);
    if (index === -1) return 'no';
    this.#positions?.delete(value);
    this.#size--;
    if (deferred) {
      this.items[index] = HOLE;
      this.holes++;
      return this.holes === 1 ? 'hole' : 'yes';
    }
    const last = this.items.pop() as Slot<T>;
    if (index < this.items.length) {
      this.items[index] = last;
      this.#positions?.set(last as T, index);
    }
    return 'yes';
  }

  compact(): void {
    if (this.holes === 0) return;
    const items = this.items;
    let write = 0;
    for (let read = 0; read < items.length; read++) {
      const item = items[read] as Slot<T>;
      if (item === HOLE) continue;
      if (write !== read) {
        items[write] = item;
        this.#positions?.set(item, write);
      }
      write++;
    }
    items.length = write;
    this.holes = 0;
  }

  visitAll(visit: (value: T) => void): void {
    const items = this.items;
    const n = items.length; // values added during the visit are not visited
    for (let i = 0; i < n; i++) {
      const item = items[i] as Slot<T>;
      if (item !== HOLE) visit(item);
    }
  }
}

const STAR_KEY = '*';

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | null = null;
  star: TrieNode<T> | null = null;
  /** Values of patterns that end at this node. */
  here: Bucket<T> | null = null;
  /** Values of patterns ending with `**` right after this node. */
  rest: Bucket<T> | null = null;

  constructor(
    readonly parent: TrieNode<T> | null,
    /** Key under which the parent holds this node: the literal segment, or `*` for the star child. */
    readonly key: string,
    /** Whether this node is the parent's star child (a literal segment can never be `*`). */
    readonly isStar: boolean,
  ) {}

  isEmpty(): boolean {
    return this.children === null && this.star === null && this.here === null && this.rest === null;
  }
}

const SEGMENT_CACHE_LIMIT = 1024;

export class TopicIndex<T> {
  readonly #exact = new Map<string, Bucket<T>>();
  readonly #root = new TrieNode<T>(null, '', false);
  #patternSelectors = 0;
  #valueCount = 0;
  /** Number of `match` calls in progress (matches may nest through `visit`). */
  #matching = 0;
  /** Buckets that got holes during a match; compacted when the outermost match ends. */
  readonly #holey: Bucket<T>[] = [];
  readonly #segmentCache = new Map<string, readonly string[]>();

  /** Distinct selectors with at least one value. */
  get selectorCount(): number {
    return this.#exact.size + this.#patternSelectors;
  }

  /** Total (selector, value) registrations. */
  get valueCount(): number {
    return this.#valueCount;
  }

  /**
   * The `limit` selectors with the most values, most first, ties by selector in code-unit order;
   * `[]` for a limit of 0. One pass over the selectors (not the values): buckets know their size,
   * and a selector is only ranked against the current last place, so with thousands of selectors
   * it costs a map walk plus a handful of insertions. Pattern sources are rebuilt from the trie,
   * and only for patterns that could make the list.
   */
  topSelectors(limit: number): Array<{ selector: string; values: number }> {
    const top: Array<{ selector: string; values: number }> = [];
    if (limit <= 0) return top;
    const consider = (values: number, source: string | (() => string)): void => {
      if (values === 0) return;
      const last = top[top.length - 1];
      if (top.length === limit && last !== undefined && values < last.values) return;
      const selector = typeof source === 'string' ? source : source();
      if (top.length === limit && last !== undefined && values === last.values && selector > last.selector) return;
      let at = top.length;
      while (at > 0) {
        const before = top[at - 1]!;
        if (before.values > values || (before.values === values && before.selector < selector)) break;
        at--;
      }
      top.splice(at, 0, { selector, values });
      if (top.length > limit) top.pop();
    };
    for (const [topic, bucket] of this.#exact) consider(bucket.size, topic);
    if (this.#patternSelectors > 0) {
      const visit = (node: TrieNode<T>): void => {
        if (node.here !== null) consider(node.here.size, () => patternSource(node, false));
        if (node.rest !== null) consider(node.rest.size, () => patternSource(node, true));
        if (node.children !== null) for (const child of node.children.values()) visit(child);
        if (node.star !== null) visit(node.star);
      };
      visit(this.#root);
    }
    return top;
  }

  /** True when nothing is registered: no exact entries and a trie root without any children. */
  isEmpty(): boolean {
    return this.#exact.size === 0 && this.#root.isEmpty();
  }

  /** Registers `value` under `selector`; registering the same pair again is a no-op. */
  add(selector: Selector, value: T): void {
    let bucket: Bucket<T> | null;
    if (selector.kind === 'exact') {
      bucket = this.#exact.get(selector.topic) ?? null;
      if (bucket === null) {
        bucket = new Bucket<T>();
        this.#exact.set(selector.topic, bucket);
      }
    } else {
      const segments = selector.segments;
      if (segments.length === 0) return;
      let node = this.#root;
      const lastIndex = segments.length - 1;
      const trailing = segments[lastIndex] === '**';
      const depth = trailing ? lastIndex : segments.length;
      for (let i = 0; i < depth; i++) {
        const segment = segments[i] as string;
        if (segment === '*') {
          node.star ??= new TrieNode<T>(node, STAR_KEY, true);
          node = node.star;
        } else {
          node.children ??= new Map();
          let child = node.children.get(segment);
          if (child === undefined) {
            child = new TrieNode<T>(node, segment, false);
            node.children.set(segment, child);
          }
          node = child;
        }
      }
      if (trailing) {
        if (node.rest === null) {
          node.rest = new Bucket<T>();
          this.#patternSelectors++;
        }
        bucket = node.rest;
      } else {
        if (node.here === null) {
          node.here = new Bucket<T>();
          this.#patternSelectors++;
        }
        bucket = node.here;
      }
    }
    if (bucket.add(value)) this.#valueCount++;
  }

  /** Unregisters `value` from `selector`; removing what is not registered is a no-op. */
  remove(selector: Selector, value: T): void {
    if (selector.kind === 'exact') {
      const bucket = this.#exact.get(selector.topic);
      if (bucket === undefined || !this.#removeFrom(bucket, value)) return;
      if (bucket.size === 0) this.#exact.delete(selector.topic);
      return;
    }
    const segments = selector.segments;
    if (segments.length === 0) return;
    const lastIndex = segments.length - 1;
    const trailing = segments[lastIndex] === '**';
    const depth = trailing ? lastIndex : segments.length;
    let node: TrieNode<T> | null | undefined = this.#root;
    for (let i = 0; i < depth && node; i++) {
      const segment = segments[i] as string;
      node = segment === '*' ? node.star : node.children?.get(segment);
    }
    if (!node) return;
    const bucket = trailing ? node.rest : node.here;
    if (bucket === null || !this.#removeFrom(bucket, value)) return;
    if (bucket.size > 0) return;
    if (trailing) node.rest = null;
    else node.here = null;
    this.#patternSelectors--;
    // Prune now-empty nodes up to the root.
    while (node.parent !== null && node.isEmpty()) {
      const parent: TrieNode<T> = node.parent;
      if (node.isStar) {
        parent.star = null;
      } else if (parent.children !== null) {
        parent.children.delete(node.key);
        if (parent.children.size === 0) parent.children = null;
      }
      node = parent;
    }
  }

  #removeFrom(bucket: Bucket<T>, value: T): boolean {
    const result = bucket.remove(value, this.#matching > 0);
    if (result === 'no') return false;
    if (result === 'hole') this.#holey.push(bucket);
    this.#valueCount--;
    return true;
  }

  /**
   * Calls `visit` once per (selector, value) registration whose selector matches `topic`
   * (an already validated topic). A value registered under two matching selectors is visited twice.
   */
  match(topic: string, visit: (value: T) => void): void {
    this.#matching++;
    try {
      const exact = this.#exact.get(topic);
      if (exact !== undefined) exact.visitAll(visit);
      if (this.#patternSelectors > 0 && topic.length > 0) {
        const segments = this.#segmentsOf(topic);
        const root = this.#root;
        // Patterns starting with a wildcard never match reserved (`$…`) topics.
        if (topic.charCodeAt(0) === 0x24) {
          const child = root.children?.get(segments[0] as string);
          if (child !== undefined) walk(child, segments, 1, visit);
        } else {
          walk(root, segments, 0, visit);
        }
      }
    } finally {
      if (--this.#matching === 0 && this.#holey.length > 0) {
        for (const bucket of this.#holey) bucket.compact();
        this.#holey.length = 0;
      }
    }
  }

  #segmentsOf(topic: string): readonly string[] {
    let segments = this.#segmentCache.get(topic);
    if (segments === undefined) {
      if (this.#segmentCache.size >= SEGMENT_CACHE_LIMIT) this.#segmentCache.clear();
      segments = Object.freeze(topic.split('/'));
      this.#segmentCache.set(topic, segments);
    }
    return segments;
  }
}

/** The source of the pattern ending at `node` (with a final `**` when `trailing`). */
function patternSource<T>(node: TrieNode<T>, trailing: boolean): string {
  const segments: string[] = trailing ? ['**'] : [];
  for (let at: TrieNode<T> | null = node; at !== null && at.parent !== null; at = at.parent) segments.push(at.key);
  return segments.reverse().join('/');
}

/** Visits every bucket of patterns under `node` that match `segments[index..]`. */
function walk<T>(node: TrieNode<T>, segments: readonly string[], index: number, visit: (value: T) => void): void {
  if (index === segments.length) {
    if (node.here !== null) node.here.visitAll(visit);
    return;
  }
  if (node.rest !== null) node.rest.visitAll(visit); // `**` takes the one or more segments left
  if (node.children !== null) {
    const child = node.children.get(segments[index] as string);
    if (child !== undefined) walk(child, segments, index + 1, visit);
  }
  if (node.star !== null) walk(node.star, segments, index + 1, visit);
}
