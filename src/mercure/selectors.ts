/**
 * Mercure topic selectors, as Mercure 0.24 matches them: `*` matches every topic, a selector
 * holding a `{` is an RFC 6570 URI template matched against the topic (compiled to a regular
 * expression: uri-template.ts, which also says what keeps that linear), and anything else matches
 * the identical topic only. Subscribers name selectors in `topic=`; tokens name them in
 * `mercure.subscribe` and `mercure.publish`. Topics are at most MAX_MERCURE_TOPIC_LENGTH characters.
 */
import { HubError } from '../errors.js';
import { compileUriTemplate, UriTemplateError } from './uri-template.js';

/** Longest topic IRI (and selector) taken, in characters. */
export const MAX_MERCURE_TOPIC_LENGTH = 2048;

export type MercureSelector =
  | { kind: 'any'; source: string }
  | { kind: 'exact'; source: string }
  | { kind: 'template'; source: string; pattern: RegExp };

const ANY: MercureSelector = Object.freeze({ kind: 'any', source: '*' });

/**
 * Parses one selector. @throws HubError 400 `invalid_topic_selector` for an empty or too long one,
 * and for a malformed URI template (unclosed or empty expression, an ambiguous pair of expressions).
 */
export function parseMercureSelector(source: string): MercureSelector {
  if (source === '*') return ANY;
  if (source === '') throw invalidSelector(source, 'it is empty');
  if (source.length > MAX_MERCURE_TOPIC_LENGTH) throw invalidSelector(source, `it is ${source.length} characters long; at most ${MAX_MERCURE_TOPIC_LENGTH} are taken`);
  if (!source.includes('{') && !source.includes('}')) return Object.freeze({ kind: 'exact', source });
  let pattern: RegExp;
  try {
    pattern = compileUriTemplate(source);
  } catch (error) {
    if (error instanceof UriTemplateError) throw invalidSelector(source, error.message);
    throw error;
  }
  return Object.freeze({ kind: 'template', source, pattern });
}

/** Parses the selectors of a request or a claim. */
export function parseMercureSelectors(sources: readonly string[]): MercureSelector[] {
  return sources.map(parseMercureSelector);
}

/** Whether `topic` is matched by the selector. */
export function mercureSelectorMatches(selector: MercureSelector, topic: string): boolean {
  switch (selector.kind) {
    case 'any':
      return true;
    case 'exact':
      return selector.source === topic;
    case 'template':
      return topic.length <= MAX_MERCURE_TOPIC_LENGTH && (selector.source === topic || selector.pattern.test(topic));
  }
}

/** Whether any of the topics is matched by any of the selectors. */
export function anyTopicMatches(selectors: readonly MercureSelector[], topics: readonly string[]): boolean {
  for (const topic of topics) for (const selector of selectors) if (mercureSelectorMatches(selector, topic)) return true;
  return false;
}

function invalidSelector(source: string, problem: string): HubError {
  const shown = source.length > 80 ? `${source.slice(0, 80)}…` : source;
  return new HubError(400, 'invalid_topic_selector', `Invalid topic selector ${JSON.stringify(shown)}: ${problem}.`);
}
