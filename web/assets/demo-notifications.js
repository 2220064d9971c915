// Notifications: a bell with an unread counter. Anything published to demo/notifications
// (from another tab, a server, curl) shows up here at once.
const TOPIC = 'demo/notifications';
const list = document.getElementById('notifications');
const badge = document.getElementById('unread');
let unread = 0;

const source = new EventSource(`/topics/${TOPIC}`);
source.addEventListener('notification', (e) => {
  const { text, from } = JSON.parse(e.data);
  const item = document.createElement('li');
  item.className = 'unread';
  item.dataset.id = e.lastEventId;
  item.textContent = from ? `${text} (from ${from})` : text;
  list.prepend(item);
  unread++;
  badge.textContent = String(unread);
  badge.hidden = false;
});

document.getElementById('bell').addEventListener('click', () => {
  unread = 0;
  badge.hidden = true;
  for (const item of list.querySelectorAll('.unread')) item.classList.remove('unread');
});

// Sending is a plain POST to the topic: the hub stores it and pushes it to every open tab.
const tab = Math.random().toString(36).slice(2, 6);
document.getElementById('send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = document.getElementById('message');
  await fetch(`/topics/${TOPIC}?event=notification`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: input.value, from: `tab ${tab}` }),
  });
  input.value = '';
});
