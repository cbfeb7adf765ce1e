// An assistant reply while it is written, then finished: the one place a streamed reply is
// rendered. A chat turn feeds it (ConversationView.send reads POST /chat's events); a reply
// picked up again after a reload, or regenerated, is fed the same way from wherever its stream
// starts (`replace` with what was written before, then `write` for what follows).
//
// It stays "pending" (see conversation.js) until the stored row arrives and takes its place.

import { fillMessage, messageView } from "./views.js";

const draft = (content, metadata = {}) => ({ role: "assistant", content, metadata });

export class ReplyView {
  constructor() {
    this.content = "";
    this.frame = null;
    this.element = messageView(draft(""), { pending: true });
    this.element.setAttribute("aria-busy", "true");
  }

  /** More of the reply's text. Rendered at most once per frame: a long reply's markdown is
   * parsed again per frame, not per token. */
  write(delta) {
    this.content += delta;
    this.frame ??= requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  /** The whole text so far (a stream joined midway starts with what was already written). */
  replace(content) {
    this.content = content;
    this.render();
  }

  render() {
    fillMessage(this.element, draft(this.content), { pending: true });
  }

  /** The reply is complete: its final text, metadata and context (the stored row follows). */
  finish({ content, metadata = {}, context = null }) {
    this.cancelFrame();
    this.content = content;
    fillMessage(this.element, draft(content, metadata), { pending: true, context });
    this.settle();
  }

  /** Nothing more will be written (finished, failed or left). */
  settle() {
    this.cancelFrame();
    this.element.removeAttribute("aria-busy");
  }

  remove() {
    this.settle();
    this.element.remove();
  }

  cancelFrame() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
  }
}
