import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HubError } from '../../src/errors.js';
import { anyTopicMatches, mercureSelectorMatches, parseMercureSelector } from '../../src/mercure/selectors.js';

const matches = (selector: string, topic: string) => mercureSelectorMatches(parseMercureSelector(selector), topic);

describe('Mercure topic selectors', () => {
  test('"*" matches every topic, an exact selector only the same topic', () => {
    assert.equal(matches('*', 'https://example.com/books/1'), true);
    assert.equal(matches('*', 'urn:anything'), true);
    assert.equal(matches('https://example.com/books/1', 'https://example.com/books/1'), true);
    assert.equal(matches('https://example.com/books/1', 'https://example.com/books/10'), false);
    assert.equal(matches('https://example.com/books/1', 'https://example.com/books'), false);
  });

  test('URI templates match as in the protocol\'s examples', () => {
    assert.equal(matches('https://example.com/books/{id}', 'https://example.com/books/1'), true);
    assert.equal(matches('https://example.com/books/{id}', 'https://example.com/users/1'), false);
    assert.equal(matches('https://example.com/books/{id}', 'https://example.com/books/1/reviews'), false);
    const demo = '{scheme}://{+host}/demo/books/{id}.jsonld';
    assert.equal(matches(demo, 'https://example.com/demo/books/1.jsonld'), true);
    assert.equal(matches(demo, 'http://localhost:3000/demo/books/42.jsonld'), true);
    assert.equal(matches(demo, 'https://example.com/demo/authors/1.jsonld'), false);
    assert.equal(matches('https://example.com/books/{id}{?format}', 'https://example.com/books/1?format=json'), true);
    assert.equal(matches('https://example.com{/path*}', 'https://example.com/a/b/c'), true);
  });

  test('anyTopicMatches: one matching topic of the update is enough', () => {
    const selectors = ['https://example.com/books/{id}', 'urn:x'].map(parseMercureSelector);
    assert.equal(anyTopicMatches(selectors, ['https://other.example/a', 'https://example.com/books/3']), true);
    assert.equal(anyTopicMatches(selectors, ['https://other.example/a']), false);
    assert.equal(anyTopicMatches([], ['urn:x']), false);
  });

  for (const [template, why] of [
    ['https://example.com/books/{id', 'unclosed'],
    ['https://example.com/books/{}', 'empty expression'],
    ['https://example.com/books/{a b}', 'space in a variable'],
    ['https://example.com/books/{id}}', 'stray brace'],
    ['https://example.com/books/{a}{b}', 'ambiguous neighbours'],
    ['https://example.com/{+a}{+b}', 'ambiguous neighbours'],
    ['', 'empty'],
    [`https://example.com/${'x'.repeat(3000)}`, 'too long'],
  ] as const) {
    test(`a malformed selector is a 400 invalid_topic_selector (${why})`, () => {
      assert.throws(
        () => parseMercureSelector(template),
        (error: unknown) => error instanceof HubError && error.status === 400 && error.code === 'invalid_topic_selector',
      );
    });
  }

  test('an expression right after another is accepted when it starts with a character the other cannot hold', () => {
    assert.equal(matches('https://example.com/{a}{/b}', 'https://example.com/x/y'), true);
    assert.equal(matches('https://example.com/{a}{?q}', 'https://example.com/x?q=1'), true);
    assert.equal(matches('https://example.com/{a}.{format}', 'https://example.com/x.json'), true);
    // "." may be in {id}'s value: where it ends would be a guess, and guessing costs backtracking.
    assert.throws(() => parseMercureSelector('https://example.com/books/{id}{.format}'), (error: unknown) => error instanceof HubError && error.code === 'invalid_topic_selector');
  });
});

describe('URI template matching stays linear', () => {
  test('expressions separated by their operators match the protocol\'s subscriptions template, defined or not', () => {
    const template = '/.well-known/mercure/subscriptions{/topic}{/subscriber}';
    assert.equal(matches(template, '/.well-known/mercure/subscriptions'), true);
    assert.equal(matches(template, `/.well-known/mercure/subscriptions/${encodeURIComponent('https://example.com/{id}')}`), true);
    assert.equal(matches(template, `/.well-known/mercure/subscriptions/${encodeURIComponent('https://example.com/{id}')}/${encodeURIComponent('urn:uuid:1')}`), true);
    assert.equal(matches(template, '/.well-known/mercure/subscriptions/a/b/c'), false);
    assert.equal(matches(template, '/.well-known/mercure/other'), false);
  });

  test('a long hostile topic against many expressions is answered (no catastrophic backtracking)', () => {
    const selector = parseMercureSelector('https://x/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/z');
    assert.equal(mercureSelectorMatches(selector, `https://x/${'a/'.repeat(1000)}`), false);
    const reserved = parseMercureSelector('{+a}/x/{+b}/y');
    assert.equal(mercureSelectorMatches(reserved, '/x/'.repeat(600)), false);
  });

  test('more expressions than the bound, or more than two "+"/"#" ones, are refused', () => {
    assert.throws(() => parseMercureSelector(`https://x${'/{a}'.repeat(11)}`), (error: unknown) => error instanceof HubError && error.code === 'invalid_topic_selector');
    assert.throws(() => parseMercureSelector('{+a}/{+b}/{#c}'), (error: unknown) => error instanceof HubError && error.code === 'invalid_topic_selector');
  });
});
