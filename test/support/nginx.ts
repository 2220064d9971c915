/**
 * A real nginx for tests, as a child process with everything in a temporary directory: its own
 * nginx.conf (which includes a site file, e.g. deploy/nginx/ssehub.conf rendered for the test),
 * pid file, logs and temp paths, never the system's. Works as root (workers run as nobody) and as
 * any other user. Locally a missing nginx skips the tests with the reason; with CI set they fail.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = process.env.SSEHUB_TEST_NGINX ?? '/usr/sbin/nginx';

/** Why the nginx tests are skipped, or undefined when they must run (nginx is there, or CI is set). */
export function nginxSkipReason(): string | undefined {
  if (existsSync(NGINX) || process.env.CI) return undefined;
  return `nginx is not installed at ${NGINX} (scripts/ensure-services.sh installs Debian's nginx-light; or set SSEHUB_TEST_NGINX)`;
}

export interface RunningNginx {
  dir: string;
  /** The error log so far (what nginx says about a failing request). */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * The temp-path directives this nginx knows, pointed into `dir`. Which ones exist depends on the
 * modules it was built with (`nginx -V` lists a --http-*-temp-path for each).
 */
function tempPaths(dir: string): string {
  const version = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  const built = `${version.stdout}${version.stderr}`;
  const lines = ['client_body_temp_path'];
  for (const module of ['proxy', 'fastcgi', 'uwsgi', 'scgi']) if (built.includes(`--http-${module}-temp-path`)) lines.push(`${module}_temp_path`);
  return lines.map((directive) => `    ${directive} ${join(dir, directive.replace('_path', ''))};`).join('\n');
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

/**
 * Starts nginx with `site` included in its http block, after `http` (extra http-level directives,
 * e.g. a site-wide gzip). Resolves once every port in `ports` accepts connections.
 */
export async function startNginx(options: { site: string; http?: string; ports: number[] }): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-nginx-'));
  // Workers (nobody, when nginx starts as root) must reach the temp paths inside.
  chmodSync(dir, 0o755);
  const site = join(dir, 'site.conf');
  writeFileSync(site, options.site);
  const runsAsRoot = process.getuid?.() === 0;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      // As root, nginx's workers would run as the user compiled in; name an unprivileged one that exists on Debian.
      runsAsRoot ? 'user nobody nogroup;' : '',
      'worker_processes 1;',
      'events { worker_connections 1024; }',
      'http {',
      `    access_log ${join(dir, 'access.log')};`,
      tempPaths(dir),
      '    default_type application/octet-stream;',
      options.http ?? '',
      `    include ${site};`,
      '}',
      '',
    ].join('\n'),
  );
  const errorLogPath = join(dir, 'error.log');
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorLogPath} info;`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let spawnError = '';
  child.on('error', (error) => (spawnError = error.message)); // e.g. ENOENT: reported below, with the rest
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const errorLog = (): string => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); // fast shutdown: open streams are cut
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (const port of options.ports) {
    while (!(await listening(port))) {
      if (child.exitCode !== null || spawnError !== '' || Date.now() > deadline) {
        const why = `nginx did not start (exit ${child.exitCode}) ${spawnError}:\n${output}\n${errorLog()}`;
        await stop();
        throw new Error(why);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return { dir, errorLog, stop };
}

/** A setting of the reference site file replaced for a test; `count` is how often it must occur there. */
export interface Substitution {
  from: string | RegExp;
  to: string;
  count?: number;
}

/**
 * The site file with the test's ports, timeouts and paths. Every substitution must match exactly
 * as often as stated (default once): when the file changes, the test fails instead of silently
 * testing something else.
 */
export function renderSite(template: string, substitutions: readonly Substitution[]): string {
  let text = template;
  for (const { from, to, count = 1 } of substitutions) {
    const pattern = typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : new RegExp(from.source, 'g' + from.flags.replace('g', ''));
    const found = text.match(pattern)?.length ?? 0;
    if (found !== count) throw new Error(`the site file has ${found} of ${String(from)}, expected ${count}`);
    text = text.replace(pattern, () => to); // literally: no $-patterns in `to`
  }
  return text;
}
