/**
 * PostgreSQL servers a test runs itself (OwnServer, as the postgres user when the tests run as
 * root): a primary made by initdb and streaming standbys made from it by pg_basebackup -R, on spare
 * ports, so that it may SIGKILL the primary and promote a standby. The Debian PostgreSQL 15 binaries.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './hub.js';
import { OwnServer } from './servers.js';
import { until } from './wait.js';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

export function hasPostgresBinaries(): boolean {
  return ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((tool) => existsSync(join(POSTGRES_BIN, tool)));
}

export class OwnPostgres {
  private constructor(
    readonly server: OwnServer,
    readonly name: string,
  ) {}

  get port(): number {
    return this.server.port;
  }

  get data(): string {
    return join(this.server.dir, 'data');
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /**
   * A primary. `settings` are postgresql.conf lines added to the test's own (synchronous
   * replication, for one). fsync is off: a SIGKILLed server loses nothing the operating system
   * holds, and only a machine's crash would need it.
   */
  static async primary(name: string, settings: string[] = []): Promise<OwnPostgres> {
    const port = await freePort();
    const server = new OwnServer(join(POSTGRES_BIN, 'postgres'), (dir) => ['-D', join(dir, 'data')], port, 'postgres');
    const primary = new OwnPostgres(server, name);
    await primary.tool('initdb', ['-D', primary.data, '-U', 'postgres', '--auth=trust', '--no-sync']);
    primary.configure([
      "listen_addresses = '127.0.0.1'",
      'fsync = off',
      'shared_buffers = 16MB',
      'max_connections = 60',
      'wal_keep_size = 64MB',
      ...settings,
    ]);
    await primary.start();
    return primary;
  }

  /**
   * A streaming standby of `primary` (pg_basebackup -R), connecting under its name as application_name
   * (what synchronous_standby_names names). Its synchronous_standby_names is emptied: once promoted
   * it has no standby of its own, and commits would otherwise wait for one forever.
   */
  static async standbyOf(primary: OwnPostgres, name: string): Promise<OwnPostgres> {
    const port = await freePort();
    const server = new OwnServer(join(POSTGRES_BIN, 'postgres'), (dir) => ['-D', join(dir, 'data')], port, 'postgres');
    const standby = new OwnPostgres(server, name);
    await standby.tool('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', standby.data, '-R', '-X', 'stream', '-c', 'fast']);
    standby.configure(["synchronous_standby_names = ''"]);
    // postgresql.auto.conf, where -R wrote primary_conninfo: the later line wins.
    appendFileSync(join(standby.data, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=${name}'\n`);
    await standby.start();
    return standby;
  }

  /** Starts the server (again) and waits until it answers queries. */
  async start(): Promise<void> {
    await this.server.start();
    await until(
      () => this.query('SELECT 1').then(() => true, () => false),
      `${this.name} to answer queries`,
      30_000,
      100,
    );
  }

  /** SIGKILLs the server and its backends at once. */
  kill(): Promise<void> {
    return this.server.kill();
  }

  /** Stops a standby cleanly (it then receives nothing more until started again). */
  stop(): Promise<void> {
    return this.tool('pg_ctl', ['stop', '-D', this.data, '-m', 'fast', '-w']);
  }

  /** Promotes a standby and waits until it takes writes. */
  promote(): Promise<void> {
    return this.tool('pg_ctl', ['promote', '-D', this.data, '-w', '-t', '60']);
  }

  async query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(sql, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Resolves once `standby` streams from this primary with the given sync_state ('sync' or 'async') and has replayed all it wrote. */
  async replicatedTo(standby: OwnPostgres, state: 'sync' | 'async'): Promise<void> {
    await until(
      async () => {
        const rows = await this.query<{ sync_state: string; caught_up: boolean }>(
          'SELECT sync_state, replay_lsn >= pg_current_wal_lsn() AS caught_up FROM pg_stat_replication WHERE application_name = $1',
          [standby.name],
        ).catch(() => []);
        return rows[0]?.sync_state === state && rows[0].caught_up;
      },
      `${standby.name} to replicate from ${this.name} (${state})`,
      30_000,
      100,
    );
  }

  log(): string {
    return this.server.log();
  }

  dispose(): Promise<void> {
    return this.server.dispose();
  }

  private configure(lines: string[]): void {
    const own = [`port = ${this.port}`, `unix_socket_directories = '${this.server.dir}'`, ...lines];
    appendFileSync(join(this.data, 'postgresql.conf'), `\n${own.join('\n')}\n`);
  }

  private async tool(tool: string, args: string[]): Promise<void> {
    try {
      await promisify(execFile)(join(POSTGRES_BIN, tool), args, { encoding: 'utf8', cwd: this.server.dir, ...this.server.identity });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`${tool} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}${stderr}`);
    }
  }
}
