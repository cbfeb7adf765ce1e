// The page: signs in (or finds that the server needs no token), then wires the sidebar and
// the conversation pane to the address (`#/c/<conversation id>`), so a conversation has a
// link another tab can open.

import { Api, describe } from "./api.js";
import { ConversationView } from "./conversation.js";
import { detectFeatures } from "./features.js";
import { Session } from "./session.js";
import { Sidebar } from "./sidebar.js";

const $ = (id) => document.getElementById(id);

const session = new Session();
const api = new Api(() => session.token);

function showError(text) {
  $("banner-text").textContent = text;
  $("banner").hidden = !text;
}
$("banner-close").addEventListener("click", () => showError(""));
// Never a blank page: whatever escapes is said in words.
window.addEventListener("error", (event) => showError(describe(event.error ?? event.message)));
window.addEventListener("unhandledrejection", (event) => showError(describe(event.reason)));

const linkedId = () => {
  const match = /^#\/c\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
};
const linkTo = (id) => {
  const hash = id ? `#/c/${encodeURIComponent(id)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
};

const sidebar = new Sidebar(
  api,
  {
    list: $("conversation-list"),
    more: $("more-conversations"),
    create: $("new-conversation"),
    empty: $("no-conversations"),
    results: $("search-results"),
    searchForm: $("search-form"),
    searchInput: $("search-input"),
    archivedToggle: $("archived-toggle"),
    showArchived: $("show-archived"),
  },
  {
    onOpen: (id) => {
      location.hash = `#/c/${encodeURIComponent(id)}`;
    },
    onNew: () => {
      linkTo(null);
      sidebar.setCurrent(null);
      conversation.startNew();
    },
    onError: (error) => (error?.status === 401 ? signedOut(error) : showError(describe(error))),
  },
);

const conversation = new ConversationView(
  api,
  {
    title: $("conversation-title"),
    info: $("conversation-info"),
    live: $("live-status"),
    notice: $("notice"),
    messages: $("messages"),
    older: $("older"),
    composer: $("composer"),
    input: $("composer-input"),
    send: $("send"),
    extend: $("action-extend"),
    clear: $("action-clear"),
    export: $("action-export"),
    remove: $("action-delete"),
    rename: $("action-rename"),
    pin: $("action-pin"),
    archive: $("action-archive"),
    renameForm: $("rename-form"),
    renameInput: $("rename-input"),
    renameCancel: $("rename-cancel"),
  },
  {
    onNew: () => {
      linkTo(null);
      sidebar.setCurrent(null);
      conversation.startNew();
    },
    onNavigate: (id) => {
      location.hash = `#/c/${encodeURIComponent(id)}`;
    },
    onChanged: () => sidebar.refresh(),
    onShown: (shown) => sidebar.shown(shown),
    onAdopted: (id) => {
      linkTo(id);
      sidebar.setCurrent(id);
    },
    onDeleted: () => {
      linkTo(null);
      sidebar.setCurrent(null);
      sidebar.refresh();
      conversation.startNew();
    },
    onSignedOut: (error) => signedOut(error),
    showError,
  },
);

function route() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page link (the skip link)
  const id = linkedId();
  if (id === conversation.id && id !== null) return;
  sidebar.setCurrent(id);
  if (id) conversation.open(id);
  else conversation.startNew();
}
window.addEventListener("hashchange", route);

function signedOut(error) {
  conversation.close();
  $("app").hidden = true;
  $("sign-in").hidden = false;
  $("sign-out").hidden = !session.token;
  $("identity").textContent = "";
  showError(error ? describe(error) : "");
  $("token").focus();
}

/** Reads the first page of conversations: that also says whether a token is needed. */
async function start() {
  const features = detectFeatures(api);
  let page;
  try {
    page = await api.listConversations({ limit: 20 });
  } catch (error) {
    if (error?.status === 401) {
      $("app").hidden = true;
      $("sign-in").hidden = false;
      if (session.token) showError(describe(error));
      $("token").focus();
    } else {
      showError(describe(error));
      $("retry").hidden = false;
    }
    return;
  }
  const offered = await features;
  conversation.setFeatures(offered);
  sidebar.setFeatures(offered);
  showError("");
  $("retry").hidden = true;
  $("sign-in").hidden = true;
  $("identity").textContent = `Acting as ${session.describe()}`;
  $("sign-out").hidden = !session.token;
  $("use-token").hidden = Boolean(session.token);
  sidebar.show(page);
  $("app").hidden = false;
  route(); // at once: nothing can be typed before the pane is set
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  session.signIn(token);
  $("token").value = "";
  start();
});
$("sign-out").addEventListener("click", () => {
  session.signOut();
  conversation.close();
  start();
});
$("use-token").addEventListener("click", () => {
  $("sign-in").hidden = false;
  $("token").focus();
});
$("retry").addEventListener("click", () => start());

start();
