// The list of the caller's conversations, most recently updated first (pinned ones first
// where the API has pins), paged with the API's keyset cursor.

import { conversationItem } from "./views.js";

const PAGE = 20;

export class Sidebar {
  /** `ui`: {list, more, create}; `events`: onOpen(id), onNew(), onError(error). */
  constructor(api, ui, events) {
    this.api = api;
    this.ui = ui;
    this.events = events;
    this.conversations = [];
    this.cursor = null;
    this.current = null;
    ui.create.addEventListener("click", () => events.onNew());
    ui.more.addEventListener("click", () => this.loadMore());
  }

  /** Shows a first page already read (the sign-in check reads one). */
  show(page) {
    this.conversations = page.conversations;
    this.cursor = page.next_cursor ?? null;
    this.render();
  }

  async refresh() {
    try {
      this.show(await this.api.listConversations({ limit: Math.max(PAGE, this.conversations.length) }));
    } catch (error) {
      this.events.onError(error);
    }
  }

  async loadMore() {
    if (!this.cursor) return;
    try {
      const page = await this.api.listConversations({ limit: PAGE, cursor: this.cursor });
      const known = new Set(this.conversations.map((c) => c.conversation_id));
      this.conversations.push(...page.conversations.filter((c) => !known.has(c.conversation_id)));
      this.cursor = page.next_cursor ?? null;
      this.render();
    } catch (error) {
      this.events.onError(error);
    }
  }

  setCurrent(id) {
    this.current = id;
    for (const button of this.ui.list.querySelectorAll("button.conversation")) {
      if (button.dataset.id === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  render() {
    const ordered = [...this.conversations].sort((a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)));
    this.ui.list.replaceChildren(
      ...ordered.map((conversation) =>
        conversationItem(conversation, {
          current: conversation.conversation_id === this.current,
          onOpen: (id) => this.events.onOpen(id),
        }),
      ),
    );
    this.ui.empty.hidden = ordered.length > 0;
    this.ui.more.hidden = !this.cursor;
  }
}
