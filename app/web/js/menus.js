// The phone layout's two disclosures: the conversation list as a drawer that the menu button
// opens over the conversation, and the conversation's actions behind a "⋯" button. On a wide
// screen style.css shows both panels in place and hides their buttons, so this state is moot.

const FOCUSABLE = "button:not([disabled]):not([hidden]), input:not([disabled]), a[href]";

export class Disclosure {
  /** `button` (aria-controls = `panel`'s id) opens and closes `panel`. It closes on Escape (focus
   * back on the button), on a click outside it or on `backdrop`, and when `closeOnChoice` and
   * one of its buttons is chosen. */
  constructor(button, panel, { backdrop = null, closeOnChoice = false } = {}) {
    this.button = button;
    this.panel = panel;
    this.backdrop = backdrop;
    button.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    backdrop?.addEventListener("click", () => this.close());
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.isOpen) return;
      this.close();
      button.focus();
    });
    document.addEventListener("click", (event) => {
      if (this.isOpen && !panel.contains(event.target) && !button.contains(event.target)) this.close();
    });
    if (closeOnChoice) {
      panel.addEventListener("click", (event) => {
        if (event.target.closest("button")) this.close();
      });
    }
  }

  get isOpen() {
    return this.button.getAttribute("aria-expanded") === "true";
  }

  open() {
    this.button.setAttribute("aria-expanded", "true");
    this.panel.dataset.open = "true";
    if (this.backdrop) this.backdrop.hidden = false;
    this.panel.querySelector(FOCUSABLE)?.focus();
  }

  close() {
    if (!this.isOpen) return;
    this.button.setAttribute("aria-expanded", "false");
    delete this.panel.dataset.open;
    if (this.backdrop) this.backdrop.hidden = true;
  }
}
