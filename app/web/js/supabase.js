// supabase-js, loaded only when the server names a Supabase project to sign in with (GET
// /web/config). The API serves its UMD browser bundle from node_modules (see app/webclient.py:
// its ES build needs a bundler); the bundle defines the global `supabase`.
//
// The page requires Trusted Types, so a script's URL must come from a policy: this one allows
// exactly that file and nothing else.

const URL_OF_SUPABASE_JS = "/vendor/supabase-js/supabase.js";

let loading = null;

function scriptUrl() {
  if (!globalThis.trustedTypes) return URL_OF_SUPABASE_JS;
  const policy = trustedTypes.createPolicy("supabase-js", {
    createScriptURL: (url) => {
      if (url !== URL_OF_SUPABASE_JS) throw new TypeError(`not a script of this page: ${url}`);
      return url;
    },
  });
  return policy.createScriptURL(URL_OF_SUPABASE_JS);
}

/** Resolves to supabase-js (`{ createClient, ... }`), loading it once. */
export function loadSupabase() {
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.addEventListener("load", () =>
      globalThis.supabase?.createClient ? resolve(globalThis.supabase) : reject(new Error("supabase-js did not load")),
    );
    script.addEventListener("error", () =>
      reject(new Error("supabase-js is missing on the server (run `make deps` there)")),
    );
    script.src = scriptUrl();
    document.head.append(script);
  });
  return loading;
}
