/** The package as npm sees it: its scripts, what `npm pack` ships, and how consumers resolve it. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { CHECKOUT } from './support/checkout.js';
import { builtCli } from './support/cli.js';
import { startScriptServeArgs } from './support/start-script.js';

const run = promisify(execFile);
// The real checkout: npm pack leaves out the links of the compiled test tree.
const ROOT = CHECKOUT;
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; version: string };

describe('package.json', () => {
  test('npm start listens where SSEHUB_PORT and SSEHUB_HOST say: its serve command sets no --port or --host', () => {
    const args = startScriptServeArgs();
    const config = loadConfig(args, { SSEHUB_PORT: '9508', SSEHUB_HOST: '0.0.0.0' });
    assert.equal(config.port, 9508);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(loadConfig(args, {}).port, 8080, 'the default port is still 8080');
  });

  test('npm start allows the local origins a developer serves pages from, on any port; a later flag replaces them', () => {
    const args = startScriptServeArgs();
    assert.deepEqual(loadConfig(args, {}).corsOrigins, ['http://localhost:*', 'http://127.0.0.1:*']);
    // `npm start -- --cors-origins …` appends the flag: the last one wins.
    assert.deepEqual(loadConfig([...args, '--cors-origins', 'https://app.example'], {}).corsOrigins, ['https://app.example']);
  });

  test('prepare builds dist/ (npm publish, npm pack and an install from a git URL run it); npm test builds it before the tests', () => {
    assert.equal(pkg.scripts.prepare, 'npm run build');
    assert.match(pkg.scripts.test!, /npm run build && node scripts\/run-tests\.mjs$/);
  });
});

describe('npm pack', () => {
  let work: string;
  let tarball: string;
  let files: string[];
  before(async () => {
    builtCli(); // the pack ships dist/: a missing or stale one is refused
    work = mkdtempSync(join(tmpdir(), 'ssehub-pack-'));
    // The pack of the dist/ that npm test has just built (checked fresh above). Without
    // --ignore-scripts, "prepare" would rebuild dist/ under the feet of the tests running beside this one.
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed!.filename);
    files = packed!.files.map((file) => file.path);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Unpacks the tarball as node_modules/ssehub of a new project; returns the project's directory. */
  async function projectWithPackage(name: string): Promise<string> {
    const project = join(work, name);
    mkdirSync(join(project, 'node_modules', 'ssehub'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true,"type":"module"}');
    await run('tar', ['-xzf', tarball, '-C', join(project, 'node_modules', 'ssehub'), '--strip-components=1']);
    return project;
  }

  test('ships dist/, web/, README, LICENSE and package.json; no sources, tests, bench or node_modules', () => {
    assert.equal(tarball.endsWith(`ssehub-${pkg.version}.tgz`), true, tarball);
    for (const path of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/client/index.d.ts']) {
      assert.ok(files.includes(path), `${path} is shipped`);
    }
    assert.ok(files.some((path) => path.startsWith('web/')), 'web/ is shipped');
    for (const path of files) assert.doesNotMatch(path, /^(src|test|bench|node_modules|docs)\/|\.test\.[jt]s$/, path);
    assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 the ssehub authors\n/);
  });

  test('a consumer with moduleResolution "node" resolves ssehub, ssehub/client and ssehub/protocol types', async () => {
    const project = await projectWithPackage('node10-consumer');
    writeFileSync(
      join(project, 'consumer.ts'),
      [
        "import { subscribe, publish, type PublishEvent } from 'ssehub/client';",
        "import type { GapReason } from 'ssehub/protocol';",
        "import type { HubConfig } from 'ssehub';",
        "const event: PublishEvent = { topic: 't', data: 'x' };",
        'const reason: GapReason | undefined = undefined;',
        'const port: HubConfig["port"] = 8080;',
        'export { subscribe, publish, event, reason, port };',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'esnext', moduleResolution: 'node', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['es2022', 'dom'] }, files: ['consumer.ts'] }),
    );
    await run(process.execPath, [TSC, '-p', join(project, 'tsconfig.json')]).catch((error: { stdout: string }) => assert.fail(error.stdout));
  });

  test('an app without the engine drivers: the memory engine runs; another engine names the package to install', async () => {
    // The app installed ssehub and its dependencies, but no optional peer (ioredis, nats, pg).
    const project = await projectWithPackage('no-drivers');
    const { dependencies } = JSON.parse(readFileSync(join(project, 'node_modules', 'ssehub', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(dependencies)) symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
    const main = join(project, 'node_modules', 'ssehub', 'dist', 'cli', 'main.js');
    const serve = (engine: string) => run(process.execPath, [main, 'serve', '--port', '0', '--log-level', 'warn', '--engine', engine], { cwd: project });

    const memory = spawn(process.execPath, [main, 'serve', '--port', '0', '--log-level', 'warn', '--stats-interval', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    memory.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    memory.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(memory, 'exit');
    while (!/listening on/.test(output)) await Promise.race([once(memory.stdout!, 'data'), exited.then(() => assert.fail(output))]);
    memory.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null], output);

    for (const [engine, driver] of [
      ['redis://127.0.0.1:6379', 'ioredis'],
      ['nats://127.0.0.1:4222', 'nats'],
      ['postgres://postgres@127.0.0.1:5432/test', 'pg'],
    ] as const) {
      await assert.rejects(serve(engine), (error: { code: number; stderr: string }) => {
        assert.notEqual(error.code, 0);
        assert.match(error.stderr, new RegExp(`needs the "${driver}" package, which is not installed: npm install ${driver}\\n$`), error.stderr);
        return true;
      });
    }
  });
});
