/**
 * What a page's code blocks are, by their fence's info string, and how the documentation tests
 * run them as a reader would, one page as one terminal session:
 *
 *   ```sh run              run with bash -e: every command must succeed. curl fails on an HTTP
 *                          error status (--fail-with-body), so a refused request fails the block;
 *                          its code 28 counts as success when the command sets --max-time on purpose
 *   ```sh run background   started with bash and left running while the next blocks run, as in a
 *                          second terminal; the test waits until it prints something or the
 *                          page's hub counts one more open stream, and stops it at the end of the page
 *   ```sh run background each   the same, each line (with its `\` continuations) a terminal of its own
 *   ```text output         what the last `run` block printed (all of it or a part, lines in order)
 *   ```text output background   what the last `background` block has printed, waited for
 *   ```ts check            type-checked against the package's source (test/docs/typescript.ts)
 *   ```js check            the same, for a JavaScript fragment
 *   ```ts run              type-checked, then run with tsx; it must exit 0
 *   ```ts run background   type-checked, then started with tsx and left running, waited for as a
 *                          background shell block is
 *   ```js run browser      README only: pasted into the hub's page in Chromium (readme-tour.test.ts)
 *   ```sh not run: <why>   (any language) deliberately not run, and why: it needs a part the test
 *                          cannot start (root, systemd, an npm registry, a real network)
 *
 * A block in another language (json, ini, yaml, nginx, text, none) is an illustration: a config
 * fragment, an output sample, a protocol trace. A shell, TypeScript or JavaScript block must say
 * one of the above: an unmarked one fails the test, so none slips in unrun by accident.
 *
 * What the session adapts: ports 8080 to 8083 and 8443 become free ports (the same throughout a
 * page; SSEHUB_URL and SSEHUB_PORT name 8080's, so the CLI's default hub is the page's); `ssehub`, `npx ssehub` and
 * `node dist/cli/main.js` run the built CLI (test/support/cli.ts); blocks run in a temporary directory of the
 * page's own; variables a `run` block sets are set in the blocks after it, as in one shell. Event
 * ids differ from run to run: any id (`<letters and digits>-<n>`) matches any other.
 *
 * HTML comments (GitHub shows them to nobody):
 *   <!-- hub: --flags -->       anywhere on a page: the test starts `ssehub serve --flags` on the
 *                               page's port 8080 before the page's blocks run
 *   <!-- assumes: declarations -->   just above a block: TypeScript declarations of what a ts/js block takes from the
 *                               reader's app (`declare const session: RequestHandler;`), added
 *                               to it when it is checked
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { builtCli } from '../support/cli.js';
import { freePort } from '../support/hub.js';
import { documentationFiles, parse, readDoc, ROOT, type Fence } from './markdown.js';

/** The ports a page may name; each becomes a free port of its own. */
const PORTS = [8080, 8081, 8082, 8083, 8443];

/** tsx by its path: blocks run in folders of their own, where `--import tsx` would not find it. */
const TSX = import.meta.resolve('tsx');
export const CLI = `node ${builtCli()}`;

/** The info strings a block may carry; `not run: …` is checked apart. */
export const KNOWN = ['sh run', 'sh run background', 'sh run background each', 'text output', 'text output background', 'ts check', 'js check', 'ts run', 'ts run background', 'js run browser'];
/** Languages whose blocks claim to work: they must be run, checked, or say why not. */
export const CODE = new Set(['sh', 'bash', 'shell', 'console', 'ts', 'typescript', 'tsx', 'js', 'javascript', 'jsx', 'mjs']);
export const NOT_RUN = /^\S+ not run: \S/;

/**
 * The pages whose blocks are held to this: the README and docs/, but docs/configuration.md
 * (generated from src/config.ts, no code blocks) and docs/dashboard.md (its page is driven by
 * test/e2e/dashboard.test.ts).
 */
export const DOCUMENTED = documentationFiles().filter((page) => page === 'README.md' || (page.startsWith('docs/') && page !== 'docs/configuration.md' && page !== 'docs/dashboard.md'));
/** Kinds that are TypeScript: type-checked (typescript.test.ts). */
export const TYPED = new Set(['ts check', 'js check', 'ts run', 'ts run background']);
/** Whether a block is run (in a shell, by tsx or in a browser). */
export const isRun = (info: string) => / run\b/.test(info) && !NOT_RUN.test(info);

/** Why a block's info string is not acceptable, or undefined. */
export function markingProblem(info: string): string | undefined {
  const language = info.split(/\s+/)[0] ?? '';
  if (NOT_RUN.test(info) || KNOWN.includes(info)) return undefined;
  if (/\b(run|check|output)/.test(info)) return `"${info}" is not a known block kind`;
  if (CODE.has(language)) return `a ${language} block must be run, checked, or say "${language} not run: <why>"`;
  return undefined;
}

/** The HTML comment `<!-- name: value -->` just above a block (blank lines between allowed), or undefined. */
export function commentAbove(text: string, fence: Fence, name: string): string | undefined {
  const lines = text.split('\n');
  let end = fence.line - 2;
  while (end >= 0 && lines[end]!.trim() === '') end--;
  if (end < 0 || !lines[end]!.trimEnd().endsWith('-->')) return undefined;
  let start = end;
  while (start >= 0 && !lines[start]!.includes('<!--')) start--;
  const match = new RegExp(`^<!--\\s*${name}:([\\s\\S]*?)-->$`).exec(lines.slice(start, end + 1).join('\n').trim());
  return match?.[1]!.trim();
}

const ID = /\b[0-9a-z]{6,}-\d+\b/g;
/** Ids replaced by a placeholder, trailing spaces dropped: what the comparison ignores. */
export const comparable = (text: string) => text.replace(ID, '<id>').replace(/[ \t]+$/gm, '').trimEnd();

/** Lines of a block, `\` continuations joined, comments and blank lines dropped. */
function commands(body: string): string[] {
  return body
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

async function until(condition: () => Promise<boolean> | boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what()}`);
}

interface Process {
  child: ChildProcess;
  /** What it printed on stdout. */
  stdout(): string;
  /** Its stdout, then its stderr: for messages. */
  output(): string;
  exited: Promise<number>;
}

/** One page's blocks run as one terminal session; `close()` stops what it left running. */
export class Session {
  readonly page: string;
  readonly text: string;
  readonly fences: Fence[];
  readonly cwd: string;
  /** The page's port for each of 8080 to 8083. */
  readonly ports = new Map<number, number>();
  /** What counts the open streams of the page's hub, when the test knows it. */
  streamsOpen: () => Promise<number> = async () => NaN;
  private readonly state: string;
  private readonly processes: Process[] = [];
  private lastRun = '';
  private lastBackground: Process | undefined;

  private constructor(page: string) {
    this.page = page;
    this.text = readDoc(page);
    this.fences = parse(this.text).fences;
    this.cwd = mkdtempSync(join(tmpdir(), 'ssehub-docs-'));
    this.state = join(this.cwd, '.session-state');
  }

  /** A session for a page, its ports drawn (8080 given, for a hub the test already runs). */
  static async open(page: string, port8080?: number): Promise<Session> {
    const session = new Session(page);
    for (const port of PORTS) session.ports.set(port, port === 8080 && port8080 !== undefined ? port8080 : await freePort());
    return session;
  }

  get url(): string {
    return `http://127.0.0.1:${this.ports.get(8080)}`;
  }

  /** A block's text with the page's ports and the built CLI. */
  adapt(code: string): string {
    return code.replace(/\b(808[0-3]|8443)\b/g, (port) => String(this.ports.get(Number(port)))).replaceAll('node dist/cli/main.js', 'ssehub');
  }

  private where(block: Fence): string {
    return `${this.page}:${block.line}`;
  }

  private script(body: string, keepState: boolean): string {
    const prelude = [
      `ssehub() { ${CLI} "$@"; }`,
      'npx() { if [ "$1" = ssehub ]; then shift; ssehub "$@"; else command npx "$@"; fi; }',
      // curl fails on an HTTP error status; a --max-time the block sets on purpose (28) is no failure.
      'curl() { local status=0; command curl --fail-with-body "$@" || status=$?; if [ $status = 28 ] && [[ " $* " == *" --max-time "* ]]; then status=0; fi; return $status; }',
      'export -f ssehub npx curl',
      `[ -f ${this.state} ] && . ${this.state}`,
      'set -a',
      keepState ? 'set -e' : '',
      keepState ? `trap 'export -p > ${this.state}' EXIT` : '',
    ];
    return `${prelude.join('\n')}\n${body}`;
  }

  private start(code: string, keepState: boolean): Process {
    const child = spawn('bash', ['-c', this.script(code, keepState)], {
      cwd: this.cwd,
      env: { ...process.env, SSEHUB_URL: this.url, SSEHUB_PORT: String(this.ports.get(8080)), NO_COLOR: '1' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let errors = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    // 'exit', not 'close': a block may leave a process running (`… &`) that holds its output open.
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
    const started: Process = { child, exited, stdout: () => output, output: () => output + (errors ? `\n[stderr]\n${errors}` : '') };
    this.processes.push(started);
    return started;
  }

  /** Runs a `sh run` block to its end; resolves with what it printed on stdout. */
  async run(block: Fence): Promise<string> {
    const started = this.start(this.adapt(block.body), true);
    let code: number | undefined;
    void started.exited.then((status) => (code = status));
    await until(() => code !== undefined, () => `${this.where(block)} to end: it printed\n${started.output()}`);
    assert.equal(code, 0, `${this.where(block)} exited ${code}:\n${started.output()}`);
    return started.stdout();
  }

  /** Starts a background command and waits until it prints or the page's hub counts its stream. */
  async background(code: string, block: Fence): Promise<Process> {
    const before = await this.streamsOpen();
    const started = this.start(code, false);
    let exited: number | undefined;
    void started.exited.then((status) => (exited = status));
    await until(
      async () => {
        assert.equal(exited, undefined, `${this.where(block)} exited ${exited}:\n${started.output()}`);
        return started.stdout() !== '' || (await this.streamsOpen()) > before;
      },
      () => `${this.where(block)} to print or open its stream: it printed\n${started.output()}`,
    );
    return started;
  }

  /**
   * Runs one block of the page by its kind. `file` is where a `ts run` block was written (in a
   * SnippetProject's folder, whose tsconfig maps `ssehub` to the source).
   */
  async block(block: Fence, file?: string): Promise<void> {
    if (block.info === 'ts run' || block.info === 'ts run background') {
      assert.ok(file, `${this.where(block)}: no file for a ts block`);
      const command = { ...block, body: `cd ${dirname(file)} && exec node --import ${TSX} ${file}` };
      if (block.info === 'ts run') this.lastRun = await this.run(command);
      else this.lastBackground = await this.background(command.body, block);
    } else if (block.info === 'sh run') {
      this.lastRun = await this.run(block);
    } else if (block.info === 'sh run background') {
      this.lastBackground = await this.background(this.adapt(block.body), block);
    } else if (block.info === 'sh run background each') {
      for (const command of commands(block.body)) this.lastBackground = await this.background(this.adapt(command), block);
    } else if (block.info === 'text output') {
      assert.ok(comparable(this.lastRun).includes(comparable(block.body)), `${this.where(block)}: the block before printed:\n${this.lastRun}\nexpected, somewhere in it:\n${block.body}`);
    } else if (block.info === 'text output background') {
      const last = this.lastBackground;
      assert.ok(last, `${this.where(block)}: no background block before it`);
      await until(() => comparable(last.output()).includes(comparable(block.body)), () => `${this.where(block)}: got\n${last.output()}`);
    }
  }

  async close(): Promise<void> {
    // Every block ran in a process group of its own: what a `run` block left running (`… &`) goes too.
    for (const { child } of this.processes) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // the group is gone already
      }
    }
    await Promise.all(this.processes.map(({ child, exited }) => (child.exitCode === null && child.signalCode === null ? exited : undefined)));
    rmSync(this.cwd, { recursive: true, force: true });
  }
}
