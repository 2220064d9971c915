// The peer a team would write with the `ws` package alone: a WebSocket broadcast server speaking
// the subset of ssehub.v1 the WebSocket benchmark uses (subscribe; publish with an ack; events),
// with no history, no ids to resume from, no auth and no limits. Usage: node ws-broadcast.mjs PORT
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: '/ws', handleProtocols: (offered) => (offered.has('ssehub.v1') ? 'ssehub.v1' : false) });
/** topic -> the sockets subscribed to it */
const rooms = new Map();
let sequence = 0;

wss.on('connection', (socket) => {
  const joined = new Set();
  socket.send(JSON.stringify({ type: 'ready', heartbeatMs: 0 }));
  socket.on('message', (raw) => {
    let message;
    try {
      message = JSON.parse(raw.toString());
    } catch {
      return socket.send(JSON.stringify({ type: 'error', code: 'invalid_json', message: 'not JSON' }));
    }
    if (message.type === 'subscribe') {
      for (const topic of message.topics) {
        if (!rooms.has(topic)) rooms.set(topic, new Set());
        rooms.get(topic).add(socket);
        joined.add(topic);
      }
      socket.send(JSON.stringify({ type: 'ack', ref: message.ref, sub: message.sub ?? '1' }));
    } else if (message.type === 'publish') {
      const id = String(++sequence);
      const data = typeof message.data === 'string' ? message.data : JSON.stringify(message.data);
      // Encoded once, sent to every subscriber as the same string.
      const frame = JSON.stringify({ type: 'event', id, topic: message.topic, data });
      for (const peer of rooms.get(message.topic) ?? []) peer.send(frame);
      socket.send(JSON.stringify({ type: 'ack', ref: message.ref, id, topic: message.topic }));
    }
  });
  socket.on('close', () => {
    for (const topic of joined) rooms.get(topic)?.delete(socket);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => {
  for (const socket of wss.clients) socket.terminate();
  server.close(() => process.exit(0));
});
