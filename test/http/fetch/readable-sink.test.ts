/** The Fetch door's sink: a ReadableStream body that ends when the client goes away and errors when the hub cuts it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readableSink } from '../../../src/http/fetch/readable-sink.js';

function owner() {
  const seen = { closed: 0, drained: 0 };
  return { seen, sinkClosed: () => void (seen.closed += 1), sinkDrained: () => void (seen.drained += 1) };
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<string> {
  const reader = readable.getReader();
  let text = '';
  for (let read = await reader.read(); !read.done; read = await reader.read()) text += Buffer.from(read.value).toString();
  return text;
}

describe('readableSink', () => {
  it('ends the body, without an error, when the request’s signal aborts (the client went away)', async () => {
    const client = new AbortController();
    const { readable, sink } = readableSink(client.signal);
    const subscriber = owner();
    sink.attach(subscriber);
    sink.write(Buffer.from(': ok\n\n'));
    client.abort();
    assert.equal(await readAll(readable), ': ok\n\n');
    assert.equal(subscriber.seen.closed, 1);
    sink.end(); // the hub's own end afterwards changes nothing
    assert.equal(subscriber.seen.closed, 1);
  });

  it('ends at once for a request whose signal had already aborted', async () => {
    const client = new AbortController();
    client.abort();
    const { readable, sink } = readableSink(client.signal);
    const subscriber = owner();
    sink.attach(subscriber);
    assert.equal(sink.write(Buffer.from('x')), false);
    assert.equal(await readAll(readable), '');
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
    assert.equal(subscriber.seen.closed, 1);
  });

  it('errors the body when the hub cuts the stream (a slow consumer)', async () => {
    const { readable, sink } = readableSink(new AbortController().signal);
    const subscriber = owner();
    sink.attach(subscriber);
    sink.destroy();
    await assert.rejects(readAll(readable), /cut off/);
    assert.equal(subscriber.seen.closed, 1);
  });

  it('tells its owner once when the runtime cancels the body', async () => {
    const { readable, sink } = readableSink();
    const subscriber = owner();
    sink.attach(subscriber);
    await readable.cancel();
    assert.equal(subscriber.seen.closed, 1);
    assert.equal(sink.write(Buffer.from('x')), false);
  });
});
