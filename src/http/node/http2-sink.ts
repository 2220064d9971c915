/**
 * Adapts one HTTP/2 stream to the hub's StreamSink. HTTP/2 multiplexes many streams over one
 * connection, each with its own flow-control window, so everything here is per stream: a client
 * that stops reading one stream fills that stream's buffer (and is cut off as a slow consumer)
 * while the other streams of its connection go on. Cutting off resets this stream only.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { StreamSink } from '../../hub/sink.js';
import { closedOnce, drainedOrClosed } from './stream-sink.js';

export function http2Sink(stream: ServerHttp2Stream): StreamSink {
  return {
    write: (chunk) => stream.write(chunk),
    // What the stream has accepted and not yet handed to the connection: data held back by the
    // client's flow-control window stays here, so a stalled reader shows up in this count.
    get bufferedBytes() {
      return stream.writableLength;
    },
    attach: (owner) => {
      stream.on('drain', () => owner.sinkDrained());
      // 'close' follows every ending: our END_STREAM, the client's RST_STREAM, the connection's end.
      const closed = closedOnce(owner);
      stream.once('close', closed);
      // A stream already destroyed may have emitted 'close' before this listener was added.
      if (stream.destroyed) process.nextTick(closed);
    },
    drained: () => drainedOrClosed(stream),
    end: () => void stream.end(),
    // RST_STREAM(CANCEL): the client's EventSource sees a network error and reconnects.
    destroy: () => void stream.close(constants.NGHTTP2_CANCEL),
  };
}
