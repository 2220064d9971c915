// A reference, not an alternative: the least a node:http server can do for the benchmark's
// requests. A stream is a response kept open in a per-topic list; a publish reads its body,
// parses it as JSON, writes one frame to each subscriber of the topic and answers 201 with a small
// JSON body. No history, no ids that survive a restart, no auth, no limits, no heartbeat. What it
// costs is node:http's own cost, the floor under any server built on it (ssehub's publishes are).
// Usage: node node-http-floor.mjs <port>
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const subscribers = new Map();
let sequence = 0;

createServer((req, res) => {
  const match = /^\/topics\/([^/?]+)/.exec(req.url ?? '');
  if (!match) return res.writeHead(404).end();
  const topic = match[1];
  if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    let list = subscribers.get(topic);
    if (!list) subscribers.set(topic, (list = new Set()));
    list.add(res);
    res.on('close', () => list.delete(res));
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    try {
      JSON.parse(body);
    } catch {
      return res.writeHead(400).end();
    }
    const id = ++sequence;
    const frame = `id: ${id}\ndata: ${body}\n\n`;
    for (const subscriber of subscribers.get(topic) ?? []) subscriber.write(frame);
    const text = JSON.stringify({ id: String(id), topic });
    res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
