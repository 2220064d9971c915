// Chat over one WebSocket (GET /ws, protocol ssehub.v1): messages and typing indicators are
// published on the socket, members come from presence, and the simulated model's reply streams
// as token events on a subscription of the same socket.
const chat = document.getElementById('chat');
const members = document.getElementById('members');
const typing = document.getElementById('typing');
const prompt = document.getElementById('prompt');
const send = document.getElementById('send');
let socket;
let me;
let room;
let refs = 0;
const here = new Map(); // subject -> open connections
const typists = new Map(); // name -> timer clearing the indicator
const replies = new Map(); // subscription name -> the model's bubble

document.getElementById('join').addEventListener('submit', async (e) => {
  e.preventDefault();
  me = document.getElementById('name').value;
  const answer = await fetch('/demos/api/chat/join', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: me }) });
  const body = await answer.json();
  if (!answer.ok) return bubble('model', `(${body.error.message})`);
  room = body.room;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws?ticket=${encodeURIComponent(body.ticket)}`, 'ssehub.v1');
  socket.onopen = () => {
    // The ticket authenticated the upgrade; `auth` without a token just asks for `ready`.
    socket.send(JSON.stringify({ type: 'auth' }));
    socket.send(JSON.stringify({ type: 'subscribe', topics: [room], sub: 'room', presence: true }));
  };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = (event) => bubble('model', `(disconnected: ${event.code} ${event.reason})`);
  document.getElementById('join').hidden = true;
  prompt.disabled = send.disabled = false;
  prompt.focus();
});

let lastTyping = 0;
prompt.addEventListener('input', () => {
  // At most one indicator a second: they are rate-limited per connection, and worthless after.
  if (Date.now() - lastTyping < 1000) return;
  lastTyping = Date.now();
  socket.send(JSON.stringify({ type: 'publish', topic: room, event: 'typing', data: { name: me }, ephemeral: true }));
});

document.getElementById('ask').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = prompt.value;
  prompt.value = '';
  socket.send(JSON.stringify({ type: 'publish', topic: room, event: 'message', data: { name: me, text }, ref: `m${++refs}` }));
  if (text.startsWith('/ask ')) await ask(text.slice(5));
});

async function ask(question) {
  send.disabled = true;
  const answer = await fetch('/demos/api/chat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: question }) });
  const body = await answer.json();
  if (!answer.ok) {
    bubble('model', `(${body.error.message})`); // e.g. 429 demo_busy
    send.disabled = false;
    return;
  }
  // From the position the API answered with: nothing the model said before this is missed.
  const sub = `reply-${body.conversation}`;
  replies.set(sub, bubble('model reply streaming', ''));
  socket.send(JSON.stringify({ type: 'subscribe', topics: [body.topic], sub, lastEventId: body.lastEventId }));
}

function receive(message) {
  if (message.type === 'error') return bubble('model', `(${message.code}: ${message.message})`);
  if (message.type !== 'event') return;
  const reply = replies.get(message.sub);
  if (reply !== undefined) {
    if (message.event === 'token') reply.textContent += message.data; // each token carries its own leading space
    if (message.event === 'done') {
      reply.classList.remove('streaming');
      replies.delete(message.sub);
      socket.send(JSON.stringify({ type: 'unsubscribe', sub: message.sub }));
      send.disabled = false;
      prompt.focus();
    }
  } else if (message.event === 'message') {
    const { name, text } = JSON.parse(message.data);
    bubble(name === me ? 'user' : 'model', text, name);
    stopTyping(name);
  } else if (message.event === 'typing') {
    const { name } = JSON.parse(message.data);
    if (name !== me) startTyping(name);
  } else if (message.event === 'ssehub.presence') {
    here.clear();
    for (const member of JSON.parse(message.data).members) here.set(member.subject, member.connections);
    showMembers();
  } else if (message.event === 'ssehub.join') {
    const { member } = JSON.parse(message.data);
    here.set(member.subject, member.connections);
    showMembers();
  } else if (message.event === 'ssehub.leave') {
    here.delete(JSON.parse(message.data).member.subject);
    showMembers();
  }
  chat.scrollTop = chat.scrollHeight;
}

function startTyping(name) {
  clearTimeout(typists.get(name));
  typists.set(name, setTimeout(() => stopTyping(name), 3000));
  showTyping();
}

function stopTyping(name) {
  clearTimeout(typists.get(name));
  typists.delete(name);
  showTyping();
}

function showTyping() {
  const names = [...typists.keys()];
  typing.textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

function showMembers() {
  members.replaceChildren(...[...here.keys()].sort().map((subject) => {
    const item = document.createElement('li');
    item.textContent = subject === me ? `${subject} (you)` : subject;
    return item;
  }));
}

function bubble(kind, text, who) {
  const element = document.createElement('div');
  element.className = `bubble ${kind}`;
  if (who !== undefined && kind !== 'user') {
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = who;
    element.append(name);
  }
  element.append(text);
  chat.append(element);
  return element;
}
