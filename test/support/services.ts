/**
 * The servers the distributed engines need (Redis, NATS JetStream, PostgreSQL), found on
 * 127.0.0.1 or where SSEHUB_TEST_*_URL says. Locally, tests of a missing server are skipped with
 * the reason; in CI (CI set) they run and fail, so a missing server can never pass unnoticed.
 */
import { connect } from 'node:net';

export interface ServiceCheck {
  name: string;
  url: string;
  reachable: boolean;
  /** Why the tests are skipped, or undefined when they must run. */
  skipReason(): string | undefined;
}

const inCi = Boolean(process.env.CI);

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function check(name: string, url: string, defaultPort: number): Promise<ServiceCheck> {
  const parsed = new URL(url);
  const reachable = await canConnect(parsed.hostname || '127.0.0.1', Number(parsed.port || defaultPort));
  return {
    name,
    url,
    reachable,
    skipReason: () => (reachable || inCi ? undefined : `${name} is not reachable at ${url} (start it, or set CI to make this a failure)`),
  };
}

export const redisService = (): Promise<ServiceCheck> => check('Redis', process.env.SSEHUB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 6379);
export const natsService = (): Promise<ServiceCheck> => check('NATS', process.env.SSEHUB_TEST_NATS_URL ?? 'nats://127.0.0.1:4222', 4222);
export const postgresService = (): Promise<ServiceCheck> =>
  check('PostgreSQL', process.env.SSEHUB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test', 5432);

/** The distributed engines, each with its display name, its kind (for removeNamespace) and its server check. */
export const SHARED_ENGINES: ReadonlyArray<readonly [name: string, kind: 'redis' | 'nats' | 'postgres', service: () => Promise<ServiceCheck>]> = [
  ['Redis', 'redis', redisService],
  ['NATS JetStream', 'nats', natsService],
  ['PostgreSQL', 'postgres', postgresService],
];
