// A reply's markdown as formatted text that can do nothing: model output is never put into the
// page as it came.
//
// marked (GitHub-flavoured markdown) writes the HTML, where HTML written in the message is shown
// as the text it is and an image becomes a link (the page loads nothing a message names). Then
// DOMPurify keeps only what markdown makes: no script, style, iframe, form or event handler;
// links only to http(s) and mailto, opening in a new tab with rel="noopener noreferrer"; and it
// hands back a DocumentFragment, so no string is ever assigned to innerHTML (the page's
// Content-Security-Policy enforces that with Trusted Types: only DOMPurify's policy may make
// HTML). Code blocks get their language and a Copy button.
//
// The libraries are served by the API from node_modules (/vendor/, see app/webclient.py). If
// they cannot be loaded (`make deps` not run), replies are shown as plain text, as safe as ever.

import { copyButton } from "./copy.js";
import { h } from "./dom.js";

const LIBRARIES = ["/vendor/marked/marked.esm.js", "/vendor/dompurify/purify.es.mjs"];

const TAGS = [
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
  "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "input",
];
const ATTRIBUTES = ["href", "title", "class", "align", "start", "type", "checked", "disabled"];
const SAFE_URL = /^(?:https?:|mailto:)/i;
const LANGUAGE_CLASS = /^language-[\w#+.-]{1,40}$/;

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** text -> a sanitised DocumentFragment, or null when the libraries are not there. */
async function loadRenderer() {
  let marked;
  let purify;
  try {
    const [markedModule, purifyModule] = await Promise.all(LIBRARIES.map((url) => import(url)));
    marked = new markedModule.Marked({ gfm: true, breaks: true, async: false });
    purify = purifyModule.default;
  } catch (error) {
    console.warn("markdown is shown as plain text: its libraries did not load", error);
    return null;
  }
  marked.use({
    renderer: {
      html: ({ text }) => escapeHtml(text),
      image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
    },
  });
  purify.addHook("afterSanitizeAttributes", (node) => {
    // A class says a code block's language, nothing else (no page style can be borrowed).
    if (node.hasAttribute("class") && !(node.nodeName === "CODE" && LANGUAGE_CLASS.test(node.getAttribute("class")))) {
      node.removeAttribute("class");
    }
    if (node.nodeName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
    if (node.nodeName === "INPUT") {
      // Only a task list's checkbox, which shows a state and takes none.
      if (node.getAttribute("type") === "checkbox") node.setAttribute("disabled", "");
      else node.remove();
    }
  });
  const config = {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ATTRIBUTES,
    ALLOWED_URI_REGEXP: SAFE_URL,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  return (text) => purify.sanitize(marked.parse(text), config);
}

const render = await loadRenderer();

/** Whether replies are formatted (false: the libraries are missing on the server). */
export const markdownAvailable = render !== null;

/** Wraps each code block with its language and a Copy button. */
function decorateCode(fragment) {
  for (const pre of fragment.querySelectorAll("pre")) {
    const code = pre.querySelector("code") ?? pre;
    const language = /^language-(.+)$/.exec(code.getAttribute("class") ?? "")?.[1] ?? "";
    const bar = h(
      "div",
      { class: "code-bar" },
      h("span", { class: "code-language" }, language || "code"),
      copyButton(() => code.textContent, { name: "Copy the code", select: code }),
    );
    const block = h("div", { class: "code-block" });
    pre.replaceWith(block);
    block.append(bar, pre);
  }
  return fragment;
}

/** `text` (markdown) as the children of a `.markdown` element: formatted when the libraries
 * loaded, else as plain text. */
export function markdownView(text, attributes = {}) {
  const element = h("div", { ...attributes, class: `${attributes.class ?? ""} markdown`.trim() });
  if (render) element.append(decorateCode(render(text)));
  else element.append(h("p", { class: "plain" }, text));
  return element;
}
