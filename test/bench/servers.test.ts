import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineArgs, runNamespace } from '../../bench/servers.js';

describe('bench ssehub engine flags (--engine)', () => {
  it('runs the memory engine when none is named', () => {
    assert.deepEqual(engineArgs(undefined, runNamespace(18_301)), []);
    assert.deepEqual(engineArgs('memory', runNamespace(18_301)), []);
  });

  it('passes the engine with a namespace of its own per run, valid for every engine', () => {
    const first = engineArgs('postgres://postgres@127.0.0.1:5432/test', runNamespace(18_301));
    assert.deepEqual(first.slice(0, 3), ['--engine', 'postgres://postgres@127.0.0.1:5432/test', '--namespace']);
    assert.match(first[3]!, /^bench_[a-z0-9]+_18301$/);
    assert.notEqual(engineArgs('redis://127.0.0.1:6379', runNamespace(18_302))[3], first[3]);
  });
});
