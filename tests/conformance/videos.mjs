// The official openai SDK's client.videos against a running `reel serve`: a tenant's existing code, with only the
// base URL and key changed. Env: OPENAI_BASE_URL (…/v1), OPENAI_API_KEY, OTHER_API_KEY (a second tenant).
// Prints one JSON line of what it saw; any failed check exits non-zero with the reason.
import assert from 'node:assert/strict';
import OpenAI, { AuthenticationError, BadRequestError, ConflictError, NotFoundError } from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const other = new OpenAI({ apiKey: process.env.OTHER_API_KEY, maxRetries: 0 });
const seen = {};

async function completed(video) {
  const deadline = Date.now() + 120_000;
  while (video.status === 'queued' || video.status === 'in_progress') {
    assert.ok(Date.now() < deadline, `video ${video.id} did not finish`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    video = await client.videos.retrieve(video.id);
  }
  assert.equal(video.status, 'completed', JSON.stringify(video.error));
  assert.equal(video.progress, 100);
  return video;
}

async function rejects(call, errorClass, status) {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof errorClass, `${error?.constructor?.name}: ${error?.message}`);
    assert.equal(error.status, status);
    assert.ok(error.error?.message, 'the error envelope carries a message');
    return error;
  }
  assert.fail(`expected ${errorClass.name}`);
}

// create (multipart, the SDK's standard size and duration), poll, download all three variants
const video = await completed(await client.videos.create({ prompt: 'a red ball moves left', model: 'sora-2', seconds: '4', size: '1280x720' }));
assert.equal(video.object, 'video');
seen.size = video.size;
seen.seconds = video.seconds;
const mp4 = Buffer.from(await (await client.videos.downloadContent(video.id)).arrayBuffer());
assert.equal(mp4.subarray(4, 8).toString('ascii'), 'ftyp');
const thumbnail = Buffer.from(await (await client.videos.downloadContent(video.id, { variant: 'thumbnail' })).arrayBuffer());
assert.equal(thumbnail.subarray(8, 12).toString('ascii'), 'WEBP');
const spritesheet = Buffer.from(await (await client.videos.downloadContent(video.id, { variant: 'spritesheet' })).arrayBuffer());
assert.deepEqual([...spritesheet.subarray(0, 2)], [0xff, 0xd8]);
seen.bytes = { video: mp4.length, thumbnail: thumbnail.length, spritesheet: spritesheet.length };

// remix, extend and edit of the completed video
const remix = await completed(await client.videos.remix(video.id, { prompt: 'a blue ball moves left' }));
assert.equal(remix.remixed_from_video_id, video.id);
assert.equal(remix.size, video.size);
const extension = await completed(await client.videos.extend({ prompt: 'it keeps moving', seconds: '4', video: { id: video.id } }));
assert.ok(Number(extension.seconds) > Number(video.seconds), `${extension.seconds} is not longer than ${video.seconds}`);
const edit = await completed(await client.videos.edit({ prompt: 'a green ball moves left', video: { id: video.id } }));
assert.equal(edit.seconds, video.seconds);
seen.extensionSeconds = extension.seconds;

// list across pages: the SDK follows last_id while has_more
const ids = [];
for await (const listed of client.videos.list({ limit: 2 })) ids.push(listed.id);
for (const id of [video.id, remix.id, extension.id, edit.id]) assert.ok(ids.includes(id), `${id} missing from the list`);
assert.equal(new Set(ids).size, ids.length, 'pages overlap');
const firstPage = await client.videos.list({ limit: 2 });
assert.equal(firstPage.data.length, 2);
assert.ok(firstPage.has_more);
seen.listed = ids.length;

// our errors raise the SDK's own error classes with the right status
await rejects(() => client.videos.retrieve('video_default_latest_0123456789abcdef0123456789abcdef'), NotFoundError, 404);
await rejects(() => other.videos.retrieve(video.id), NotFoundError, 404);
await rejects(() => client.videos.create({ prompt: 'x', size: '640x480' }), BadRequestError, 400);
await rejects(() => client.videos.create({ prompt: 'x', input_reference: { file_id: 'file_1' } }), BadRequestError, 400);
await rejects(() => new OpenAI({ apiKey: 'reel_wrong', maxRetries: 0 }).videos.list(), AuthenticationError, 401);
// 10 s is not an SDK duration: it is made as asked, long enough to still run when the delete arrives.
const running = await client.videos.create({ prompt: 'a long one', seconds: '10' });
const conflict = await rejects(() => client.videos.delete(running.id), ConflictError, 409);
assert.equal(conflict.headers.get('x-should-retry'), 'false');
await rejects(() => client.videos.downloadContent(running.id), ConflictError, 409);
await completed(running);

// delete
const deleted = await client.videos.delete(remix.id);
assert.deepEqual(deleted, { id: remix.id, object: 'video.deleted', deleted: true });
await rejects(() => client.videos.retrieve(remix.id), NotFoundError, 404);

console.log(JSON.stringify({ ok: true, ...seen }));
