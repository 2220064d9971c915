// AI generations: the server's (simulated) model streams a reply as token events on its own topic,
// ai/<id>. Stop cancels it (POST /topics/ai/<id>/cancel); a reload in the middle picks up where the
// page was: the generation, its text so far and its last event id are kept in sessionStorage, and
// the stream is opened again from that id, so no token is missed or shown twice.
const chat = document.getElementById('chat');
const prompt = document.getElementById('prompt');
const send = document.getElementById('send');
const stop = document.getElementById('stop');

const KEPT = 'ssehub-demo-generation';

document.getElementById('ask').addEventListener('submit', async (e) => {
  e.preventDefault();
  bubble('user', prompt.value);
  send.disabled = true;
  const reply = await fetch('/demos/api/chat', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: prompt.value }),
  });
  const body = await reply.json();
  if (!reply.ok) {
    bubble('model', `(${body.error.message})`); // e.g. 429 demo_busy
    send.disabled = false;
    return;
  }
  const generation = { topic: body.topic, prompt: prompt.value, text: '', lastEventId: body.lastEventId };
  prompt.value = '';
  follow(generation, bubble('model streaming', ''));
});

// A generation under way when the page was left (a reload): show it as it was, and go on.
const kept = JSON.parse(sessionStorage.getItem(KEPT) ?? 'null');
if (kept !== null) {
  bubble('user', kept.prompt);
  send.disabled = true;
  follow(kept, bubble('model streaming', kept.text));
}

function follow(generation, answer) {
  const keep = () => sessionStorage.setItem(KEPT, JSON.stringify(generation));
  keep();
  stop.hidden = false;
  stop.disabled = false;
  stop.onclick = async () => {
    stop.disabled = true;
    await fetch(`/topics/${generation.topic}/cancel`, { method: 'POST' });
  };
  // lastEventId in the query: the hub replays what came after it (EventSource itself resumes with Last-Event-ID on a drop).
  const source = new EventSource(`/topics/${generation.topic}?lastEventId=${encodeURIComponent(generation.lastEventId)}`);
  source.addEventListener('token', (e) => {
    answer.textContent += e.data; // each token carries its own leading space
    generation.text = answer.textContent;
    generation.lastEventId = e.lastEventId;
    keep();
    chat.scrollTop = chat.scrollHeight;
  });
  source.addEventListener('done', (e) => {
    if (JSON.parse(e.data).cancelled) answer.dataset.stopped = 'true';
  });
  // The topic's end: nothing more will come. Closing keeps EventSource from reconnecting.
  source.addEventListener('ssehub.end', () => {
    source.close();
    sessionStorage.removeItem(KEPT);
    answer.classList.remove('streaming');
    if (answer.dataset.stopped) answer.append(stoppedNote());
    stop.hidden = true;
    send.disabled = false;
    prompt.focus();
  });
}

function stoppedNote() {
  const note = document.createElement('span');
  note.className = 'muted stopped';
  note.textContent = ' (stopped)';
  return note;
}

function bubble(kind, text) {
  const element = document.createElement('div');
  element.className = `bubble ${kind}`;
  element.textContent = text;
  chat.append(element);
  return element;
}
