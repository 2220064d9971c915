// socket.io 4 (the usual pick for chat and presence next to an SSE feed): a room per topic,
// `subscribe` joins rooms, `publish` emits to a room and acknowledges. No history, no auth.
// Usage: node socketio.mjs PORT
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 0);
const server = createServer();
const io = new Server(server, { transports: ['websocket'], serveClient: false });
let sequence = 0;

io.on('connection', (socket) => {
  socket.on('subscribe', (topics, ack) => {
    socket.join(topics);
    ack?.({ ok: true });
  });
  socket.on('publish', ({ topic, data }, ack) => {
    const id = String(++sequence);
    io.to(topic).emit('event', { id, topic, data: typeof data === 'string' ? data : JSON.stringify(data) });
    ack?.({ id });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => {
  io.close();
  server.close(() => process.exit(0));
});
