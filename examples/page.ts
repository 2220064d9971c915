/**
 * The examples' one page: log in, watch your stream, pay an order and see the event arrive. The
 * stream is same-origin, so the browser sends the session cookie with it; `withCredentials` is
 * what it takes when the hub is on another origin.
 */
export const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>ssehub inside an app</title>
<form id="login"><input name="user" value="alice" pattern="[A-Za-z0-9_\\-]{1,32}"> <button>Log in</button></form>
<p><button id="pay" disabled>Pay order 42</button></p>
<pre id="log"></pre>
<script type="module">
  const log = (line) => (document.querySelector('#log').textContent += line + '\\n');
  document.querySelector('#login').onsubmit = async (event) => {
    event.preventDefault();
    const user = new FormData(event.target).get('user');
    const answer = await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }) });
    if (!answer.ok) return log('login: ' + answer.status);
    const source = new EventSource('/realtime/events?topic=users/' + user + '/**&topic=news/**', { withCredentials: true });
    source.addEventListener('order', (e) => log('order ' + e.data + ' (id ' + e.lastEventId + ')'));
    source.onmessage = (e) => log('message ' + e.data);
    document.querySelector('#pay').disabled = false;
  };
  document.querySelector('#pay').onclick = () => fetch('/orders/42/pay', { method: 'POST' });
</script>
`;
