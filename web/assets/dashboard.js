// The dashboard: live state of the hub, fed by its own system topic $ssehub/stats (one "stats"
// event per instance per second), plus a panel to publish and one to tail any topic or pattern.
const $ = (id) => document.getElementById(id);
const CHART_SECONDS = 60;
const STALE_MS = 5000; // an instance silent this long is no longer counted

/** Latest stats per instance, and per-second rates computed from consecutive samples. */
const instances = new Map();
const history = []; // [{ time, published, delivered }] per second, summed over instances

let token = sessionStorage.getItem('ssehub-token') || '';
$('token').value = token;
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('ssehub-token', token);
  statsStream.restart();
});

/**
 * An EventSource that works on open and on secured hubs: with a token it trades it for a one-shot
 * stream ticket before every (re)connection, and resumes from the last id it saw. Each open() is
 * one attempt: a close() or restart() while it waits for its ticket makes it give up, so there is
 * never more than one EventSource.
 */
function stream(topics, handlers) {
  let source;
  let lastEventId = '';
  let timer;
  let attempt = 0;
  const retryLater = () => {
    clearTimeout(timer);
    timer = setTimeout(open, 1000);
  };
  async function open() {
    const mine = ++attempt;
    const url = new URL('/events', location.origin);
    for (const topic of topics) url.searchParams.append('topic', topic);
    if (lastEventId) url.searchParams.set('lastEventId', lastEventId);
    if (token) {
      let reply;
      let body;
      try {
        reply = await fetch('/tickets', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ topics }),
        });
        body = await reply.json();
      } catch {
        if (mine !== attempt) return;
        handlers.onStatus('wait', 'hub unreachable; retrying…');
        return retryLater();
      }
      if (mine !== attempt) return; // closed or restarted meanwhile
      if (!reply.ok) return handlers.onStatus('bad', `${body.error.code}: ${body.error.message}`);
      url.searchParams.set('ticket', body.ticket);
    }
    const events = new EventSource(url);
    source = events;
    events.onopen = () => handlers.onStatus('ok', 'live');
    events.onerror = () => {
      handlers.onStatus('wait', 'reconnecting…');
      if (token || events.readyState === EventSource.CLOSED) {
        // A ticket is good for one connection: reconnect ourselves with a fresh one.
        events.close();
        retryLater();
      }
    };
    for (const [name, handler] of Object.entries(handlers.events)) {
      events.addEventListener(name, (e) => {
        lastEventId = e.lastEventId;
        handler(e);
      });
    }
    events.addEventListener('ssehub.position', (e) => (lastEventId = e.lastEventId));
  }
  void open();
  return {
    close() {
      attempt += 1; // an open() waiting for its ticket gives up
      clearTimeout(timer);
      source?.close();
      source = undefined;
    },
    restart() {
      this.close();
      void open();
    },
  };
}

function setStatus(element, kind, text) {
  element.className = `status ${kind}`;
  element.textContent = text;
}

// ---- stats --------------------------------------------------------------------------------

const statsStream = stream(['$ssehub/stats'], {
  onStatus: (kind, text) => setStatus($('status'), kind, text),
  events: { stats: (e) => onStats(JSON.parse(e.data)) },
});

function onStats(stats) {
  const previous = instances.get(stats.instance);
  const rates = previous && stats.time > previous.stats.time
    ? {
        published: ((stats.eventsPublished - previous.stats.eventsPublished) * 1000) / (stats.time - previous.stats.time),
        delivered: ((stats.eventsDelivered - previous.stats.eventsDelivered) * 1000) / (stats.time - previous.stats.time),
      }
    : { published: 0, delivered: 0 };
  instances.set(stats.instance, { stats, rates, seen: Date.now() });
  render();
}

function live() {
  const now = Date.now();
  return [...instances.values()].filter((entry) => now - entry.seen < STALE_MS);
}

const sum = (entries, pick) => entries.reduce((total, entry) => total + pick(entry), 0);
const formatRate = (value) => (value >= 100 ? Math.round(value).toLocaleString() : value.toFixed(1));

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${seconds % 60}s` : `${seconds}s`;
}

function render() {
  const entries = live();
  const published = sum(entries, (e) => e.rates.published);
  const delivered = sum(entries, (e) => e.rates.delivered);
  $('connections').textContent = sum(entries, (e) => e.stats.connections).toLocaleString();
  $('published-rate').textContent = formatRate(published);
  $('delivered-rate').textContent = formatRate(delivered);
  $('published-total').textContent = `${sum(entries, (e) => e.stats.eventsPublished).toLocaleString()} in all`;
  $('delivered-total').textContent = `${sum(entries, (e) => e.stats.eventsDelivered).toLocaleString()} in all`;
  $('slow-dropped').textContent = sum(entries, (e) => e.stats.slowConsumersDropped).toLocaleString();
  $('uptime').textContent = entries.length ? formatUptime(Math.max(...entries.map((e) => e.stats.uptimeSeconds))) : '–';
  $('engine').textContent = entries[0]?.stats.engine ?? '–';
  $('instances').textContent = `${entries.length} instance${entries.length === 1 ? '' : 's'}`;
  renderTopics(entries);
  const now = Math.floor(Date.now() / 1000);
  if (history.at(-1)?.time === now) history[history.length - 1] = { time: now, published, delivered };
  else history.push({ time: now, published, delivered });
  while (history.length > CHART_SECONDS) history.shift();
  renderChart();
}

/** The busiest topics of every instance, merged. Instances send their top 20 only, so this stays small with any number of topics. */
function renderTopics(entries) {
  const merged = new Map();
  let total = 0;
  for (const { stats } of entries) {
    total = Math.max(total, stats.topics.total);
    for (const { topic, subscribers } of stats.topics.top) merged.set(topic, (merged.get(topic) ?? 0) + subscribers);
  }
  const filter = $('topic-filter').value.trim();
  const rows = [...merged]
    .filter(([topic]) => topic.includes(filter))
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 20);
  const body = $('topics-body');
  body.replaceChildren(
    ...rows.map(([topic, subscribers]) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.className = 'topic';
      name.textContent = topic;
      const count = document.createElement('td');
      count.className = 'num';
      count.textContent = subscribers.toLocaleString();
      tr.append(name, count);
      return tr;
    }),
  );
  $('topics-total').textContent = total.toLocaleString();
  $('topics-more').textContent = total > rows.length ? `Showing the ${rows.length} with the most subscribers of ${total.toLocaleString()}.` : '';
}
$('topic-filter').addEventListener('input', render);

function renderChart() {
  const svg = $('chart');
  const width = 600, height = 140;
  const max = Math.max(1, ...history.map((p) => Math.max(p.published, p.delivered)));
  const points = (key) =>
    history.map((p, i) => `${((i + CHART_SECONDS - history.length) / (CHART_SECONDS - 1)) * width},${height - 4 - (p[key] / max) * (height - 12)}`).join(' ');
  svg.querySelector('.published').setAttribute('points', points('published'));
  svg.querySelector('.delivered').setAttribute('points', points('delivered'));
  $('chart-max').textContent = `peak ${formatRate(max)}/s`;
}
setInterval(render, 1000); // instances that went quiet drop out even when nothing arrives

// ---- publish ------------------------------------------------------------------------------

$('publish-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const topic = $('publish-topic').value.trim();
  const event = $('publish-event').value.trim();
  const url = new URL(`/topics/${topic.split('/').map(encodeURIComponent).join('/')}`, location.origin);
  if (event) url.searchParams.set('event', event);
  const headers = { 'Content-Type': 'text/plain' };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const reply = await fetch(url, { method: 'POST', headers, body: $('publish-data').value });
    const body = await reply.json();
    $('publish-result').textContent = reply.ok ? `published ${body.topic} → ${body.id}` : `${reply.status} ${body.error.code}: ${body.error.message}`;
    $('publish-result').className = reply.ok ? 'muted' : 'status bad';
  } catch (error) {
    $('publish-result').textContent = `could not reach the hub: ${error.message}`;
  }
});

// ---- tail ---------------------------------------------------------------------------------

const TAIL_LINES = 200; // older lines are dropped so a busy topic cannot slow the page down
let tail;
$('tail-form').addEventListener('submit', (e) => {
  e.preventDefault();
  tail?.close();
  const topics = $('tail-topic').value.split(/[\s,]+/).filter(Boolean);
  const log = $('tail-log');
  log.replaceChildren();
  const append = (e) => {
    const line = document.createElement('div');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${e.lastEventId} `;
    const name = document.createElement('span');
    name.className = 'event-name';
    name.textContent = `${e.type} `;
    line.append(meta, name, e.data);
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(line);
    while (log.childElementCount > TAIL_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  };
  // Named events need a listener per name; "message" covers events published without one.
  const names = ['message', ...$('tail-events').value.split(/[\s,]+/).filter(Boolean)];
  tail = stream(topics, {
    onStatus: (kind, text) => setStatus($('tail-status'), kind, text),
    events: Object.fromEntries(names.map((name) => [name, append])),
  });
  $('tail-stop').disabled = false;
});
$('tail-stop').addEventListener('click', () => {
  tail?.close();
  tail = undefined;
  setStatus($('tail-status'), 'wait', 'stopped');
  $('tail-stop').disabled = true;
});
