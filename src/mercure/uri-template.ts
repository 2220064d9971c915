/**
 * RFC 6570 URI templates, compiled to a regular expression that matches the URIs the template can
 * expand to, the way Mercure's own hub matches them (by regular expression, one character class per
 * operator). Written here because the npm matchers tried (uri-template-matcher,
 * uri-template-lite) backtrack exponentially on adjacent expressions and miss expansions with
 * undefined variables (`/x{/topic}{/subscriber}` not matching `/x`, the protocol's own example).
 *
 * Each expression matches its operator's prefix, then a run of the characters its expansion can
 * produce: unreserved and percent-encoded ones (the reserved ones too for `{+…}` and `{#…}`),
 * list commas, `=` for named operators, and its separator when it can occur. Variable names of
 * `;`, `?` and `&` expressions are not checked: like every undefined variable, they may be absent. What keeps matching linear in practice is enforced here: at most
 * MAX_EXPRESSIONS expressions, at most MAX_RESERVED_EXPRESSIONS of them `+` or `#` (their values
 * may contain anything, so each is a ".*" to backtrack over), and no expression right after another
 * unless its operator starts it with a character of its own.
 */

export const MAX_EXPRESSIONS = 10;
export const MAX_RESERVED_EXPRESSIONS = 2;

const UNRESERVED = "A-Za-z0-9\\-._~";
const RESERVED = ":/?#\\[\\]@!$&'()*+,;=";
const PCT = '%[0-9A-Fa-f]{2}';

interface Operator {
  first: string;
  separator: string;
  named: boolean;
  /** `name` alone when the value is empty (`;`), else `name=`. */
  emptyBare: boolean;
  reserved: boolean;
}

const OPERATORS: Record<string, Operator> = {
  '': { first: '', separator: ',', named: false, emptyBare: false, reserved: false },
  '+': { first: '', separator: ',', named: false, emptyBare: false, reserved: true },
  '#': { first: '#', separator: ',', named: false, emptyBare: false, reserved: true },
  '.': { first: '.', separator: '.', named: false, emptyBare: false, reserved: false },
  '/': { first: '/', separator: '/', named: false, emptyBare: false, reserved: false },
  ';': { first: ';', separator: ';', named: true, emptyBare: true, reserved: false },
  '?': { first: '?', separator: '&', named: true, emptyBare: false, reserved: false },
  '&': { first: '&', separator: '&', named: true, emptyBare: false, reserved: false },
};

const VARSPEC = /^([A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9][0-9]{0,3}|\*)?$/;

/** Thrown for a template that is not RFC 6570, or one outside the bounds above; the message says why. */
export class UriTemplateError extends Error {}

/** The template as an anchored regular expression. @throws UriTemplateError */
export function compileUriTemplate(template: string): RegExp {
  let pattern = '^';
  let expressions = 0;
  let reserved = 0;
  let previousEnd = -1;
  let previousChars = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const literal = open === -1 ? template.slice(i) : template.slice(i, open);
    if (literal.includes('}')) throw new UriTemplateError('a "}" closes no expression');
    pattern += escapeRegExp(literal);
    if (open === -1) break;
    const close = template.indexOf('}', open);
    if (close === -1) throw new UriTemplateError('an expression is not closed ("}" is missing)');
    const body = template.slice(open + 1, close);
    if (body.includes('{')) throw new UriTemplateError('an expression is not closed before the next "{"');
    const operatorChar = body !== '' && '+#./;?&'.includes(body[0]!) ? body[0]! : '';
    if ('=,!@|'.includes(body[0] ?? '') && body !== '') throw new UriTemplateError(`the operator "${body[0]}" is reserved for future extensions`);
    const operator = OPERATORS[operatorChar]!;
    const names = body.slice(operatorChar.length).split(',');
    for (const name of names) if (!VARSPEC.test(name)) throw new UriTemplateError(name === '' ? 'an expression has an empty variable name' : `"${name}" is not a variable name`);
    const chars = characters(operator, names);
    // Right after another expression, this one must start with a character the other cannot hold.
    if (open === previousEnd && (operator.first === '' || new RegExp(`[${previousChars}]`).test(operator.first))) {
      throw new UriTemplateError('two expressions follow each other and where the first ends is ambiguous ("}{"); put a literal between them, or start the second with an operator such as {/x}');
    }
    expressions += 1;
    if (operator.reserved) reserved += 1;
    if (expressions > MAX_EXPRESSIONS) throw new UriTemplateError(`it has more than ${MAX_EXPRESSIONS} expressions`);
    if (reserved > MAX_RESERVED_EXPRESSIONS) throw new UriTemplateError(`it has more than ${MAX_RESERVED_EXPRESSIONS} "+" or "#" expressions`);
    pattern += expressionPattern(operator, chars);
    previousEnd = close + 1;
    previousChars = chars;
    i = close + 1;
  }
  return new RegExp(`${pattern}$`);
}

/**
 * The characters an expression's expansion may hold after its first one: its values' characters,
 * "," (list values), "=" (named operators) and its separator when it can occur (several variables,
 * or an exploded one). One character class, so an expression is one unambiguous run.
 */
function characters(operator: Operator, names: string[]): string {
  let chars = operator.reserved ? UNRESERVED + RESERVED : UNRESERVED;
  chars += ',';
  if (operator.named) chars += '=';
  if (names.length > 1 || names.some((name) => name.endsWith('*'))) chars += escapeClass(operator.separator);
  return chars;
}

/** Any variable may be undefined, and a defined one empty: the whole expression may expand to nothing. */
function expressionPattern(operator: Operator, chars: string): string {
  return `(?:${escapeRegExp(operator.first)}(?:[${chars}]|${PCT})*)?`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function escapeClass(text: string): string {
  return text.replace(/[\]\\^-]/g, '\\$&');
}
