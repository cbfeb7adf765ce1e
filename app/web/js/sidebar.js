// The list of the caller's conversations, pinned first then most recently updated, paged with
// the API's keyset cursor; where the API has them, archived ones behind a toggle and a search
// box over every message (GET /search).

import { describe } from "./api.js";
import { conversationItem, h, searchHitItem } from "./views.js";

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
    this.open = null; // the open conversation, as last read
    this.archived = false;
    this.features = {};
    this.searchTimer = null;
    ui.create.addEventListener("click", () => events.onNew());
    ui.more.addEventListener("click", () => this.loadMore());
    ui.showArchived.addEventListener("change", () => {
      this.archived = ui.showArchived.checked;
      this.refresh();
    });
    ui.searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    ui.searchInput.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.search(), 300);
    });
  }

  setFeatures(features) {
    this.features = features;
    this.ui.searchForm.hidden = !features.search;
    this.ui.archivedToggle.hidden = !features.organise;
  }

  async search() {
    clearTimeout(this.searchTimer);
    const q = this.ui.searchInput.value.trim();
    const results = this.ui.results;
    if (!q) {
      results.hidden = true;
      this.ui.list.hidden = false;
      this.ui.more.hidden = !this.cursor;
      return;
    }
    try {
      const { hits } = await this.api.search(q);
      if (q !== this.ui.searchInput.value.trim()) return; // typed on meanwhile
      results.replaceChildren(
        ...(hits.length
          ? hits.map((hit) => searchHitItem(hit, { onOpen: (id) => this.events.onOpen(id) }))
          : [h("li", { class: "hint" }, `Nothing matches “${q}”.`)]),
      );
      results.hidden = false;
      this.ui.list.hidden = true;
      this.ui.more.hidden = true;
    } catch (error) {
      if (error?.status === 422) results.replaceChildren(h("li", { class: "hint" }, describe(error)));
      else this.events.onError(error);
    }
  }

  /** Shows a first page already read (the sign-in check reads one). */
  show(page) {
    this.conversations = page.conversations;
    this.cursor = page.next_cursor ?? null;
    this.keepOpen();
    this.render();
  }

  async refresh() {
    try {
      const limit = Math.max(PAGE, this.conversations.length);
      this.show(await this.api.listConversations({ limit, archived: this.archived }));
    } catch (error) {
      this.events.onError(error);
    }
  }

  async loadMore() {
    if (!this.cursor) return;
    try {
      const page = await this.api.listConversations({ limit: PAGE, cursor: this.cursor, archived: this.archived });
      const known = new Set(this.conversations.map((c) => c.conversation_id));
      this.conversations.push(...page.conversations.filter((c) => !known.has(c.conversation_id)));
      this.cursor = page.next_cursor ?? null;
      this.render();
    } catch (error) {
      this.events.onError(error);
    }
  }

  /** The open conversation is always listed, even when it is not on the pages read. */
  shown(conversation) {
    this.open = conversation;
    if (this.keepOpen()) this.render();
  }

  keepOpen() {
    const open = this.open;
    if (!open || open.conversation_id !== this.current || Boolean(open.archived) !== this.archived) return false;
    if (this.conversations.some((c) => c.conversation_id === open.conversation_id)) return false;
    this.conversations.unshift(open);
    return true;
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
    this.ui.empty.textContent = this.archived ? "No archived conversations." : "No conversations yet.";
    this.ui.more.hidden = !this.cursor || !this.ui.results.hidden;
  }
}
