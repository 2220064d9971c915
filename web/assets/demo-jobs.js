// Job progress: start simulated jobs on the server, then watch their progress events.
const list = document.getElementById('jobs');

document.getElementById('start').addEventListener('click', async () => {
  const reply = await fetch('/demos/api/jobs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jobs: 3 }),
  });
  const body = await reply.json();
  if (!reply.ok) return alert(`Could not start jobs: ${body.error.message}`); // e.g. 429 demo_busy
  // lastEventId is the hub's position just before the jobs started: opening the stream from it
  // replays anything they published before we were listening.
  const { jobs, lastEventId } = body;
  const bars = new Map(jobs.map((job) => [job, addJob(job)]));

  // One stream for all of this batch's jobs, one topic each.
  const url = new URL('/events', location.origin);
  for (const job of jobs) url.searchParams.append('topic', `demo/jobs/${job}`);
  url.searchParams.set('lastEventId', lastEventId);
  const source = new EventSource(url);

  source.addEventListener('progress', (e) => {
    const { job, percent } = JSON.parse(e.data);
    bars.get(job).update(percent, `${percent}%`);
  });
  source.addEventListener('done', (e) => {
    const { job } = JSON.parse(e.data);
    bars.get(job).update(100, 'done');
    bars.delete(job);
    if (bars.size === 0) source.close(); // every job of this batch finished
  });
});

function addJob(job) {
  const item = document.createElement('li');
  item.dataset.job = job;
  const name = document.createElement('span');
  name.textContent = `job ${job}`;
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = 0;
  const state = document.createElement('span');
  state.className = 'state';
  state.textContent = 'waiting';
  item.append(name, bar, state);
  list.prepend(item);
  return {
    update(percent, text) {
      bar.value = percent;
      state.textContent = text;
      item.classList.toggle('done', text === 'done');
    },
  };
}
