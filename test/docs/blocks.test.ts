/**
 * Every shell, TypeScript and JavaScript block of the README and of docs/ that claims to work is
 * run here, as blocks.ts describes (typescript.test.ts type-checks the TypeScript ones): each page is one terminal session in a folder
 * of its own, against a hub its blocks start or one started with the page's `<!-- hub: … -->`
 * flags. The README's own tour (its hub, its browser snippet) runs in readme-tour.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnHub, type HubProcess } from '../support/hub.js';
import { commentAbove, DOCUMENTED, isRun, markingProblem, Session, TYPED } from './blocks.js';
import { parse, readDoc } from './markdown.js';
import { SnippetProject } from './typescript.js';

test('every shell, TypeScript and JavaScript block is run, checked, or says why not', () => {
  const problems = DOCUMENTED.flatMap((page) =>
    parse(readDoc(page)).fences.flatMap((block) => {
      const problem = markingProblem(block.info);
      return problem ? [`${page}:${block.line}: ${problem}`] : [];
    }),
  );
  assert.deepEqual(problems, []);
  const run = DOCUMENTED.flatMap((page) => parse(readDoc(page)).fences.filter((block) => isRun(block.info)));
  assert.ok(run.length >= 20, `only ${run.length} blocks run`);
});

test('an unmarked or mistyped block is caught', () => {
  assert.match(markingProblem('sh') ?? '', /must be run, checked, or say "sh not run: <why>"/);
  assert.match(markingProblem('ts') ?? '', /ts not run/);
  assert.match(markingProblem('sh runn') ?? '', /not a known block kind/);
  assert.match(markingProblem('sh not run:') ?? '', /not a known block kind/);
  assert.equal(markingProblem('sh not run: needs root'), undefined);
  assert.equal(markingProblem('json'), undefined);
  assert.equal(markingProblem('sh run background each'), undefined);
});

for (const page of DOCUMENTED.filter((page) => page !== 'README.md')) {
  const fences = parse(readDoc(page)).fences;
  if (!fences.some((block) => isRun(block.info))) continue;

  describe(page, () => {
    let session: Session;
    let hub: HubProcess | undefined;
    const project = new SnippetProject();

    before(async () => {
      session = await Session.open(page);
      const flags = /<!--\s*hub:(.*?)-->/.exec(session.text)?.[1]!.trim();
      if (flags !== undefined) {
        hub = await spawnHub(['--port', String(session.ports.get(8080)), ...(flags.match(/'[^']*'|\S+/g) ?? []).map((flag) => flag.replace(/^'|'$/g, ''))]);
        session.streamsOpen = async () => {
          const answer = await fetch(`${hub!.url}/stats`);
          return answer.ok ? ((await answer.json()) as { connections: number }).connections : NaN;
        };
      }
    });

    after(async () => {
      await session?.close();
      await hub?.stop();
      project.remove();
    });

    test('runs as written', async () => {
      for (const block of fences) {
        const file = TYPED.has(block.info) ? project.add({ where: `${page}:${block.line}`, block, assumes: commentAbove(session.text, block, 'assumes') }, (code) => session.adapt(code)) : undefined;
        await session.block(block, file);
      }
    });
  });
}
