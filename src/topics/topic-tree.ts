/**
 * TopicTree: a value per topic, kept in a trie by segment, so that the topics a selector matches
 * are found without looking at the others. It is the reverse of TopicIndex (which finds the
 * selectors matching one topic): the memory engine uses it to answer a pattern resume, whose cost
 * must follow what the pattern matches, not how many topics the hub holds (`nomatch/**` visits
 * one node, whatever the number of topics).
 *
 * Walking a selector visits, for each segment: a literal, one child; `*`, every child; a final
 * `**`, the whole subtree below. Empty nodes are pruned as soon as they empty. The walk is a
 * generator over Maps, which stay valid under changes made between two steps (an entry deleted
 * before it is reached is not visited; one added may or may not be).
 */
import type { Selector } from './selector.js';

interface Node<T> {
  value: T | undefined;
  children: Map<string, Node<T>> | undefined;
}

const DOLLAR = 0x24;

export class TopicTree<T> {
  private readonly root: Node<T> = { value: undefined, children: undefined };
  private count = 0;
  /** Nodes entered by every walk so far: what a walk cost, for tests and benchmarks. */
  nodesVisited = 0;

  get size(): number {
    return this.count;
  }

  set(topic: string, value: T): void {
    let node = this.root;
    for (const segment of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(segment);
      if (child === undefined) {
        child = { value: undefined, children: undefined };
        node.children.set(segment, child);
      }
      node = child;
    }
    if (node.value === undefined) this.count += 1;
    node.value = value;
  }

  /** Removes the topic's value; false if it had none. Nodes left with nothing below are pruned. */
  delete(topic: string): boolean {
    const segments = topic.split('/');
    const path: Node<T>[] = [this.root];
    for (const segment of segments) {
      const child = path[path.length - 1]!.children?.get(segment);
      if (child === undefined) return false;
      path.push(child);
    }
    const leaf = path[path.length - 1]!;
    if (leaf.value === undefined) return false;
    leaf.value = undefined;
    this.count -= 1;
    for (let i = segments.length; i > 0; i--) {
      const node = path[i]!;
      if (node.value !== undefined || (node.children !== undefined && node.children.size > 0)) break;
      path[i - 1]!.children!.delete(segments[i - 1]!);
    }
    return true;
  }

  /** The values of every topic the selector matches (see selectorMatches for the rules). */
  *matching(selector: Selector): Generator<T> {
    const segments = selector.kind === 'exact' ? selector.topic.split('/') : selector.segments;
    yield* this.walk(this.root, segments, 0);
  }

  private *walk(node: Node<T>, segments: readonly string[], i: number): Generator<T> {
    this.nodesVisited += 1;
    if (i === segments.length) {
      if (node.value !== undefined) yield node.value;
      return;
    }
    const children = node.children;
    if (children === undefined) return;
    const segment = segments[i]!;
    if (segment === '*' || segment === '**') {
      for (const [name, child] of children) {
        // A pattern starting with a wildcard never reaches the reserved `$…` topics.
        if (i === 0 && name.charCodeAt(0) === DOLLAR) continue;
        if (segment === '**') yield* this.everything(child);
        else yield* this.walk(child, segments, i + 1);
      }
      return;
    }
    const child = children.get(segment);
    if (child !== undefined) yield* this.walk(child, segments, i + 1);
  }

  /** The node's own value and every value below it. */
  private *everything(node: Node<T>): Generator<T> {
    this.nodesVisited += 1;
    if (node.value !== undefined) yield node.value;
    if (node.children === undefined) return;
    for (const child of node.children.values()) yield* this.everything(child);
  }
}
