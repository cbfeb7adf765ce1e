// The page: signs in (or finds that the server needs no token), then wires the sidebar and
// the conversation pane to the address (`#/c/<conversation id>`), so a conversation has a
// link another tab can open. On a phone the sidebar is a drawer and the conversation's
// actions a menu (menus.js).

import { Api, describe } from "./api.js";
import { ConversationView } from "./conversation.js";
import { copyButton } from "./copy.js";
import { detectFeatures } from "./features.js";
import { markdownAvailable } from "./markdown.js";
import { Disclosure } from "./menus.js";
import { Session } from "./session.js";
import { Sidebar } from "./sidebar.js";

const $ = (id) => document.getElementById(id);

const session = new Session();
const api = new Api(() => session.token());

function showError(text) {
  $("banner-text").textContent = text;
  $("banner").hidden = !text;
}
$("banner-close").addEventListener("click", () => showError(""));
// Never a blank page: whatever escapes is said in words.
window.addEventListener("error", (event) => showError(describe(event.error ?? event.message)));
window.addEventListener("unhandledrejection", (event) => showError(describe(event.reason)));

const drawer = new Disclosure($("menu-toggle"), $("sidebar"), { backdrop: $("drawer-backdrop") });
new Disclosure($("actions-toggle"), $("actions"), { closeOnChoice: true }); // lives as long as the page

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
      drawer.close();
      location.hash = `#/c/${encodeURIComponent(id)}`;
    },
    onNew: () => {
      drawer.close();
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
    empty: $("empty-state"),
    emptyTitle: $("empty-title"),
    emptyText: $("empty-text"),
    suggestions: $("suggestions"),
    composer: $("composer"),
    input: $("composer-input"),
    send: $("send"),
    stop: $("stop"),
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

// -- signing in --------------------------------------------------------------------------

/** The sign-in screen for this server (GET /web/config): email and password when it names a
 * Supabase project, and always an access token, with the command that mints one locally. */
function prepareSignIn(config) {
  const withSupabase = Boolean(session.auth);
  $("password-form").hidden = !withSupabase;
  $("project-host").textContent = withSupabase ? new URL(config.supabase.url).host : "";
  $("token-heading").hidden = !withSupabase;
  // A user id of its own for each visitor: the command works as copied.
  const command = `.venv/bin/python -m app token --user ${crypto.randomUUID()}`;
  $("token-command").textContent = command;
  $("token-command-box").append(copyButton(() => command, { name: "Copy the command", select: $("token-command") }));
  $("token-command-note").textContent = config.local_tokens
    ? "This server verifies tokens signed with the Supabase CLI's local JWT secret, so the token it prints works here."
    : "This server has its own JWT secret: the command refuses unless given --force and run with the " +
      "server's settings (SUPABASE_JWT_SECRET), so ask its operator, or sign in through Supabase Auth.";
}

function showSignIn() {
  $("app").hidden = true;
  $("menu-toggle").hidden = true;
  $("sign-in").hidden = false;
  (session.auth ? $("email") : $("token")).focus();
}

async function signedOut(error) {
  conversation.close();
  showSignIn();
  $("identity").textContent = "";
  showError(error ? describe(error) : "");
}

/** Reads the first page of conversations: that also says whether a token is needed. */
async function start() {
  const features = detectFeatures(api);
  let page;
  try {
    page = await api.listConversations({ limit: 20 });
  } catch (error) {
    if (error?.status === 401) {
      showSignIn();
      if (await session.token()) showError(describe(error));
    } else {
      showError(describe(error));
      $("retry").hidden = false;
    }
    return;
  }
  const offered = await features;
  const signedIn = Boolean(await session.token());
  conversation.setFeatures(offered);
  sidebar.setFeatures(offered);
  showError(markdownAvailable ? "" : "Replies are shown as plain text: this server lacks the page's libraries (run `make deps` there).");
  $("retry").hidden = true;
  $("sign-in").hidden = true;
  $("identity").textContent = `Acting as ${await session.describe()}`;
  $("sign-out").hidden = !signedIn;
  $("use-token").hidden = signedIn;
  sidebar.show(page);
  $("app").hidden = false;
  $("menu-toggle").hidden = false;
  route(); // at once: nothing can be typed before the pane is set
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  session.useToken(token);
  $("token").value = "";
  start();
});
$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $("password-form").querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    await session.signInWithPassword($("email").value.trim(), $("password").value);
    $("password").value = "";
    await start();
  } catch (error) {
    showError(`Not signed in: ${error?.message ?? error}`);
  } finally {
    submit.disabled = false;
  }
});
$("sign-out").addEventListener("click", async () => {
  drawer.close();
  conversation.close();
  await session.signOut();
  start();
});
$("use-token").addEventListener("click", () => {
  drawer.close();
  $("sign-in").hidden = false;
  $("token").focus();
});
$("retry").addEventListener("click", () => start());

async function boot() {
  let config = { supabase: null, local_tokens: false };
  try {
    config = await api.webConfig();
  } catch {
    // an older server: token sign-in only
  }
  if (config.supabase) {
    try {
      await session.useSupabase(config.supabase);
    } catch (error) {
      showError(`Signing in with Supabase is unavailable: ${error.message}`);
    }
  }
  prepareSignIn(config);
  await start();
}

boot();
