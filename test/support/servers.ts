/**
 * Engine servers a test runs itself (redis-server, nats-server, sentinels…), on spare ports of
 * 127.0.0.1 with their data in a temporary directory, so that it may SIGKILL and restart them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
export function hasBinary(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;
}

/** Resolves once something accepts connections on the port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A user's uid and gid, to run a server as that user when the tests run as root (PostgreSQL refuses root). */
export function userIds(user: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * One server process; `args` receives its data directory, kept across restarts until dispose().
 * With `runAs` (when the tests run as root), the directory is that user's and the server runs as
 * them. The server leads a process group of its own, and kill() SIGKILLs the whole group at once:
 * a server's worker processes (PostgreSQL's backends) die with it, as on a machine that fails.
 */
export class OwnServer {
  private child: ChildProcess | undefined;
  private output = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'ssehub-engine-'));
  private readonly ids: { uid: number; gid: number } | undefined;

  constructor(
    private readonly binary: string,
    private readonly args: (dir: string) => string[],
    readonly port: number,
    runAs?: string,
  ) {
    this.ids = runAs !== undefined && process.getuid?.() === 0 ? userIds(runAs) : undefined;
    if (this.ids) chownSync(this.dir, this.ids.uid, this.ids.gid);
  }

  /** The identity to give the server's tools (initdb, pg_ctl…) as spawn options. */
  get identity(): { uid?: number; gid?: number } {
    return this.ids ?? {};
  }

  async start(): Promise<void> {
    this.child = spawn(this.binary, this.args(this.dir), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...this.identity });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    await waitForPort(this.port);
  }

  /** The last 20 kB the process printed (for assertion messages). */
  log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(): Promise<void> {
    const child = this.child!;
    if (!this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    if (this.running) await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
