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

  test('an expression after a delimiting operator is not ambiguous and is accepted', () => {
    assert.equal(matches('https://example.com/books/{id}{.format}', 'https://example.com/books/1.json'), true);
    assert.equal(matches('https://example.com/{a}{/b}', 'https://example.com/x/y'), true);
  });
});
