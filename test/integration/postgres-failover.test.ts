/**
 * The PostgreSQL engine when its primary fails over: this test runs its own primary (initdb) and a
 * streaming standby (pg_basebackup -R) on spare ports, and two hubs on one address in front of them:
 * a TCP proxy that stands for the virtual IP (or PgBouncer, or HAProxy in front of Patroni) of a real
 * setup, since node-postgres cannot pick the primary from a list of hosts. It SIGKILLs the primary
 * (with its backends) under load, promotes the standby and moves the address to it.
 * - Synchronous replication (remote_apply, the standby named): every publish attempt is answered;
 *   every acknowledged event reaches every subscriber exactly once, in one order, with no reset;
 *   the hubs carry on by themselves.
 * - Asynchronous: no silent loss: every subscriber has every acknowledged event, or got the reset.
 * - A standby promoted with an older log (stopped while the primary acknowledged more): every
 *   subscriber gets the reset signal, and the hubs log why.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { RESET_EVENT } from '../../src/protocol/index.js';
import { FailoverSubscriber, LoadAcrossHubs, publishWithRetry } from '../support/cluster.js';
import { spawnHub, type HubProcess } from '../support/hub.js';
import { freshNamespace } from '../support/namespaces.js';
import { hasPostgresBinaries, OwnPostgres } from '../support/postgres-servers.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const cleanups: Array<() => Promise<unknown>> = [];
// Each test's servers and hubs are stopped when it ends, so that they do not run beside the later tests.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function own<T extends { dispose(): Promise<unknown> } | { close(): Promise<unknown> }>(thing: Promise<T>): Promise<T> {
  const value = await thing;
  cleanups.push(() => ('dispose' in value ? value.dispose() : value.close()));
  return value;
}

interface Setup {
  primary: OwnPostgres;
  standby: OwnPostgres;
  proxy: TcpProxy;
  hubs: HubProcess[];
  hubUrls: () => string[];
  explain: () => string;
}

/** A primary, its standby (synchronous or not), the proxy in front of the primary, and two hubs on the proxy. */
async function setUp(synchronous: boolean): Promise<Setup> {
  const settings = synchronous ? ["synchronous_standby_names = 'standby1'", 'synchronous_commit = remote_apply'] : [];
  const primary = await own(OwnPostgres.primary('primary', settings));
  const standby = await own(OwnPostgres.standbyOf(primary, 'standby1'));
  await primary.replicatedTo(standby, synchronous ? 'sync' : 'async');
  const proxy = await own(startTcpProxy(primary.url()));
  const engine = `postgres://postgres@${new URL(proxy.url).host}/postgres`;
  const hubArgs = ['--engine', engine, '--namespace', freshNamespace(), '--max-streams-per-ip', '0', '--publish-rate', '0', '--heartbeat', '1s'];
  const hubs = await Promise.all([spawnHub(hubArgs), spawnHub(hubArgs)]);
  for (const hub of hubs) cleanups.push(() => hub.stop());
  const explain = () =>
    [...hubs.map((hub, h) => `hub ${h} said:\n${hub.output()}`), `primary said:\n${primary.log()}`, `standby said:\n${standby.log()}`].join('\n');
  return { primary, standby, proxy, hubs, hubUrls: () => hubs.map((hub) => hub.url), explain };
}

/** The standby takes over: promoted, then the address moves to it (connections through it break, as with a virtual IP). */
async function failOver({ standby, proxy }: Setup): Promise<void> {
  await standby.promote();
  proxy.retarget(standby.url());
  proxy.cutAll();
}

/** Each hub, on its own, takes a publish again (503 while it reconnects), without being restarted. */
async function eachHubPublishes(setup: Setup, topic: string): Promise<void> {
  for (const [h, hub] of setup.hubs.entries()) await publishWithRetry(() => [hub.url], topic, `after:${h}`, `after-${h}-${topic}`);
}

/**
 * Three publishers and four subscribers through the hubs; the primary killed after 30 publishes and
 * the standby promoted; returns once publishing ended, having checked it went on after the failover.
 */
async function loadThroughFailover(synchronous: boolean, namespace: string) {
  const setup = await setUp(synchronous);
  const load = new LoadAcrossHubs(setup.hubUrls, 4, namespace);
  cleanups.push(() => load.stop()); // also when an assertion fails: its subscribers would keep the process alive
  await load.warmUp();
  load.startPublishing(3, 60);
  await until(() => load.published >= 30, 'events published before the kill');
  await setup.primary.kill();
  const atKill = load.published;
  // What a publisher had acknowledged at the kill, and the one publish it may have had in flight,
  // may be lost (asynchronously); every later one was committed by the promoted standby.
  const keptFrom = load.acknowledged.map((count) => count + 1);
  await failOver(setup);
  await load.publishingDone();
  assert.ok(load.published > atKill, 'publishing went on after the failover');
  return { setup, load, atKill, keptFrom };
}

const missing = !hasPostgresBinaries();
const skip = missing && !process.env.CI ? 'the PostgreSQL 15 server binaries are not installed (/usr/lib/postgresql/15/bin)' : undefined;
describeUnlessSkipped('the PostgreSQL engine when its primary fails over', { skip }, () => {
  test('the PostgreSQL 15 server binaries are installed', () => assert.ok(!missing, 'initdb, pg_ctl, pg_basebackup or postgres not found'));

  test('synchronous replication: every acknowledged event reaches every subscriber exactly once, with no reset', async (t) => {
    const { setup, load, atKill } = await loadThroughFailover(true, 'pg-sync');
    t.diagnostic(`killed the primary after ${atKill} publishes; attempts by status: ${JSON.stringify(load.statusCounts())}`);
    await load.checkLoad(setup.explain);
    await eachHubPublishes(setup, 'load');
    await load.stop();
  });

  test('asynchronous replication: every subscriber has every acknowledged event, or got the reset signal', async (t) => {
    const { setup, load, atKill, keptFrom } = await loadThroughFailover(false, 'pg-async');
    const reset = await load.checkLoadOrReset(keptFrom, setup.explain);
    t.diagnostic(`killed the primary after ${atKill} publishes; attempts by status: ${JSON.stringify(load.statusCounts())}; ${reset} of 4 subscribers reset`);
    await eachHubPublishes(setup, 'load');
    await load.stop();
  });

  test('a standby promoted with an older log: every subscriber gets the reset signal, and the hubs log why', async () => {
    const setup = await setUp(false);
    const { primary, standby, hubUrls } = setup;
    const subscribers = [0, 1].map((i) => new FailoverSubscriber(() => (i === 0 ? hubUrls() : [...hubUrls()].reverse()), '/topics/older'));
    cleanups.push(() => Promise.all(subscribers.map((subscriber) => subscriber.stop())));
    let warmUps = 0;
    await until(async () => {
      await publishWithRetry(hubUrls, 'older', `w:${warmUps}`, `older-w${warmUps++}`);
      return subscribers.every((subscriber) => subscriber.events.length > 0);
    }, 'every subscriber connected', 30_000, 100);
    await primary.replicatedTo(standby, 'async');
    await standby.stop();
    // Acknowledged by the primary alone: the standby, stopped, never receives them.
    for (let n = 0; n < 5; n++) await publishWithRetry(hubUrls, 'older', `only-on-primary:${n}`, `older-p${n}`);
    for (const subscriber of subscribers) await subscriber.waitFor((events) => events.some((event) => event.data === 'only-on-primary:4'), 'the last event acknowledged by the primary alone');
    await primary.kill();
    await standby.start();
    await failOver(setup);
    for (const [i, subscriber] of subscribers.entries()) {
      await until(() => subscriber.controls.some((event) => event.type === RESET_EVENT), `subscriber ${i} to get the reset signal`, 30_000).catch((error: Error) => {
        const got = subscriber.events.map((event) => `${event.lastEventId} ${event.data}`).join(', ');
        throw new Error(`${error.message} (${subscriber.reconnects} reconnects; got ${got})\n${setup.explain()}`);
      });
    }
    const said = setup.hubs.map((hub) => hub.output()).join('\n');
    assert.match(said, /lacks events that were acknowledged/, 'a hub says what it found');
    for (const [h, hub] of setup.hubs.entries()) assert.match(hub.output(), /ending every stream/, `hub ${h} ended its streams`);
    await eachHubPublishes(setup, 'older');
    for (const subscriber of subscribers) await subscriber.waitFor((events) => events.some((event) => event.data === 'after:1'), 'an event published after the failover');
  });
});
