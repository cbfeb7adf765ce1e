// The AI SDK's chat protocol (/api/chat) with the real npm `ai` package (pinned in package.json):
// DefaultChatTransport.sendMessages and reconnectToStream, readUIMessageStream, validateUIMessages,
// against a running server (`make test-js` starts one: auth required, the offline model slowed by
// LLM_OFFLINE_DELAY_SECONDS so a reply takes long enough to be aborted mid-way):
//   API_BASE_URL=http://127.0.0.1:8001 API_KEY=<service key> node --test tests/js/
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DefaultChatTransport, readUIMessageStream, validateUIMessages } from 'ai';

const BASE = process.env.API_BASE_URL ?? 'http://127.0.0.1:8001';
const SERVICE = { Authorization: `Bearer ${process.env.API_KEY}` };

function transport(headers = SERVICE) {
  return new DefaultChatTransport({ api: `${BASE}/api/chat`, headers });
}

function userMessage(text) {
  return { id: `u-${randomUUID()}`, role: 'user', parts: [{ type: 'text', text }] };
}

// The last message readUIMessageStream builds from a stream of UI message chunks.
async function lastMessage(stream) {
  let last;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last;
}

function text(message) {
  return message.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
}

async function stored(chatId, headers = SERVICE) {
  const response = await fetch(`${BASE}/api/chat/${chatId}`, { headers });
  assert.equal(response.status, 200, await response.clone().text());
  return validateUIMessages({ messages: await response.json() });
}

function userToken(userId) {
  return execFileSync('.venv/bin/python', ['-m', 'app', 'token', '--user', userId], { encoding: 'utf8' }).trim();
}

test('a chat: sent, streamed, stored, read back as UIMessages the SDK accepts', async () => {
  const chatId = `ai-sdk-${randomUUID()}`;
  const first = userMessage('hello from the AI SDK');
  const reply = await lastMessage(
    await transport().sendMessages({ chatId, messages: [first], trigger: 'submit-message', abortSignal: undefined }),
  );
  assert.equal(reply.role, 'assistant');
  assert.match(text(reply), /hello from the AI SDK/);
  assert.equal(reply.metadata.conversationId, chatId);

  // The whole history again, plus one message: only the new one is stored.
  const second = userMessage('and again');
  const again = await lastMessage(
    await transport().sendMessages({ chatId, messages: [first, reply, second], trigger: 'submit-message' }),
  );
  const messages = await stored(chatId);
  assert.deepEqual(messages.map((m) => m.id), [first.id, reply.id, second.id, again.id]);
  assert.deepEqual(messages[0].parts, first.parts); // the client's message reads back as sent
  assert.equal(text(messages[1]), text(reply));
  assert.equal(text(messages[3]), text(again));
});

test('a tool the API runs is a tool part, and reads back as one', async () => {
  const chatId = `ai-sdk-${randomUUID()}`;
  const reply = await lastMessage(
    await transport().sendMessages({ chatId, messages: [userMessage('What is 6*7?')], trigger: 'submit-message' }),
  );
  const tool = reply.parts.find((p) => p.type === 'tool-calculator');
  assert.ok(tool, JSON.stringify(reply.parts));
  assert.equal(tool.state, 'output-available');
  assert.deepEqual(tool.input, { expression: '6*7' });
  assert.match(String(tool.output), /42/);
  const [, readBack] = await stored(chatId);
  const storedTool = readBack.parts.find((p) => p.type === 'tool-calculator');
  assert.equal(storedTool.toolCallId, tool.toolCallId);
  assert.equal(storedTool.output, tool.output);
  assert.equal(text(readBack), text(reply));
});

test('a reply aborted mid-way, then resumed, matches the stored reply', async () => {
  const chatId = `ai-sdk-${randomUUID()}`;
  const controller = new AbortController();
  const stream = await transport().sendMessages({
    chatId,
    messages: [userMessage('tell me a story that takes a while to tell, please, with many words in it')],
    trigger: 'submit-message',
    abortSignal: controller.signal,
  });
  const reader = stream.getReader();
  let deltas = 0;
  while (deltas < 3) {
    const { value } = await reader.read();
    if (value?.type === 'text-delta') deltas += 1;
  }
  controller.abort(); // the tab closes: the reply goes on without its client
  await reader.cancel().catch(() => {});

  const resumed = await transport().reconnectToStream({ chatId });
  assert.ok(resumed, 'the reply was still being generated');
  const whole = await lastMessage(resumed);
  const [, readBack] = await stored(chatId);
  assert.equal(readBack.id, whole.id);
  assert.equal(text(whole), text(readBack));
  assert.equal(await transport().reconnectToStream({ chatId }), null); // nothing streaming: 204
});

test('regenerate replaces the reply; a user works in its own conversations only', async () => {
  const userId = randomUUID();
  const headers = { Authorization: `Bearer ${userToken(userId)}` };
  const created = await fetch(`${BASE}/conversations`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(created.status, 201);
  const chatId = (await created.json()).conversation_id;
  const question = userMessage('first question');
  const reply = await lastMessage(
    await transport(headers).sendMessages({ chatId, messages: [question], trigger: 'submit-message' }),
  );
  const regenerated = await lastMessage(
    await transport(headers).sendMessages({ chatId, messages: [question], trigger: 'regenerate-message', messageId: reply.id }),
  );
  assert.notEqual(regenerated.id, reply.id);
  assert.deepEqual((await stored(chatId, headers)).map((m) => m.id), [question.id, regenerated.id]);

  const stranger = { Authorization: `Bearer ${userToken(randomUUID())}` };
  await assert.rejects(
    transport(stranger).sendMessages({ chatId, messages: [userMessage('mine now?')], trigger: 'submit-message' }),
    /not found/,
  );
  assert.equal((await fetch(`${BASE}/api/chat/${chatId}`, { headers: stranger })).status, 404);
  const unknown = `ai-sdk-${randomUUID()}`; // users create conversations first
  await assert.rejects(
    transport(headers).sendMessages({ chatId: unknown, messages: [userMessage('hi')], trigger: 'submit-message' }),
  );
});
