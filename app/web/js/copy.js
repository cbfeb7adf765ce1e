// Copy buttons (code blocks, the token command): the text goes to the clipboard with
// navigator.clipboard; where the page may not write it (a plain-http origin other than
// localhost, a denied permission), the text is selected instead so Ctrl+C copies it.

import { h } from "./dom.js";

const SHOWN_MS = 2000;

/** A button that copies `text()`; `select`, the element showing that text, is selected when
 * the clipboard cannot be written. */
export function copyButton(text, { label = "Copy", name = "Copy to the clipboard", select = null } = {}) {
  const status = h("span", { class: "copy-label", "aria-live": "polite" }, label);
  const button = h("button", { type: "button", class: "copy", title: name, "aria-label": name }, status);
  let timer = null;
  const say = (words) => {
    status.textContent = words;
    clearTimeout(timer);
    timer = setTimeout(() => (status.textContent = label), SHOWN_MS);
  };
  button.addEventListener("click", async () => {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard here");
      await navigator.clipboard.writeText(text());
      button.dataset.copied = "true";
      say("Copied");
    } catch {
      if (select) window.getSelection()?.selectAllChildren(select);
      say(select ? "Press Ctrl+C" : "Copy failed");
    }
  });
  return button;
}
