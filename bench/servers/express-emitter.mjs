// The pattern the articles ssehub grew from recommend: an Express handler per stream, one
// EventEmitter listener per connection, two res.write calls per event and a heartbeat interval per
// connection. Kept as written there (see bench/README.md); only the topic routes and the publish
// endpoint are the benchmark's. Usage: node express-emitter.mjs <port>
import { EventEmitter } from 'node:events';
import express from 'express';

const port = Number(process.argv[2]);
const jobs = new EventEmitter();
jobs.setMaxListeners(0);
const app = express();

app.get('/topics/:topic', (req, res) => {
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();

  const send = (event, data) => {
    res.write(`event: ${event}\n`);
    res.write(`data: ${JSON.stringify(data)}\n\n`);
  };

  const onMessage = (data) => send('message', data);
  jobs.on(`message:${req.params.topic}`, onMessage);

  // Heartbeat every 15s so proxies don't kill the idle connection.
  const ping = setInterval(() => res.write(': ping\n\n'), 15000);

  req.on('close', () => {
    clearInterval(ping);
    jobs.off(`message:${req.params.topic}`, onMessage);
  });
});

app.post('/topics/:topic', express.json({ limit: '1mb' }), (req, res) => {
  jobs.emit(`message:${req.params.topic}`, req.body);
  res.status(204).end();
});

app.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
