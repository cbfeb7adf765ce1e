// DOM builders: a message with its metadata, a sidebar entry. Content is set as text, never as
// HTML: messages come from users, models and tools. A reply's markdown is the one exception that
// is formatted, and it goes through markdown.js (sanitised, as a DocumentFragment).

import { h } from "./dom.js";
import { markdownView } from "./markdown.js";

export { h };

const ROLE_LABELS = { user: "You", assistant: "Assistant", system: "System", tool: "Tool" };

export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function formatTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

/** What the model was sent for a reply (the turn's `context`): how many messages, and the
 * summary standing in for older ones. */
function contextText(context) {
  const sent = plural(context.seqs?.length ?? 0, "message");
  const summary = context.summary_seq ? `, summary #${context.summary_seq} of ${context.covers?.[0]}–${context.covers?.[1]}` : "";
  const tokens = context.token_budget ? `, ${context.tokens} of ${context.token_budget} tokens` : "";
  return `saw ${sent}${summary}${tokens}`;
}

/** What the reply cost, from its metadata: model, tokens, duration (and its context). */
function costLine(metadata, context) {
  const parts = [];
  // Stopped by its reader: what was written until then, no more.
  if (metadata.finish_reason === "stopped") parts.push(h("span", { class: "stopped" }, "Stopped"));
  if (metadata.model) parts.push(h("span", { class: "model" }, metadata.model));
  const tokens = metadata.tokens;
  if (tokens && (tokens.prompt != null || tokens.completion != null)) {
    parts.push(h("span", { class: "tokens" }, `${tokens.prompt ?? "?"} → ${tokens.completion ?? "?"} tokens`));
  } else if (typeof metadata.tokens === "number") {
    parts.push(h("span", { class: "tokens" }, `${metadata.tokens} tokens`));
  }
  if (metadata.duration_ms != null) parts.push(h("span", { class: "duration" }, `${metadata.duration_ms} ms`));
  if (context) parts.push(h("span", { class: "context" }, contextText(context)));
  return parts.length ? h("p", { class: "meta" }, parts) : null;
}

function toolCalls(calls) {
  if (!Array.isArray(calls) || calls.length === 0) return null;
  return h(
    "details",
    { class: "tool-calls" },
    h("summary", {}, calls.length === 1 ? "1 tool call" : `${calls.length} tool calls`),
    h(
      "ul",
      {},
      calls.map((call) => h("li", {}, h("code", {}, `${call.tool}(${JSON.stringify(call.args ?? {})})`))),
    ),
  );
}

/** The body of a message, by kind: text, a folded tool result, a folded context summary. */
function body(message) {
  const metadata = message.metadata ?? {};
  if (message.role === "tool") {
    const label = `${metadata.is_error ? "Tool error" : "Tool result"}: ${metadata.tool ?? "tool"}`;
    return h(
      "details",
      { class: "tool-result" },
      h("summary", {}, label),
      metadata.args ? h("p", {}, h("code", {}, JSON.stringify(metadata.args))) : null,
      h("pre", {}, message.content),
    );
  }
  if (metadata.kind === "summary") {
    const covers = Array.isArray(metadata.covers) ? ` of messages ${metadata.covers[0]}–${metadata.covers[1]}` : "";
    return h(
      "details",
      { class: "summary" },
      h("summary", {}, `Context summary${covers}`),
      h("p", { class: "text" }, message.content),
    );
  }
  // A reply is formatted; what a person typed is shown as typed.
  if (message.role === "assistant") return markdownView(message.content, { class: "text" });
  return h("p", { class: "text" }, message.content);
}

/** A stored message (or one being written: `pending`), as an <article>. `context`: what the
 * model was sent for it, when this page saw the turn. */
export function messageView(message, { pending = false, context = null, tools = null } = {}) {
  const element = h("article", {
    class: `message role-${message.role}${pending ? " pending" : ""}`,
    dataset: { id: message.id ?? "", seq: message.seq ?? "" },
    "aria-label": `${ROLE_LABELS[message.role] ?? message.role} message`,
  });
  fillMessage(element, message, { pending, context, tools });
  return element;
}

/** Re-renders an existing message element in place (a pending one becoming stored). */
export function fillMessage(element, message, { pending = false, context = null, tools = null } = {}) {
  const metadata = message.metadata ?? {};
  element.classList.toggle("pending", pending);
  element.dataset.id = message.id ?? "";
  element.dataset.seq = message.seq ?? "";
  const parts = [
    h(
      "header",
      {},
      h("span", { class: "role" }, ROLE_LABELS[message.role] ?? message.role),
      message.created_at ? h("time", { datetime: message.created_at }, formatTime(message.created_at)) : null,
      message.seq ? h("span", { class: "seq", title: "sequence number" }, `#${message.seq}`) : null,
    ),
    body(message),
    message.role === "assistant" ? costLine(metadata, context) : null,
    message.role === "assistant" ? toolCalls(metadata.tool_calls) : null,
    tools,
  ];
  element.replaceChildren(...parts.filter(Boolean));
}

/** The name a conversation goes by: its title when it has one, else its last message, else its id. */
export function conversationLabel(conversation) {
  return conversation.title || conversation.last_message?.content || conversation.conversation_id;
}

/** The text of HTML text: the five entities a search snippet escapes (&amp; last). */
export function unescapeHtml(text) {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

/** A search snippet (HTML whose only tags are <mark> and </mark>, the rest escaped): its
 * highlights as elements, everything else as text nodes, never parsed as HTML. */
export function snippetView(snippet) {
  const parts = snippet.split(/<mark>|<\/mark>/).map(unescapeHtml);
  return h("span", { class: "snippet" }, parts.map((part, i) => (i % 2 ? h("mark", {}, part) : part)));
}

export function searchHitItem(hit, { onOpen }) {
  const button = h(
    "button",
    { type: "button", class: "conversation", dataset: { id: hit.conversation_id, seq: hit.seq } },
    h("span", { class: "label" }, hit.title || hit.conversation_id),
    snippetView(hit.snippet),
  );
  button.addEventListener("click", () => onOpen(hit.conversation_id));
  return h("li", {}, button);
}

export function conversationItem(conversation, { current = false, onOpen }) {
  const button = h(
    "button",
    { type: "button", class: "conversation", "aria-current": current ? "true" : null, dataset: { id: conversation.conversation_id } },
    h("span", { class: "label" }, conversationLabel(conversation)),
    h("span", { class: "visually-hidden" }, ` (${conversation.conversation_id})`),
    h(
      "span",
      { class: "sub" },
      `${plural(conversation.message_count ?? 0, "message")} · ${formatTime(conversation.updated_at)}`,
    ),
  );
  button.addEventListener("click", () => onOpen(conversation.conversation_id));
  return h("li", { class: conversation.pinned ? "pinned" : null }, button);
}
