// Who the page acts as, and how it signs in:
// - nobody signed in, on a server with API_AUTH=disabled (`make run`): the service;
// - an access token pasted in (a user's, such as one minted by `python -m app token`, or the
//   service key): kept in sessionStorage (this tab only, gone when it closes);
// - with a Supabase project configured (GET /web/config): email and password through
//   supabase-js Auth. The session is supabase-js's own (localStorage, refreshed before it
//   expires); every request asks it for the current access token.
// Tokens go in `Authorization: Bearer`, never in a URL.

import { loadSupabase } from "./supabase.js";

const KEY = "conversations.access_token";

export class Session {
  constructor() {
    this.auth = null; // supabase-js's auth client, once a project is configured
  }

  /** Signs in through this Supabase project from now on (`config`: GET /web/config's `supabase`). */
  async useSupabase({ url, anon_key: anonKey }) {
    const { createClient } = await loadSupabase();
    this.auth = createClient(url, anonKey, {
      auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
    }).auth;
  }

  /** The bearer token to send now, or null: a pasted one first, else the Supabase session's
   * (refreshed by supabase-js when it is about to expire). */
  async token() {
    const pasted = sessionStorage.getItem(KEY);
    if (pasted) return pasted;
    if (!this.auth) return null;
    const { data } = await this.auth.getSession();
    return data.session?.access_token ?? null;
  }

  useToken(token) {
    sessionStorage.setItem(KEY, token.trim().replace(/^Bearer\s+/i, ""));
  }

  /** Resolves once signed in; throws supabase-js's AuthError (its message says why) if not. */
  async signInWithPassword(email, password) {
    const { error } = await this.auth.signInWithPassword({ email, password });
    if (error) throw error;
  }

  async signOut() {
    sessionStorage.removeItem(KEY);
    if (!this.auth) return;
    // Everywhere (the refresh tokens are revoked); if Auth cannot be reached, this browser at least.
    const { error } = await this.auth.signOut();
    if (error) await this.auth.signOut({ scope: "local" });
  }

  /** Display only (the API verifies the token): whose it is and until when. */
  async describe() {
    const token = await this.token();
    if (!token) return "the service (authentication disabled on this server)";
    const claims = decodeClaims(token);
    if (!claims) return "a service key";
    const who = claims.email || claims.sub || claims.role || "a token";
    const until = claims.exp ? `, until ${new Date(claims.exp * 1000).toLocaleTimeString()}` : "";
    return claims.role === "service_role" ? `the service${until}` : `${who}${until}`;
  }
}

function decodeClaims(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}
