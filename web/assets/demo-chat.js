// AI token streaming: the server's (simulated) model streams its reply as token events.
const chat = document.getElementById('chat');
const prompt = document.getElementById('prompt');
const send = document.getElementById('send');

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
  prompt.value = '';
  const { topic, lastEventId } = body;
  const answer = bubble('model streaming', '');

  const source = new EventSource(`/topics/${topic}?lastEventId=${encodeURIComponent(lastEventId)}`);
  source.addEventListener('token', (e) => {
    answer.textContent += e.data; // each token carries its own leading space
    chat.scrollTop = chat.scrollHeight;
  });
  source.addEventListener('done', () => {
    answer.classList.remove('streaming');
    source.close();
    send.disabled = false;
    prompt.focus();
  });
});

function bubble(kind, text) {
  const element = document.createElement('div');
  element.className = `bubble ${kind}`;
  element.textContent = text;
  chat.append(element);
  return element;
}
