// Log tail: the server runs a real process and publishes each line it writes; we append them.
const log = document.getElementById('log');
const status = document.getElementById('status');
const start = document.getElementById('start');
let source;

start.addEventListener('click', async () => {
  source?.close();
  log.replaceChildren();
  start.disabled = true;
  const reply = await fetch('/demos/api/logs', { method: 'POST' });
  const body = await reply.json();
  if (!reply.ok) {
    status.textContent = body.error.message; // e.g. 429 demo_busy: too many runs at once
    status.className = 'status bad';
    start.disabled = false;
    return;
  }
  const { topic, lastEventId } = body;
  status.textContent = `running, publishing to ${topic}`;
  status.className = 'status ok';

  // If the connection drops, EventSource reconnects by itself and sends Last-Event-ID:
  // the hub replays the lines we missed, so the log has no gap and no duplicate.
  source = new EventSource(`/topics/${topic}?lastEventId=${encodeURIComponent(lastEventId)}`);
  source.addEventListener('line', (e) => {
    const { stream, text } = JSON.parse(e.data);
    const line = document.createElement('div');
    line.className = stream; // stdout or stderr
    line.textContent = text;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(line);
    if (atBottom) log.scrollTop = log.scrollHeight; // follow, unless the reader scrolled up
  });
  source.addEventListener('exit', (e) => {
    const { code } = JSON.parse(e.data);
    status.textContent = `exited with code ${code}`;
    status.className = code === 0 ? 'status ok' : 'status bad';
    source.close();
    start.disabled = false;
  });
  source.onerror = () => {
    status.textContent = 'connection lost, reconnecting…';
    status.className = 'status wait';
  };
  source.onopen = () => {
    if (status.className === 'status wait') status.textContent = 'reconnected';
  };
});
