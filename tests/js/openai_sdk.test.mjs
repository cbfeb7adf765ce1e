// Smoke test of the /v1 API with the official JavaScript SDK (npm `openai`, pinned in
// package.json), on node's built-in test runner, against a running server:
//   OPENAI_BASE_URL=http://127.0.0.1:8001/v1 OPENAI_API_KEY=<service key> node --test tests/js/
// `make test-js` starts a server for it and stops it afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { NotFoundError } from 'openai';

const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL ?? 'http://127.0.0.1:8001/v1',
  apiKey: process.env.OPENAI_API_KEY,
  maxRetries: 0,
});

test('conversations and items', async () => {
  const conversation = await client.conversations.create({
    metadata: { from: 'js' },
    items: [{ type: 'message', role: 'user', content: 'hello from node' }],
  });
  assert.match(conversation.id, /^[0-9a-f]{8}-[0-9a-f]{4}-/);  // the database chose it
  assert.deepEqual((await client.conversations.retrieve(conversation.id)).metadata, { from: 'js' });
  await client.conversations.items.create(conversation.id, {
    items: Array.from({ length: 5 }, (_, n) => ({ type: 'message', role: 'user', content: `m${n}` })),
  });
  const texts = [];
  for await (const item of client.conversations.items.list(conversation.id, { limit: 2, order: 'asc' })) {
    texts.push(item.content[0].text);
  }
  assert.deepEqual(texts, ['hello from node', 'm0', 'm1', 'm2', 'm3', 'm4']);
  const deleted = await client.conversations.delete(conversation.id);
  assert.equal(deleted.deleted, true);
  await assert.rejects(client.conversations.retrieve(conversation.id), NotFoundError);
});

test('responses, streamed and not', async () => {
  const conversation = await client.conversations.create();
  const response = await client.responses.create({
    model: 'any',
    input: 'Hi from JavaScript',
    conversation: conversation.id,
  });
  assert.equal(response.status, 'completed');
  assert.match(response.output_text, /Hi from JavaScript/);

  const stream = await client.responses.create({
    model: 'any',
    input: 'and streamed',
    conversation: conversation.id,
    stream: true,
  });
  let text = '';
  let completed;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.ok(completed);
  assert.equal(text, completed.output[0].content[0].text);
  assert.equal((await client.responses.retrieve(completed.id)).id, completed.id);
  const items = await client.conversations.items.list(conversation.id);
  assert.equal(items.data.length, 4);
});

test('background, starting_after and cancel (issue 19)', async () => {
  // Resume: a background stream dropped after its first delta, picked up after its last number.
  const stream = await client.responses.create({ model: 'any', input: 'resume me from node', stream: true, background: true });
  const seen = [];
  for await (const event of stream) {
    seen.push(event);
    if (event.type === 'response.output_text.delta') break;
  }
  const id = seen[0].response.id;
  const rest = [];
  for await (const event of await client.responses.retrieve(id, { stream: true, starting_after: seen.at(-1).sequence_number })) {
    rest.push(event);
  }
  const numbers = [...seen, ...rest].map((e) => e.sequence_number);
  assert.deepEqual(numbers, numbers.map((_, n) => n));
  const text = [...seen, ...rest].filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(rest.at(-1).type, 'response.completed');
  assert.equal(text, (await client.responses.retrieve(id)).output_text);

  // Background polled with retrieve; cancel of a finished response answers it as it is.
  const created = await client.responses.create({ model: 'any', input: 'in the background', background: true });
  assert.equal(created.background, true);
  for await (const _ of await client.responses.retrieve(created.id, { stream: true })) { /* until it ends */ }
  assert.equal((await client.responses.retrieve(created.id)).status, 'completed');
  assert.equal((await client.responses.cancel(created.id)).status, 'completed');
  await assert.rejects(client.responses.cancel('resp_00000000000000000000000000000000'), NotFoundError);
});
