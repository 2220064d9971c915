/** Shared by the demo tests: starting a demo over HTTP and reading its topic to the end. */
import { childPids } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream, type Reply } from '../support/http.js';

export function postDemo(base: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return httpRequest(`${base}/demos/api/${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

/** Opens the demo's topics from the position the hub answered with, so nothing is missed. */
export function follow(base: string, topics: string[], lastEventId: string): Promise<OpenStream> {
  const query = topics.map((topic) => `topic=${encodeURIComponent(topic)}`).join('&');
  return openStream(`${base}/events?${query}&lastEventId=${encodeURIComponent(lastEventId)}`);
}

/** The child processes of this test process whose command line contains `marker` (Linux /proc). */
export async function childrenWith(marker: string): Promise<number[]> {
  const { readFileSync } = await import('node:fs');
  return childPids(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false; // gone meanwhile
    }
  });
}
