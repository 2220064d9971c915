/**
 * TypeScript and JavaScript blocks as files of a reader's project: each block is written to a
 * folder of its own whose tsconfig.json extends the repository's and maps `ssehub`,
 * `ssehub/client` and `ssehub/protocol` to the source (no build needed), then all are type-checked
 * as one program, and those marked `run` are run with tsx from there. What a block takes from the
 * reader's app is declared in an `<!-- assumes: … -->` comment above it (see blocks.ts), added at
 * the end of the block's file (declarations are hoisted, so line numbers stay the block's).
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT, type Fence } from './markdown.js';

export interface Snippet {
  /** page:line, for messages. */
  where: string;
  block: Fence;
  assumes?: string | undefined;
}

/** A folder holding the snippets as a project; `remove()` when done. */
export class SnippetProject {
  readonly dir = mkdtempSync(join(tmpdir(), 'ssehub-snippets-'));
  private readonly files = new Map<string, Snippet>();

  constructor() {
    symlinkSync(`${ROOT}node_modules`, join(this.dir, 'node_modules'));
    writeFileSync(join(this.dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    writeFileSync(
      join(this.dir, 'tsconfig.json'),
      JSON.stringify({
        extends: `${ROOT}tsconfig.json`,
        compilerOptions: {
          paths: {
            ssehub: [`${ROOT}src/index.ts`],
            'ssehub/client': [`${ROOT}src/client/index.ts`],
            'ssehub/protocol': [`${ROOT}src/protocol/index.ts`],
            'ssehub/react': [`${ROOT}src/react/index.ts`],
          },
          rootDir: '/',
          noEmit: true,
        },
        include: ['*.ts'],
      }),
    );
  }

  /** Writes a snippet as a module (`export {}` makes every block one) and returns its file. */
  add(snippet: Snippet, adapt: (code: string) => string = (code) => code): string {
    const name = `${snippet.where.replace(/[^\w]+/g, '-')}.ts`;
    const file = join(this.dir, name);
    writeFileSync(file, `${adapt(snippet.block.body)}\n${snippet.assumes ?? ''}\nexport {};\n`);
    this.files.set(file, snippet);
    return file;
  }

  /** Type errors of all snippets, as `page:line: message` with the line in the page. */
  typeErrors(): string[] {
    const config = ts.getParsedCommandLineOfConfigFile(join(this.dir, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
    if (!config) throw new Error('no tsconfig');
    const program = ts.createProgram({ rootNames: [...this.files.keys()], options: config.options });
    // The snippets' own diagnostics only: the package's source is `npm run typecheck`'s to check,
    // and checking all of it again here took most of this check's time.
    const snippetFiles = program.getSourceFiles().filter((file) => this.files.has(file.fileName));
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...snippetFiles.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
    ];
    return diagnostics.map((diagnostic) => {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const snippet = diagnostic.file && this.files.get(diagnostic.file.fileName);
      if (!snippet || diagnostic.start === undefined) return `${diagnostic.file?.fileName ?? ''}: ${message}`;
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
      const [page, fenceLine] = snippet.where.split(':');
      return `${page}:${Number(fenceLine) + 1 + line}: ${message}`;
    });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
