/**
 * Mercure topic selectors, as Mercure 0.24 matches them: `*` matches every topic, a selector
 * holding a `{` is an RFC 6570 URI template matched against the topic (uri-template-matcher does
 * the matching), and anything else matches the identical topic only. Subscribers name selectors in
 * `topic=`; tokens name them in `mercure.subscribe` and `mercure.publish`.
 *
 * Templates are matched by backtracking, so two rules keep a subscriber's template from costing the
 * hub more than a linear pass: a template may not put an expression right after another one whose
 * split is ambiguous (`{a}{b}`, `{+a}{+b}`: any split point would do, and trying them all is
 * exponential), and topics are at most MAX_MERCURE_TOPIC_LENGTH characters.
 */
import { UriTemplateMatcher } from 'uri-template-matcher';
import { HubError } from '../errors.js';

/** Longest topic IRI (and selector) taken, in characters. */
export const MAX_MERCURE_TOPIC_LENGTH = 2048;

export type MercureSelector =
  | { kind: 'any'; source: string }
  | { kind: 'exact'; source: string }
  | { kind: 'template'; source: string; matcher: UriTemplateMatcher };

const ANY: MercureSelector = Object.freeze({ kind: 'any', source: '*' });

/** Operators after which the next expression starts at a character of their own (/, ., ?, &, ;, #). */
const DELIMITING_OPERATORS = new Set(['/', '.', '?', '&', ';', '#']);

/**
 * Parses one selector. @throws HubError 400 `invalid_topic_selector` for an empty or too long one,
 * and for a malformed URI template (unclosed or empty expression, an ambiguous pair of expressions).
 */
export function parseMercureSelector(source: string): MercureSelector {
  if (source === '*') return ANY;
  if (source === '') throw invalidSelector(source, 'it is empty');
  if (source.length > MAX_MERCURE_TOPIC_LENGTH) throw invalidSelector(source, `it is ${source.length} characters long; at most ${MAX_MERCURE_TOPIC_LENGTH} are taken`);
  if (!source.includes('{') && !source.includes('}')) return Object.freeze({ kind: 'exact', source });
  const ambiguous = /\}\{([^}]?)/.exec(source);
  if (ambiguous !== null && !DELIMITING_OPERATORS.has(ambiguous[1] ?? '')) {
    throw invalidSelector(source, 'two expressions follow each other with nothing between them ("}{"), so where one ends is ambiguous; put a literal or an operator such as {/x} between them');
  }
  const matcher = new UriTemplateMatcher();
  try {
    matcher.add(source);
  } catch (error) {
    throw invalidSelector(source, (error as Error).message.replace(/^Invalid template: .* - /, ''));
  }
  if (/\{[^{}]*[^\w%.,*:+#./;?&=-][^{}]*\}|\}[^{]*\}/.test(source)) throw invalidSelector(source, 'it is not a URI template (a stray brace or a character not allowed in an expression)');
  return Object.freeze({ kind: 'template', source, matcher });
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
      return topic.length <= MAX_MERCURE_TOPIC_LENGTH && (selector.source === topic || selector.matcher.match(topic) !== null);
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
