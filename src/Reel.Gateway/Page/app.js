// Reel's page: everything goes through the HTTP API with the key in the Authorization header (never in a URL);
// videos and thumbnails play from short-lived signed content URLs.
'use strict';

const $ = (id) => document.getElementById(id);
const keyName = 'reel.key';
let key = sessionStorage.getItem(keyName) || '';

async function api(path, options = {}) {
  const response = await fetch('/v1/' + path, { ...options, headers: { ...(options.headers || {}), Authorization: 'Bearer ' + key } });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(body?.error?.message || response.statusText);
  }
  return response;
}

const json = (path, options) => api(path, options).then((r) => r.json());
const post = (path, body) => json(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

function say(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function option(select, value, label) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = label;
  select.append(element);
}

// A new key shows only what it may see: nothing of the previous tenant's stays on the page, even if the key is wrong.
function forgetTenant() {
  $('model').textContent = '';
  $('size').replaceChildren();
  $('seconds').replaceChildren();
  $('gallery').replaceChildren();
  $('create').disabled = true;
  $('progress').hidden = true;
  $('player').removeAttribute('src');
  say('');
}

async function start() {
  $('key').value = key;
  forgetTenant();
  if (!key) return;
  try {
    const models = await json('models');
    const model = models.data[0];
    $('size').replaceChildren();
    $('seconds').replaceChildren();
    if (model) {
      $('model').textContent = model.id;
      model.sizes.forEach((size) => option($('size'), size, size));
      model.seconds.forEach((seconds) => option($('seconds'), String(seconds), `${seconds} s`));
    }
    $('create').disabled = false;
    await gallery();
  } catch (error) {
    say(error.message, true);
  }
}

async function contentUrl(id, variant) {
  return (await json(`videos/${id}/content_url?variant=${variant}`)).url;
}

async function play(id) {
  $('player').src = await contentUrl(id, 'video');
  await $('player').play().catch(() => {});
}

// The event stream is read with fetch() so that the key travels in a header; EventSource cannot send one.
async function follow(id) {
  const response = await api(`videos/${id}/events`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(message)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(message)?.[1] ?? 'null');
      if (event === 'progress') {
        $('progress').value = data.progress;
        say(data.status === 'queued' ? `queued (${data.queue_position ?? '…'} in line)` : `chunk ${data.chunk} of ${data.chunks}: ${data.progress}%`);
      } else if (event === 'done') {
        reader.cancel();
        return data;
      }
    }
  }
}

async function run(created) {
  $('progress').value = 0;
  $('progress').hidden = false;
  say('queued');
  const video = await follow(created.id);
  await gallery();
  if (video?.status !== 'completed') {
    say(video?.error?.message || 'the video failed', true);
    return;
  }
  $('progress').value = 100;
  say(`done: ${video.seconds} s, ${video.size}`);
  await play(video.id);
}

async function gallery() {
  const list = await json('videos?limit=50');
  const items = [];
  for (const video of list.data) {
    const item = document.createElement('li');
    item.dataset.id = video.id;
    const thumbnail = document.createElement('img');
    thumbnail.alt = '';
    if (video.status === 'completed') thumbnail.src = await contentUrl(video.id, 'thumbnail');
    const text = document.createElement('div');
    text.textContent = `${video.prompt} — ${video.status}${video.status === 'completed' ? `, ${video.seconds} s` : ''}`;
    const actions = document.createElement('div');
    actions.className = 'actions';
    const action = (label, handler) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.disabled = video.status !== 'completed' && label !== 'Delete';
      button.addEventListener('click', () => handler().catch((error) => say(error.message, true)));
      actions.append(button);
    };
    action('Play', () => play(video.id));
    action('Extend', async () => run(await post('videos/extensions', { prompt: $('prompt').value || video.prompt, seconds: $('seconds').value, video: { id: video.id } })));
    action('Remix', async () => run(await post(`videos/${video.id}/remix`, { prompt: $('prompt').value || video.prompt })));
    action('Delete', async () => { await api(`videos/${video.id}`, { method: 'DELETE' }); await gallery(); });
    item.append(thumbnail, text, actions);
    items.push(item);
  }
  $('gallery').replaceChildren(...items);
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  key = $('key').value.trim();
  sessionStorage.setItem(keyName, key);
  start();
});

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append('prompt', $('prompt').value);
  form.append('size', $('size').value);
  form.append('seconds', $('seconds').value);
  if ($('image').files[0]) form.append('input_reference', $('image').files[0]);
  $('create').disabled = true;
  try {
    await run(await json('videos', { method: 'POST', body: form }));
  } catch (error) {
    say(error.message, true);
  } finally {
    $('create').disabled = false;
  }
});

start();
