// A reference, not an alternative: the least a Node.js server can do for the benchmark's requests
// without node:http, on plain `net` sockets with a minimal HTTP/1.1 reading of its own (request
// line, Content-Length, keep-alive). No chunked bodies, no header limits or timeouts, no validation
// beyond JSON.parse: nothing a public server could run as it is. It measures how much of a
// publish's cost is node:http's (compare node-http-floor.mjs, which does the same work through it).
// Usage: node node-net-floor.mjs <port>
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
const subscribers = new Map();
const HEAD_END = Buffer.from('\r\n\r\n');
let sequence = 0;

createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let pending = null;
  socket.on('data', (chunk) => {
    pending = pending === null ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf(HEAD_END);
      if (end === -1) return;
      const head = pending.latin1Slice(0, end);
      const method = head.slice(0, head.indexOf(' '));
      const topic = /^\S+ \/topics\/([^ ?]+)/.exec(head)?.[1];
      if (topic === undefined) return socket.destroy();
      if (method === 'GET') {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n');
        let list = subscribers.get(topic);
        if (!list) subscribers.set(topic, (list = new Set()));
        list.add(socket);
        socket.on('close', () => list.delete(socket));
        pending = null;
        return;
      }
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const body = pending.utf8Slice(end + 4, end + 4 + length);
      pending = pending.length > end + 4 + length ? pending.subarray(end + 4 + length) : null;
      try {
        JSON.parse(body);
      } catch {
        return socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
      const id = ++sequence;
      const frame = `id: ${id}\ndata: ${body}\n\n`;
      for (const subscriber of subscribers.get(topic) ?? []) subscriber.write(frame);
      const text = JSON.stringify({ id: String(id), topic });
      socket.write(`HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      if (pending === null) return;
    }
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
