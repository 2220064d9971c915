/**
 * The grants of a credential, as lists of topic selectors: one parser for every source of grants
 * (a token's `ssehub` claim, a grant from the app's authorize function or its forward-auth
 * endpoint), so they all mean the same thing.
 */
import { parseSelector, parseSubscribeSelector, type Selector } from '../topics/index.js';

/** What is wrong with a selector list, worded to follow the list's name ("… must be an array …"). */
export class SelectorListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorListError';
  }
}

/**
 * Subscribe grants may name system topics (`$ssehub/stats`, `$ssehub/**`); only a grant that names
 * them literally reaches them (`**` does not). Publish grants never may: the hub alone publishes
 * there. Missing: no grants.
 * @throws SelectorListError when the value is not an array of valid selectors.
 */
export function parseSelectorList(value: unknown, direction: 'publish' | 'subscribe'): Selector[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new SelectorListError('must be an array of topic selectors.');
  }
  try {
    return value.map((source: string) => (direction === 'subscribe' ? parseSubscribeSelector(source) : parseSelector(source)));
  } catch (error) {
    throw new SelectorListError(`holds an invalid selector: ${(error as Error).message}`);
  }
}
