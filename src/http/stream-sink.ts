/**
 * Adapts a node:http response to the hub's StreamSink: the hub writes bytes, this module knows
 * about sockets, drain and close.
 */
import type { ServerResponse } from 'node:http';
import type { StreamSink } from '../hub/sink.js';

export function responseSink(res: ServerResponse): StreamSink {
  return {
    write: (chunk) => res.write(chunk),
    // OutgoingMessage.writableLength includes what its socket still holds.
    get bufferedBytes() {
      return res.writableLength;
    },
    onDrain: (listener) => void res.on('drain', listener),
    drained: () =>
      new Promise<void>((resolve) => {
        const socket = res.req.socket;
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          socket.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
        socket.once('close', done);
      }),
    // A stream request pipelined behind another response has no socket of its own yet and never
    // sees 'close' on res; the connection's close must end the subscriber all the same.
    onClose: (listener) => {
      res.once('close', listener);
      res.req.socket.once('close', listener);
    },
    end: () => void res.end(),
    destroy: () => void res.destroy(),
  };
}
