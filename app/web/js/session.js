// Who the page acts as. With API_AUTH=disabled (`make run`) requests without a token act as
// the service; otherwise the person pastes a Supabase access token, kept in sessionStorage
// (this tab only, gone when it closes) and sent as `Authorization: Bearer`, never in a URL.

const KEY = "conversations.access_token";

export class Session {
  get token() {
    return sessionStorage.getItem(KEY);
  }

  signIn(token) {
    sessionStorage.setItem(KEY, token.trim().replace(/^Bearer\s+/i, ""));
  }

  signOut() {
    sessionStorage.removeItem(KEY);
  }

  /** Display only (the API verifies the token): whose it is and until when. */
  describe() {
    const token = this.token;
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
