/** The Hono example (examples/hono), run for real on @hono/node-server: see support.ts for what every example must do. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp } from '../../examples/hono/server.js';
import { openStream } from '../support/http.js';
import { churn, login, servedExampleSuite, started, userStreamPath, waitForNoConnections, type RunningExample } from './support.js';

servedExampleSuite('Hono', startApp);

describe('the Hono example under connection churn', () => {
  const LIMIT = 50;
  let app: RunningExample;
  before(async () => {
    app = await startApp(0, { logLevel: 'silent', maxStreamsPerSubject: LIMIT, maxStreamsPerIp: LIMIT });
  });
  after(() => app.close());

  it('leaves no subscriber and no stream slot behind after 1,000 connect/disconnect cycles, and logs nothing for them', async (t) => {
    // @hono/node-server prints a response body that fails with console.error: a client that goes
    // away is no failure, and must not print a stack trace each time.
    const printed = t.mock.method(console, 'error', () => {});
    const cookie = await login(app.url, 'alice');
    const open = async () => started(await openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }));
    await churn(open, 1000, LIMIT);
    await waitForNoConnections(app.hub);
    assert.equal(printed.mock.callCount(), 0, String(printed.mock.calls[0]?.arguments[0]));

    // Every per-IP and per-subject slot was given back: the limit's worth of streams opens again.
    const streams = await Promise.all(Array.from({ length: LIMIT }, open));
    await assert.rejects(openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }), (error: { status: number }) => error.status === 429);
    for (const stream of streams) stream.close();
    await waitForNoConnections(app.hub);
  });
});
