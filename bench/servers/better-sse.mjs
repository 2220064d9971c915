// better-sse, the popular SSE library, used as its documentation shows: one session per stream and
// one channel per topic, broadcast on publish. Served by plain node:http (no framework cost).
// Usage: node better-sse.mjs <port>
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';

const port = Number(process.argv[2]);
const channels = new Map();
const channelOf = (topic) => {
  let channel = channels.get(topic);
  if (!channel) {
    channel = createChannel();
    channels.set(topic, channel);
  }
  return channel;
};

const server = createServer(async (req, res) => {
  const match = /^\/topics\/([^/?]+)/.exec(req.url ?? '');
  if (!match) return res.writeHead(404).end();
  const topic = decodeURIComponent(match[1]);
  if (req.method === 'GET') {
    const session = await createSession(req, res);
    channelOf(topic).register(session);
    return;
  }
  if (req.method === 'POST') {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return res.writeHead(400).end();
    }
    channels.get(topic)?.broadcast(data, 'message');
    return res.writeHead(204).end();
  }
  res.writeHead(405).end();
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
