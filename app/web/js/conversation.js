// The open conversation: its messages in seq order, the live feed that keeps them current,
// the composer whose turn streams in, and the actions on the conversation.
//
// Every message element is keyed by the stored message's id. A message the page is still
// writing (the user's, until the turn's `start`; the reply, until the live feed brings the
// stored row) is "pending": it sits after the stored ones and becomes a stored one in place
// when its row arrives, so nothing shows twice whichever of the chat stream and the live
// feed is first.

import { ApiError, NetworkError, describe } from "./api.js";
import { forgetReply, pendingReply, rememberReply } from "./pending.js";
import { ReplyView } from "./reply.js";
import { LiveFeed, readEvents } from "./sse.js";
import { fillMessage, formatTime, h, messageView, plural } from "./views.js";

const newKey = () =>
  globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

export class ConversationView {
  /** `ui`: the pane's elements (see index.html); `events`: onChanged(id), onAdopted(id),
   * onDeleted(id), onSignedOut(error), showError(text). */
  constructor(api, ui, events) {
    this.api = api;
    this.ui = ui;
    this.events = events;
    this.features = {};
    this.id = null;
    this.feed = null;
    this.elements = new Map();
    this.rows = new Map(); // id -> the stored message shown
    this.contexts = new Map(); // reply id -> the turn's context (not stored with the reply)
    this.generation = 0;
    this.busy = false;
    this.olderCursor = null;

    ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(ui.input.value);
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.composer.requestSubmit();
      }
    });
    ui.older.addEventListener("click", () => this.loadOlder());
    ui.stop.addEventListener("click", () => this.stop());
    ui.extend.addEventListener("click", () => this.extend());
    ui.clear.addEventListener("click", () => this.clear());
    ui.export.addEventListener("click", () => this.exportJson());
    ui.remove.addEventListener("click", () => this.remove());
    ui.rename.addEventListener("click", () => this.startRename());
    ui.renameCancel.addEventListener("click", () => this.endRename());
    ui.renameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename(ui.renameInput.value.trim());
    });
    ui.pin.addEventListener("click", () => this.organise({ pinned: !this.conversation?.pinned }));
    ui.archive.addEventListener("click", () => this.organise({ archived: !this.conversation?.archived }));
    for (const button of ui.suggestions.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        ui.input.value = button.textContent;
        ui.input.focus();
      });
    }
    this.loading = false;
    this.stopTurn = null; // stops the turn being written, once its stream named it
    this.ratings = new Map(); // message id -> the caller's rating (1, -1, or null: none)
    this.prefill = null; // text to put in the composer once the next conversation is open
  }

  /** Shows the controls of what this server offers (features.js). */
  setFeatures(features) {
    this.features = features;
    for (const button of [this.ui.rename, this.ui.pin, this.ui.archive]) button.hidden = !features.organise;
  }

  // -- opening and closing ---------------------------------------------------------------

  close() {
    this.generation += 1;
    this.feed?.stop();
    this.feed = null;
    this.id = null;
    this.busy = false;
    this.stopTurn = null;
    this.ui.stop.hidden = true;
    this.elements.clear();
    this.rows.clear();
    this.contexts.clear();
    this.conversation = null;
    this.endRename();
    this.olderCursor = null;
    this.ui.messages.replaceChildren();
    this.ui.older.hidden = true;
    this.loading = false;
    this.setLive(null);
    this.setNotice("");
    this.showEmpty();
  }

  startNew() {
    this.close();
    this.ui.title.textContent = "New conversation";
    this.ui.info.textContent = "Your first message starts it.";
    this.setActions(false);
    this.setComposer(true);
    this.takePrefill();
    this.ui.input.focus();
  }

  takePrefill() {
    if (this.prefill === null) return;
    this.ui.input.value = this.prefill;
    this.prefill = null;
    this.ui.input.focus();
  }

  async open(id) {
    this.close();
    const generation = this.generation;
    this.id = id;
    this.ui.title.textContent = id;
    this.ui.info.textContent = "Loading…";
    this.setActions(false);
    this.setComposer(false);
    this.loading = true;
    this.showEmpty();
    let page;
    try {
      page = await this.api.getConversation(id);
    } catch (error) {
      if (generation === this.generation) {
        this.loading = false;
        this.failed(error);
      }
      return;
    }
    if (generation !== this.generation) return;
    this.loading = false;
    this.showInfo(page);
    for (const message of page.messages) this.upsert(message);
    this.olderCursor = page.next_cursor ?? null;
    this.ui.older.hidden = this.olderCursor === null;
    this.showEmpty();
    this.setActions(true);
    this.setComposer(true);
    this.takePrefill();
    this.scrollToEnd(true);
    // Resume after what the page shows: whatever was appended since the read is replayed.
    this.follow(page.messages.length ? page.messages.at(-1).seq : page.last_seq);
    // A reply this tab was reading before a reload: picked up where it was.
    const pending = pendingReply(id);
    if (pending) this.resume(pending);
  }

  /** A turn without a conversation started one: it is now the open conversation. */
  adopt(id) {
    this.id = id;
    this.ui.title.textContent = id;
    this.setActions(true);
    this.follow(0);
    this.events.onAdopted(id);
  }

  follow(lastSeq) {
    const id = this.id;
    const generation = this.generation;
    this.feed = new LiveFeed({
      open: (seq, signal) => this.api.events(id, seq, signal),
      lastSeq,
      onMessage: (message) => generation === this.generation && this.upsert(message, { follow: true }),
      onState: (state) => generation === this.generation && this.setLive(state),
      onEnd: (reason) => generation === this.generation && this.failed(reason === "gone" ? new ApiError(404, "gone") : reason),
    }).start();
  }

  // -- messages --------------------------------------------------------------------------

  /** Shows a stored message once: updates its element if there is one, and keeps seq order. */
  upsert(message, { follow = false } = {}) {
    const nearEnd = this.nearEnd();
    this.rows.set(message.id, message);
    let element = this.elements.get(message.id);
    const context = this.contexts.get(message.id);
    const tools = this.toolsFor(message);
    if (element) fillMessage(element, message, { context, tools });
    else {
      element = messageView(message, { context, tools });
      this.elements.set(message.id, element);
    }
    this.place(element, message.seq);
    this.showEmpty();
    if (follow) this.scrollToEnd(nearEnd);
  }

  place(element, seq) {
    for (const child of this.ui.messages.children) {
      if (child === element) continue;
      if (child.dataset.seq === "" || Number(child.dataset.seq) > seq) {
        if (child.previousElementSibling !== element) this.ui.messages.insertBefore(element, child);
        return;
      }
    }
    if (this.ui.messages.lastElementChild !== element) this.ui.messages.append(element);
  }

  /** A pending element learns which stored message it is (or goes, if that one is shown). */
  bind(element, id) {
    const shown = this.elements.get(id);
    if (shown && shown !== element) element.remove();
    else {
      element.dataset.id = id;
      this.elements.set(id, element);
    }
  }

  async loadOlder() {
    if (this.olderCursor === null) return;
    const generation = this.generation;
    try {
      const page = await this.api.getConversation(this.id, { before: this.olderCursor });
      if (generation !== this.generation) return;
      for (const message of page.messages) this.upsert(message);
      this.olderCursor = page.next_cursor ?? null;
      this.ui.older.hidden = this.olderCursor === null;
    } catch (error) {
      this.failed(error);
    }
  }

  // -- a chat turn -----------------------------------------------------------------------

  async send(text) {
    if (this.busy || !text.trim()) return;
    const mine = messageView({ role: "user", content: text, metadata: {} }, { pending: true });
    this.ui.input.value = "";
    await this.runTurn(
      { message: text, conversationId: this.id, idempotencyKey: newKey() },
      {
        before: [mine],
        onStart: (data) => this.bind(mine, data.user_message_id),
        onUnsent: () => {
          mine.remove();
          if (!this.ui.input.value) this.ui.input.value = text; // not sent: give it back
        },
      },
    );
  }

  /** Regenerate: the question before this reply answered again, in place (/chat `regenerate`,
   * naming the stored question by its idempotency key). What came after the question leaves the
   * conversation once the new turn starts; the store keeps it on that turn (`superseded`). */
  async regenerate(answer) {
    if (this.busy) return;
    const question = [...this.rows.values()]
      .filter((row) => row.role === "user" && row.seq < answer.seq)
      .reduce((latest, row) => (latest && latest.seq > row.seq ? latest : row), null);
    if (!question?.idempotency_key) {
      this.setNotice("This reply has no stored question to answer again.");
      return;
    }
    const replaced = [...this.rows.values()].filter((row) => row.seq > question.seq);
    await this.runTurn(
      { message: question.content, conversationId: this.id, idempotencyKey: question.idempotency_key, regenerate: true },
      { onStart: () => replaced.forEach((row) => this.forget(row.id)) },
    );
  }

  /** One chat turn, its reply streamed into a new ReplyView after `before` (the pending
   * question, if any); `onStart` once the stream says it began, `onUnsent` if it never did. */
  async runTurn(request, { before = [], onStart = () => {}, onUnsent = () => {} }) {
    this.setNotice("");
    this.events.showError("");
    const conversationId = request.conversationId;
    const nearEnd = this.nearEnd();
    const reply = new ReplyView();
    this.ui.messages.append(...before, reply.element);
    this.setBusy(true);
    this.scrollToEnd(nearEnd);
    const turn = { generation: this.generation, conversationId, turnId: null, seq: 0 };
    let started = false;
    try {
      const response = await this.api.chatStream(request);
      const start = (data) => {
        started = true;
        if (!conversationId) this.adopt(data.conversation_id);
        turn.conversationId = data.conversation_id;
        onStart(data);
      };
      let end = await this.readTurn(response.body, reply, turn, start).catch((error) => {
        if (turn.turnId && error instanceof TypeError) return null; // the connection broke: resumed below
        throw error;
      });
      if (end === null && turn.turnId) end = await this.followTurn(reply, turn);
      if (end === null) throw new ApiError(502, "stream_ended", "the answer was cut off");
    } catch (error) {
      reply.remove();
      // Left for another conversation: the turn goes on, and opening this one again resumes it.
      if (turn.generation !== this.generation) return;
      if (turn.conversationId) forgetReply(turn.conversationId);
      if (!started) onUnsent();
      this.failed(error);
    } finally {
      this.endTurn(reply, turn);
    }
  }

  /** A stored message no longer in the conversation (replaced by a regeneration). */
  forget(id) {
    this.elements.get(id)?.remove();
    this.elements.delete(id);
    this.rows.delete(id);
    this.contexts.delete(id);
  }

  /** The reply this tab was reading here when the page was left (a reload): shown as far as it
   * was read, then followed from that position to its end. */
  async resume({ turnId, seq, content }) {
    const reply = new ReplyView();
    reply.replace(content ?? "");
    this.ui.messages.append(reply.element);
    const turn = { generation: this.generation, conversationId: this.id, turnId, seq };
    this.stopTurn = () => this.api.stopTurn(turnId);
    this.setBusy(true);
    this.scrollToEnd(true);
    try {
      const end = await this.followTurn(reply, turn);
      if (end === null && turn.generation === this.generation) {
        throw new ApiError(502, "stream_ended", "the answer was cut off");
      }
    } catch (error) {
      reply.remove();
      if (turn.generation !== this.generation) return;
      forgetReply(turn.conversationId);
      // Gone (its conversation expired or was deleted): the page shows what is stored.
      if (error?.status !== 404) this.failed(error);
    } finally {
      this.endTurn(reply, turn);
    }
  }

  /** Reads the turn's stream from `turn.seq` on (GET /turns/{id}/events), reconnecting when it
   * drops; its end ("done", "stopped"), or null when the page left it or it could not be read. */
  async followTurn(reply, turn) {
    for (let attempt = 0; attempt < 5 && turn.generation === this.generation; attempt += 1) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      let response;
      try {
        response = await this.api.turnEvents(turn.turnId, turn.seq);
      } catch (error) {
        if (error instanceof NetworkError) continue;
        throw error;
      }
      try {
        const end = await this.readTurn(response.body, reply, turn);
        if (end !== null) return end;
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // the connection broke: read again
      }
    }
    return null;
  }

  /** Reads one stream of a turn into `reply`, remembering where it is (pending.js), until the
   * turn's end: "done" or "stopped"; null when the stream ended first (a dropped connection, the
   * server's shutdown) or another conversation was opened. An `error` event is thrown. */
  async readTurn(body, reply, turn, onStart = () => {}) {
    for await (const item of readEvents(body)) {
      // Another conversation was opened meanwhile: the turn goes on without this page.
      if (turn.generation !== this.generation) return null;
      if (item.type !== "event") continue;
      const data = JSON.parse(item.data);
      if (item.event === "start") {
        onStart(data);
        turn.turnId = data.turn_id ?? null;
        if (turn.turnId) this.stopTurn = () => this.api.stopTurn(turn.turnId);
        this.setBusy(true);
      } else if (item.event === "tool") {
        this.toolResult(data, reply.element);
      } else if (item.event === "delta") {
        reply.write(data.text);
        this.scrollToEnd(this.nearEnd());
      } else if (item.event === "done" || item.event === "stopped") {
        this.showReply(reply, data);
        forgetReply(turn.conversationId);
        return item.event;
      } else if (item.event === "error") {
        throw ApiError.fromStreamError(data);
      } else if (item.event === "shutdown") {
        return null; // this server stops: another one serves the stream
      }
      const seq = Number(item.id);
      if (turn.turnId && turn.conversationId && Number.isInteger(seq)) {
        turn.seq = seq;
        rememberReply(turn.conversationId, { turnId: turn.turnId, seq, content: reply.content });
      }
    }
    return null;
  }

  /** The turn's end (`done` or `stopped`, the stored reply): shown in place of what was
   * written, until the stored row arrives. */
  showReply(reply, data) {
    if (!data.message_id) {
      reply.remove(); // stopped before any text: nothing was stored
      this.setNotice("Stopped before the reply began.");
      return;
    }
    const metadata = {
      model: data.model,
      tokens: { prompt: data.usage?.prompt_tokens, completion: data.usage?.completion_tokens },
      duration_ms: data.duration_ms,
      tool_calls: data.tool_calls,
      finish_reason: data.finish_reason,
    };
    if (data.context) this.contexts.set(data.message_id, data.context);
    reply.finish({ content: data.response, metadata, context: data.context });
    this.bind(reply.element, data.message_id);
    const row = this.rows.get(data.message_id);
    if (row) this.upsert(row); // the feed was first: show the context on the stored one
  }

  endTurn(reply, turn) {
    reply.settle();
    if (turn.generation !== this.generation) return;
    this.stopTurn = null;
    this.ui.stop.disabled = false;
    this.setBusy(false);
    this.refreshInfo();
    if (this.id) this.events.onChanged(this.id);
  }

  /** Stop: the turn ends wherever it runs; its stream then ends with `stopped`. */
  async stop() {
    if (!this.stopTurn) return;
    this.ui.stop.disabled = true;
    try {
      await this.stopTurn();
    } catch (error) {
      this.ui.stop.disabled = false;
      this.failed(error);
    }
  }

  /** A turn is being written: Send waits; Stop is offered once the turn can be stopped. */
  setBusy(busy) {
    this.busy = busy;
    this.ui.send.disabled = busy || this.ui.input.disabled;
    this.ui.stop.hidden = !(busy && this.stopTurn);
    this.showEmpty();
  }

  toolResult(data, reply) {
    if (this.elements.has(data.message_id)) return;
    const element = messageView(
      {
        id: data.message_id,
        role: "tool",
        content: data.content,
        metadata: { tool: data.tool, args: data.args, is_error: data.is_error },
      },
      { pending: true },
    );
    this.elements.set(data.message_id, element);
    this.ui.messages.insertBefore(element, reply);
  }

  // -- organise, fork, feedback (where the server has them) ------------------------------

  /** A stored message's own buttons: edit (a user's) or fork from it, thumbs up/down (a reply's). */
  toolsFor(message) {
    const buttons = [];
    if (this.features.fork && message.role === "user") {
      buttons.push(this.toolButton("Edit", "Edit this message and regenerate (in a fork)", () => this.editFrom(message)));
    }
    if (this.features.fork && message.role === "assistant") {
      buttons.push(this.toolButton("Fork from here", "A new conversation with the messages up to this one", () => this.forkAt(message)));
    }
    if (this.features.regenerate && message.role === "assistant") {
      // Shown on the conversation's last message only (style.css): the reply to answer again.
      const button = this.toolButton("Regenerate", "Answer the question again (replaces this reply)", () => this.regenerate(message));
      button.classList.add("regenerate");
      buttons.push(button);
    }
    if (this.features.feedback && message.role === "assistant") {
      // The caller's own rating comes with the message it rated (null: none yet).
      if (!this.ratings.has(message.id) && message.feedback) this.ratings.set(message.id, message.feedback.rating);
      const rating = this.ratings.get(message.id);
      for (const [value, label, name] of [[1, "Good", "Good answer"], [-1, "Bad", "Bad answer"]]) {
        const button = this.toolButton(label, name, () => this.rate(message, value));
        button.setAttribute("aria-pressed", String(rating === value));
        buttons.push(button);
      }
    }
    return buttons.length ? h("div", { class: "message-tools" }, buttons) : null;
  }

  toolButton(text, label, action) {
    const button = h("button", { type: "button", "aria-label": label, title: label }, text);
    button.addEventListener("click", action);
    return button;
  }

  async rate(message, value) {
    const rating = this.ratings.get(message.id) === value ? null : value;
    try {
      await this.api.rate(this.id, message.seq, rating);
      this.ratings.set(message.id, rating); // null: withdrawn (the stored message may still say otherwise)
      this.upsert(message);
      this.setNotice(rating === null ? "Rating withdrawn." : "Thanks for the feedback.");
    } catch (error) {
      this.failed(error);
    }
  }

  /** Edit and regenerate: a fork holding what came before, the message in the composer. */
  async editFrom(message) {
    if (message.seq <= 1) {
      this.prefill = message.content;
      this.events.onNew();
      return;
    }
    const fork = await this.forkTo(message.seq - 1);
    if (!fork) return;
    this.prefill = message.content;
    this.events.onNavigate(fork.conversation_id);
  }

  async forkAt(message) {
    const fork = await this.forkTo(message.seq);
    if (fork) this.events.onNavigate(fork.conversation_id);
  }

  async forkTo(seq) {
    try {
      const fork = await this.api.fork(this.id, seq);
      this.events.onChanged(fork.conversation_id);
      return fork;
    } catch (error) {
      this.failed(error);
      return null;
    }
  }

  startRename() {
    this.ui.renameInput.value = this.conversation?.title ?? "";
    this.ui.renameForm.hidden = false;
    this.ui.title.hidden = true;
    this.ui.renameInput.focus();
  }

  endRename() {
    this.ui.renameForm.hidden = true;
    this.ui.title.hidden = false;
  }

  async rename(title) {
    await this.organise({ title: title || null });
    this.endRename();
    this.ui.rename.focus();
  }

  async organise(fields) {
    try {
      this.showInfo(await this.api.update(this.id, fields));
      if ("archived" in fields) {
        this.setNotice(fields.archived ? "Archived: listed only under “Show archived”." : "Back in the list.");
      }
      this.events.onChanged(this.id);
    } catch (error) {
      this.failed(error);
    }
  }

  // -- actions ---------------------------------------------------------------------------

  async extend() {
    try {
      const result = await this.api.extend(this.id, 24);
      this.setNotice(`Extended: now expires ${formatTime(result.expires_at)}.`);
      this.refreshInfo();
    } catch (error) {
      this.failed(error);
    }
  }

  async clear() {
    if (!window.confirm("Delete every message of this conversation? The conversation stays.")) return;
    try {
      const result = await this.api.clear(this.id);
      this.elements.clear();
      this.rows.clear();
      this.ui.messages.replaceChildren();
      this.ui.older.hidden = true;
      this.olderCursor = null;
      this.showEmpty();
      this.setNotice(`Cleared ${plural(result.cleared, "message")}.`);
      this.refreshInfo();
      this.events.onChanged(this.id);
    } catch (error) {
      this.failed(error);
    }
  }

  async exportJson() {
    try {
      const blob = await this.api.exportConversation(this.id);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${this.id}.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      this.setNotice("Exported as JSON.");
    } catch (error) {
      this.failed(error);
    }
  }

  async remove() {
    if (!window.confirm("Delete this conversation and all its messages?")) return;
    const id = this.id;
    try {
      await this.api.remove(id);
      this.events.onDeleted(id);
    } catch (error) {
      this.failed(error);
    }
  }

  // -- what the pane shows ---------------------------------------------------------------

  async refreshInfo() {
    if (!this.id) return;
    const generation = this.generation;
    try {
      const conversation = await this.api.getConversation(this.id, { limit: 0 });
      if (generation === this.generation) this.showInfo(conversation);
    } catch {
      // the next action or the feed says what is wrong
    }
  }

  showInfo(conversation) {
    this.conversation = conversation;
    this.events.onShown(conversation);
    this.ui.title.textContent = conversation.title || conversation.conversation_id;
    this.ui.title.title = this.ui.title.textContent; // in full, where one line cuts it
    this.ui.pin.textContent = conversation.pinned ? "Unpin" : "Pin";
    this.ui.pin.setAttribute("aria-pressed", String(Boolean(conversation.pinned)));
    this.ui.archive.textContent = conversation.archived ? "Unarchive" : "Archive";
    const count = plural(conversation.message_count, "message");
    this.ui.info.textContent = `${count} · expires ${formatTime(conversation.expires_at)}`;
  }

  /** An error in words; a conversation that is gone leaves the pane saying so. */
  failed(error) {
    if (error?.status === 401) return this.events.onSignedOut(error);
    const text = describe(error);
    if (error?.status === 404) {
      this.feed?.stop();
      this.setLive(null);
      this.setActions(false);
      this.setComposer(false);
      this.ui.info.textContent = "";
      this.ui.messages.replaceChildren(h("p", { class: "gone" }, text));
      this.elements.clear();
      this.rows.clear();
      this.showEmpty();
    }
    this.events.showError(text);
  }

  /** With nothing to show, the pane says what to do: how to start (a new conversation), or
   * that this one has no messages yet. */
  showEmpty() {
    const empty = !this.loading && this.ui.messages.childElementCount === 0;
    this.ui.empty.hidden = !empty;
    if (!empty) return;
    const fresh = this.id === null;
    this.ui.emptyTitle.textContent = fresh ? "Start a conversation" : "No messages yet";
    this.ui.emptyText.textContent = fresh
      ? "Write a message below: Enter sends it, Shift+Enter starts a new line. The reply appears as " +
        "the model writes it, formatted: lists, tables, and code with a Copy button."
      : "This conversation is empty (it was cleared, or created without messages). Write the first message below.";
    this.ui.suggestions.hidden = !fresh;
  }

  setNotice(text) {
    this.ui.notice.textContent = text;
  }

  setLive(state) {
    const labels = { live: "Live", reconnecting: "Reconnecting…" };
    this.ui.live.textContent = labels[state] ?? "";
    this.ui.live.dataset.state = state ?? "";
  }

  setActions(enabled) {
    const buttons = [this.ui.extend, this.ui.clear, this.ui.export, this.ui.remove, this.ui.rename, this.ui.pin, this.ui.archive];
    for (const button of buttons) button.disabled = !enabled;
  }

  setComposer(enabled) {
    this.ui.input.disabled = !enabled;
    this.ui.send.disabled = !enabled || this.busy;
  }

  nearEnd() {
    const list = this.ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  scrollToEnd(when) {
    if (when) this.ui.messages.scrollTop = this.ui.messages.scrollHeight;
  }
}
