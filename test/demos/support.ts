/** Shared by the demo tests: starting a demo over HTTP and reading its topic to the end. */
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
  const { readdirSync, readFileSync } = await import('node:fs');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
