/**
 * The TypeScript and JavaScript blocks of the README and docs/ (`ts check`, `js check`, `ts run`,
 * see blocks.ts) type-check against the package's source, with what each takes from the reader's
 * app declared in its `<!-- assumes: … -->` comment. blocks.test.ts runs the `ts run` ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commentAbove, DOCUMENTED, TYPED } from './blocks.js';
import { parse, readDoc } from './markdown.js';
import { SnippetProject } from './typescript.js';

/**
 * One program for both checks (each program type-checks the package's source, about ten seconds of
 * CPU): the documented blocks, and one block that must fail, reported at its line in its page.
 */
test('the TypeScript and JavaScript blocks type-check against the package; a block that does not is reported at its line in the page', () => {
  const project = new SnippetProject();
  try {
    const snippets = DOCUMENTED.flatMap((page) => {
      const text = readDoc(page);
      return parse(text)
        .fences.filter((block) => TYPED.has(block.info))
        .map((block) => ({ where: `${page}:${block.line}`, block, assumes: commentAbove(text, block, 'assumes') }));
    });
    assert.ok(snippets.length >= 9, `only ${snippets.length} blocks checked`);
    for (const snippet of snippets) project.add(snippet);
    project.add({ where: 'docs/x.md:10', block: { info: 'ts check', line: 10, body: "import { publish } from 'ssehub/client';\n\nawait publish({ topic: 42 }, { url: 'http://127.0.0.1:8080' });\n" } });
    const errors = project.typeErrors();
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /^docs\/x\.md:13: .*number.*string/s);
  } finally {
    project.remove();
  }
});
