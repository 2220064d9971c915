/** An event stream that is a Fetch Response's body (hub.fetch, route handlers), read as it arrives by our parser. */
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';

export interface ResponseStream {
  /** Events as an application sees them: everything but the hub's position markers. */
  events: ParsedEvent[];
  comments: string[];
  /** Resolves when at least n events were received (rejects after timeoutMs, or if the body ends first). */
  waitForEvents(n: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  /** Resolves when the body ends. */
  ended: Promise<void>;
}

export function readResponseStream(response: Response): ResponseStream {
  const events: ParsedEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const parser = new EventStreamParser({
    onEvent: (event) => void (event.type === 'ssehub.position' || events.push(event)),
    onComment: (text) => void comments.push(text),
  });
  let done = false;
  const reader = response.body!.getReader();
  const ended = (async () => {
    try {
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        parser.feed(read.value);
        for (const wake of waiters) wake();
      }
    } catch {
      // an errored body ends the stream too
    } finally {
      done = true;
      for (const wake of waiters) wake();
    }
  })();
  const waitForEvents = (n: number, timeoutMs = 5000): Promise<ParsedEvent[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${n} events; got ${events.length}`)), timeoutMs);
      const check = (): void => {
        if (events.length >= n) finish();
        else if (done) finish(new Error(`the stream ended after ${events.length} of ${n} events`));
      };
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve(events);
      };
      waiters.add(check);
      check();
    });
  return { events, comments, waitForEvents, ended };
}
