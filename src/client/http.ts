/** Request helpers shared by subscribe() and publish(). */

/** A bearer token, or a function called before each request so an expiring token can be refreshed. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export async function resolveToken(token: TokenSource | undefined): Promise<string | undefined> {
  const value = typeof token === 'function' ? await token() : token;
  return value === undefined || value === '' ? undefined : value;
}

/** `path` under the hub's base URL, keeping a path prefix ("https://example.com/push" + "events"). */
export function hubUrl(base: string, path: string): URL {
  const root = new URL(base);
  if (!root.pathname.endsWith('/')) root.pathname += '/';
  root.search = '';
  root.hash = '';
  return new URL(path, root);
}

/** The URL path of a topic: each segment percent-encoded, the slashes kept. */
export function topicPath(topic: string): string {
  // URL parsing would resolve "." and ".." segments (even percent-encoded) to another path.
  if (topic.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new TypeError(`Invalid topic "${topic}": "." and ".." segments are not allowed.`);
  }
  return `topics/${topic.split('/').map(encodeURIComponent).join('/')}`;
}
