// The dashboard: live state of the hub, fed by its own system topic $ssehub/stats (one "stats"
// event per instance per interval), plus a panel to publish and one to tail any topic or pattern.
// Streams are read with fetch and the project's own event-stream parser (sse-parse.js, written
// from src/protocol/parse.ts): unlike EventSource, that sees every event whatever its name, and
// the status and JSON error of a refused stream.
import { EventStreamParser } from './sse-parse.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const CHART_MS = 60_000;
const STALE_MS = 5000; // an instance silent this long is no longer counted
/** The charts end this far behind the hub's newest figures: a second is drawn once every instance has reported on it. */
const CHART_LAG_MS = 1000;
/**
 * A Last-Event-ID no hub hands out. The hub answers it as an unknown id: an ssehub.reset, then
 * every event it still retains on the stream's topics (docs/http-api.md), then live events.
 */
const FROM_RETAINED = '0';
const RESET = 'ssehub.reset';
const POSITION = 'ssehub.position';

let token = sessionStorage.getItem('ssehub-token') || '';
$('token').value = token;
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('ssehub-token', token);
  statsStream.restart();
});

/** The token panel is for hubs that require tokens: /stats answers anyone on an open hub (see docs/observability.md). */
const showTokenPanel = () => ($('token-panel').hidden = false);
fetch('/stats', { cache: 'no-store' }).then(
  (reply) => reply.ok || showTokenPanel(),
  () => showTokenPanel(),
);

/** The hub's error answer as one line: "400 invalid_topic: …". */
async function describeRefusal(reply) {
  const body = await reply.json().catch(() => undefined);
  return body?.error ? `${reply.status} ${body.error.code}: ${body.error.message}` : `${reply.status} ${reply.statusText}`;
}

/**
 * One event stream on open and secured hubs: with a token it trades it for a one-shot stream
 * ticket before every (re)connection, and resumes from the last id it saw (from the oldest
 * retained event when `fromRetained`). A stream the hub refuses (4xx: a bad topic, a missing
 * grant) is reported with the hub's error and not retried; a lost connection or an unavailable
 * hub is retried after the hub's retry interval. Each open() is one attempt: close() or restart()
 * makes an attempt under way give up, so there is never more than one connection.
 */
function stream(topics, { fromRetained = false, presence = false, onStatus, onEvent, onRefused }) {
  let lastEventId = fromRetained ? FROM_RETAINED : '';
  let retryMs = 1000;
  let timer;
  let attempt = 0;
  let abort;
  const retryLater = () => {
    clearTimeout(timer);
    timer = setTimeout(open, retryMs);
  };
  const refused = async (reply) => {
    const text = await describeRefusal(reply);
    if (reply.status === 401 || reply.status === 403) showTokenPanel();
    // Too many streams, or the hub's engine away: worth another try. Anything else will not change by itself.
    if (reply.status === 429 || reply.status >= 500) {
      onStatus('wait', `${text}; retrying…`);
      return retryLater();
    }
    onStatus('bad', text);
    onRefused?.();
  };
  async function open() {
    const mine = ++attempt;
    abort = new AbortController();
    const url = new URL('/events', location.origin);
    for (const topic of topics) url.searchParams.append('topic', topic);
    if (presence) url.searchParams.set('presence', '1');
    try {
      if (token) {
        const reply = await fetch('/tickets', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ topics }),
          signal: abort.signal,
        });
        if (mine !== attempt) return; // closed or restarted meanwhile
        if (!reply.ok) return refused(reply);
        url.searchParams.set('ticket', (await reply.json()).ticket);
      }
      const headers = lastEventId ? { 'Last-Event-ID': lastEventId } : {};
      const reply = await fetch(url, { headers, cache: 'no-store', signal: abort.signal });
      if (mine !== attempt) return;
      if (!reply.ok) return refused(reply);
      onStatus('ok', 'live');
      const parser = new EventStreamParser(
        {
          onEvent(event) {
            const resumedFrom = lastEventId;
            lastEventId = event.lastEventId;
            if (event.type === POSITION) return;
            // Asked for: resuming from FROM_RETAINED is how the retained events are requested.
            if (event.type === RESET && resumedFrom === FROM_RETAINED) return;
            onEvent(event);
          },
          onRetry: (ms) => (retryMs = ms),
        },
        { lastEventId },
      );
      const reader = reply.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || mine !== attempt) break;
        parser.feed(value);
      }
    } catch {
      // The connection failed or was aborted: close() needs nothing more, a failure is retried below.
    }
    if (mine !== attempt) return;
    onStatus('wait', 'reconnecting…');
    retryLater();
  }
  void open();
  return {
    close() {
      attempt += 1; // an attempt under way gives up
      clearTimeout(timer);
      abort?.abort();
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

/**
 * Per instance, its stats events of the last minute (bounded: a minute's worth per instance, and
 * instances silent for a minute are forgotten), each with the rates since the one before.
 */
const instances = new Map();
/** The newest stats time seen (the hub's clock) and when it was seen here, to tell "now" in the hub's time. */
let clock = { hubTime: 0, seenAt: 0 };
const hubNow = () => (clock.hubTime === 0 ? Date.now() : clock.hubTime + (Date.now() - clock.seenAt));

const statsStream = stream(['$ssehub/stats'], {
  // The retained stats events seed the charts with the last minute of every instance.
  fromRetained: true,
  onStatus: (kind, text) => setStatus($('status'), kind, text),
  onEvent: (e) => e.type === 'stats' && onStats(JSON.parse(e.data)),
});

function onStats(stats) {
  let samples = instances.get(stats.instance);
  if (!samples) instances.set(stats.instance, (samples = []));
  const previous = samples.at(-1);
  if (previous && stats.time <= previous.stats.time) return; // already seen (a resume overlapping what arrived live)
  const span = previous ? stats.time - previous.stats.time : 0;
  const rate = (key) => (span > 0 ? ((stats[key] - previous.stats[key]) * 1000) / span : undefined);
  // An interval without deliveries has no latency: the last one measured stays shown, rather than a flicker of "–".
  const measured = stats.deliveryLatencyMs?.p50 ?? null;
  const latency = measured === null ? previous?.latency : stats.deliveryLatencyMs;
  samples.push({ stats, published: rate('eventsPublished'), delivered: rate('eventsDelivered'), latency });
  if (stats.time > clock.hubTime) clock = { hubTime: stats.time, seenAt: Date.now() };
  scheduleRender();
}

/** Drops what fell out of the last minute: the one sample just before it stays, as the start of the first rate. */
function prune() {
  const from = hubNow() - CHART_MS;
  for (const [instance, samples] of instances) {
    while (samples.length > 1 && samples[1].stats.time < from) samples.shift();
    if (samples.at(-1).stats.time < from) instances.delete(instance);
  }
}

/** Each live instance's newest sample (the newest with rates, once there are two). */
function live() {
  const now = hubNow();
  const entries = [];
  for (const samples of instances.values()) {
    const newest = samples.at(-1);
    if (now - newest.stats.time < STALE_MS) entries.push(newest);
  }
  return entries.sort((a, b) => a.stats.instance.localeCompare(b.stats.instance));
}

const sum = (entries, pick) => entries.reduce((total, entry) => total + pick(entry), 0);
const formatRate = (value) => (value === undefined ? '–' : value >= 100 ? Math.round(value).toLocaleString() : value.toFixed(1));
const formatMs = (ms) => (ms === null || ms === undefined ? '–' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms).toLocaleString());
const two = (n) => String(n).padStart(2, '0');
const clockTime = (ms) => {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
};

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${seconds % 60}s` : `${seconds}s`;
}

let renderScheduled = false;
/** A resume replays a minute of stats at once: one render per frame, not one per event. */
function scheduleRender() {
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(() => {
    renderScheduled = false;
    render();
  });
}

function render() {
  prune();
  const entries = live();
  const rate = (key) => sum(entries, (e) => e[key] ?? 0);
  $('connections').textContent = sum(entries, (e) => e.stats.connections).toLocaleString();
  $('published-rate').textContent = formatRate(rate('published'));
  $('delivered-rate').textContent = formatRate(rate('delivered'));
  $('published-total').textContent = `${sum(entries, (e) => e.stats.eventsPublished).toLocaleString()} in all`;
  $('delivered-total').textContent = `${sum(entries, (e) => e.stats.eventsDelivered).toLocaleString()} in all`;
  $('slow-dropped').textContent = sum(entries, (e) => e.stats.slowConsumersDropped).toLocaleString();
  $('uptime').textContent = entries.length ? formatUptime(Math.max(...entries.map((e) => e.stats.uptimeSeconds))) : '–';
  $('engine').textContent = entries[0]?.stats.engine ?? '–';
  $('instances').textContent = `${entries.length} instance${entries.length === 1 ? '' : 's'}`;
  // Percentiles of different instances cannot be merged: the slowest instance's are the ones to watch.
  const worst = (key) => {
    const values = entries.map((e) => e.latency?.[key]).filter((v) => v !== null && v !== undefined);
    return values.length ? Math.max(...values) : null;
  };
  $('latency').textContent = worst('p50') === null ? '–' : `${formatMs(worst('p50'))} / ${formatMs(worst('p99'))} ms`;
  renderInstances(entries);
  renderTopics(entries);
  renderCharts();
}

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function renderInstances(entries) {
  $('instances-body').replaceChildren(
    ...entries.map((e) => {
      const { stats } = e;
      const tr = document.createElement('tr');
      tr.dataset.instance = stats.instance;
      const latency = e.latency ?? { p50: null, p99: null }; // the last measured in the minute shown
      tr.append(
        cell(stats.instance, 'topic'),
        cell(stats.engine),
        cell(formatUptime(stats.uptimeSeconds), 'num'),
        cell(stats.connections.toLocaleString(), 'num connections'),
        cell(formatRate(e.published), 'num published'),
        cell(formatRate(e.delivered), 'num delivered'),
        cell(latency.p50 === null ? '–' : `${formatMs(latency.p50)} ms`, 'num p50'),
        cell(latency.p99 === null ? '–' : `${formatMs(latency.p99)} ms`, 'num p99'),
      );
      return tr;
    }),
  );
}

let shownTopics = '';

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
  // Rows are replaced only when they change: a row replaced between a press and a release of the
  // button would swallow the click, and stats arrive several times a second.
  const shown = JSON.stringify(rows);
  if (shown !== shownTopics) {
    shownTopics = shown;
    $('topics-body').replaceChildren(
      ...rows.map(([topic, subscribers]) => {
        const tr = document.createElement('tr');
        const name = cell('', 'topic');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.textContent = topic;
        button.title = `Show the recent events of ${topic}`;
        button.addEventListener('click', () => tailRecent(topic));
        name.append(button);
        tr.append(name, cell(subscribers.toLocaleString(), 'num'));
        return tr;
      }),
    );
  }
  $('topics-total').textContent = total.toLocaleString();
  $('topics-more').textContent = total > rows.length ? `Showing the ${rows.length} with the most subscribers of ${total.toLocaleString()}.` : '';
}
$('topic-filter').addEventListener('input', render);

/**
 * The chart's series: per whole second of the last minute (by the hub's clock), the summed rate of
 * every instance. Between two of its samples an instance's rate is the one the later sample gives;
 * a second's value is that rate averaged over the part of the second the instance's samples cover,
 * so a burst shorter than a second counts in its second whatever the moment the chart is drawn.
 */
function series(key, end) {
  const last = Math.floor(end / 1000) * 1000;
  const first = last - CHART_MS;
  const points = [];
  for (let time = first; time <= last; time += 1000) points.push({ time, value: undefined });
  for (const samples of instances.values()) {
    const weighted = new Map(); // point index -> [rate × ms, ms covered]
    for (let i = 1; i < samples.length; i++) {
      const from = samples[i - 1].stats.time, to = samples[i].stats.time, rate = samples[i][key];
      if (rate === undefined) continue;
      // Point k stands for the second (time_k - 1000, time_k].
      for (let k = Math.max(0, Math.floor((from - first) / 1000) + 1); k < points.length && points[k].time - 1000 < to; k++) {
        const overlap = Math.min(to, points[k].time) - Math.max(from, points[k].time - 1000);
        if (overlap <= 0) continue;
        const sums = weighted.get(k) ?? [0, 0];
        weighted.set(k, [sums[0] + rate * overlap, sums[1] + overlap]);
      }
    }
    for (const [k, [sum, covered]] of weighted) points[k].value = (points[k].value ?? 0) + sum / covered;
  }
  return points;
}

/** The smallest of 1, 2, 2.5, 5 times a power of ten at or above value: a scale maximum that reads well. */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** One chart: a y axis with values, a time axis with clock labels, and the line (gaps where no instance reported). */
function drawChart(svg, points, end, peakLabel) {
  const width = Math.max(240, Math.round(svg.clientWidth || 480));
  const height = 150;
  const left = 46, right = 28, top = 10, bottom = 22; // room for the value and time labels
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const values = points.map((p) => p.value).filter((v) => v !== undefined);
  const peak = values.length ? Math.max(...values) : 0;
  const max = niceCeil(Math.max(1, peak));
  svg.dataset.max = String(max);
  const x = (time) => left + ((time - (end - CHART_MS)) / CHART_MS) * plotWidth;
  const y = (value) => top + plotHeight - (value / max) * plotHeight;
  const parts = [];
  for (const value of [0, max / 2, max]) {
    parts.push(svgElement('line', { class: 'grid', x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    parts.push(svgElement('text', { class: 'tick y', x: left - 6, y: y(value) + 4, 'text-anchor': 'end' }, formatRate(value)));
  }
  parts.push(svgElement('line', { class: 'axis', x1: left, x2: left, y1: top, y2: top + plotHeight }));
  // Clock labels every 15 s, on whole quarter minutes.
  for (let time = Math.ceil((end - CHART_MS) / 15_000) * 15_000; time <= end; time += 15_000) {
    parts.push(svgElement('line', { class: 'axis', x1: x(time), x2: x(time), y1: top + plotHeight, y2: top + plotHeight + 4 }));
    parts.push(svgElement('text', { class: 'tick x', x: x(time), y: height - 4, 'text-anchor': 'middle' }, clockTime(time)));
  }
  // One polyline per run of seconds with figures: a gap stays a gap.
  let run = [];
  const flush = () => {
    if (run.length) parts.push(svgElement('polyline', { class: 'line', points: run.join(' ') }));
    run = [];
  };
  for (const point of points) {
    if (point.value === undefined) flush();
    else run.push(`${x(point.time).toFixed(1)},${y(point.value).toFixed(1)}`);
  }
  flush();
  svg.replaceChildren(...parts);
  peakLabel.textContent = values.length ? `peak ${formatRate(peak)}/s` : '';
}

function renderCharts() {
  const end = hubNow() - CHART_LAG_MS;
  drawChart($('chart-published'), series('published', end), end, $('chart-published-peak'));
  drawChart($('chart-delivered'), series('delivered', end), end, $('chart-delivered-peak'));
}
setInterval(render, 1000); // the charts move on, and instances that went quiet drop out, even when nothing arrives

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
    if (reply.status === 401 || reply.status === 403) showTokenPanel();
    if (reply.ok) {
      const body = await reply.json();
      $('publish-result').textContent = `published ${body.topic} → ${body.id}`;
    } else {
      $('publish-result').textContent = await describeRefusal(reply);
    }
    $('publish-result').className = reply.ok ? 'muted' : 'status bad';
  } catch (error) {
    $('publish-result').textContent = `could not reach the hub: ${error.message}`;
  }
});

// ---- tail ---------------------------------------------------------------------------------

const TAIL_LINES = 200; // older lines are dropped so a busy topic cannot slow the page down
let tail;

function appendLine(event) {
  const log = $('tail-log');
  const line = document.createElement('div');
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = `${event.lastEventId} `;
  const name = document.createElement('span');
  name.className = 'event-name';
  name.textContent = `${event.type} `;
  line.append(meta, name, event.data);
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(line);
  while (log.childElementCount > TAIL_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function stopTail(kind, text) {
  tail?.close();
  tail = undefined;
  if (text) setStatus($('tail-status'), kind, text);
  $('tail-stop').disabled = true;
}

// Who is on the tailed topic (one exact topic): the stream asks for presence (?presence=1) and
// gets who is there as it opens (ssehub.presence), then each join and leave, cluster-wide.
const members = new Map();

function renderMembers(topic) {
  const list = $('tail-members');
  list.hidden = topic === undefined;
  if (topic === undefined) return;
  const names = [...members.values()]
    .sort((a, b) => a.subject.localeCompare(b.subject))
    .map((member) => `${member.info?.name ?? member.subject}${member.connections > 1 ? ` (${member.connections})` : ''}`);
  $('tail-members-count').textContent = String(members.size);
  $('tail-members-list').textContent = names.length > 0 ? names.join(', ') : 'nobody with a subject yet';
}

function onPresence(event) {
  const detail = JSON.parse(event.data);
  if (event.type === 'ssehub.presence') {
    members.clear();
    for (const member of detail.members) members.set(member.subject, member);
  } else if (event.type === 'ssehub.join') {
    members.set(detail.member.subject, detail.member);
  } else {
    members.delete(detail.member.subject);
  }
  renderMembers(detail.topic);
}

$('tail-form').addEventListener('submit', (e) => {
  e.preventDefault();
  stopTail();
  const topics = $('tail-topic').value.split(/[\s,]+/).filter(Boolean);
  const presence = topics.length === 1 && !topics[0].includes('*');
  $('tail-log').replaceChildren();
  members.clear();
  renderMembers(presence ? topics[0] : undefined);
  setStatus($('tail-status'), 'wait', 'connecting…');
  tail = stream(topics, {
    fromRetained: $('tail-history').checked,
    presence,
    onStatus: (kind, text) => setStatus($('tail-status'), kind, text),
    onEvent: (event) => {
      if (['ssehub.presence', 'ssehub.join', 'ssehub.leave'].includes(event.type)) onPresence(event);
      // Joins and leaves are news; who was there at the start is the members line.
      if (event.type !== 'ssehub.presence') appendLine(event);
    },
    onRefused: () => stopTail(), // the error stays shown; nothing is retried
  });
  $('tail-stop').disabled = false;
});
$('tail-stop').addEventListener('click', () => stopTail('wait', 'stopped'));

/** A topic's recent events: the tail panel on it, from what the hub retains. */
function tailRecent(topic) {
  $('tail-topic').value = topic;
  $('tail-history').checked = true;
  $('tail-form').requestSubmit();
  $('tail-panel').scrollIntoView({ block: 'nearest' });
}
