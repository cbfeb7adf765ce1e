// The HTTP API as the page uses it: one method per route, the bearer token on every call,
// JSON bodies with their content type, and every failure turned into an ApiError (the API's
// {error, message, details} with its status) or a NetworkError (no answer at all).

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  static async from(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not the API's JSON (a proxy's page, say): the status says enough
    }
    return new ApiError(response.status, body?.error ?? null, body?.message ?? response.statusText, body?.details);
  }

  /** The `error` event of a chat stream carries the error body without a status. */
  static fromStreamError(body) {
    const status = body.error === "provider_timeout" ? 504 : body.error?.startsWith("provider_") ? 502 : 500;
    return new ApiError(status, body.error, body.message, body.details);
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super("the API could not be reached");
    this.name = "NetworkError";
    this.cause = cause;
  }
}

/** What went wrong, in words for the person at the keyboard. */
export function describe(error) {
  if (error instanceof NetworkError) {
    return "Cannot reach the API: check your connection, or whether the server is running.";
  }
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error?.message ?? error}`;
  switch (error.status) {
    case 401:
      return "You are signed out: the access token is missing, expired or not valid. Sign in again.";
    case 403:
      return `Not allowed: ${error.message}`;
    case 404:
      return "This conversation is not available: it expired, was deleted, or is not yours.";
    case 413:
      return "That is too long for the server to accept.";
    case 400:
    case 409:
    case 422:
      return `The server refused this: ${error.message}`;
    case 502:
      return `The model is unavailable right now (${error.message}). Your message is saved: try again.`;
    case 504:
      return "The model took too long to answer. Your message is saved: try again.";
    case 503:
      return "The database is unreachable for a moment. Try again in a few seconds.";
    default:
      return `Unexpected error (${error.status}): ${error.message}`;
  }
}

const path = (id) => `/conversations/${encodeURIComponent(id)}`;

export class Api {
  /** `token()` resolves to the bearer token to send, or null (API_AUTH=disabled). */
  constructor(token) {
    this.token = token;
  }

  async request(method, url, { body, headers = {}, signal, accept = "application/json" } = {}) {
    const sent = { Accept: accept, ...headers };
    const token = await this.token();
    if (token) sent.Authorization = `Bearer ${token}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      throw new NetworkError(error);
    }
    if (!response.ok) throw await ApiError.from(response);
    return response;
  }

  async json(method, url, options) {
    const response = await this.request(method, url, options);
    return response.status === 204 ? null : response.json();
  }

  listConversations({ limit = 20, cursor = null, archived = false } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    if (archived) query.set("archived", "true");
    return this.json("GET", `/conversations?${query}`);
  }

  // -- organise (features.organise, .search, .fork, .feedback) ----------------------------

  /** Changes only the fields given: {title, archived, pinned}. */
  update(id, fields) {
    return this.json("PATCH", path(id), { body: fields });
  }

  /** A new conversation holding copies of messages 1..atSeq. */
  fork(id, atSeq) {
    return this.json("POST", `${path(id)}/fork`, { body: { at_seq: atSeq } });
  }

  search(q, { limit = 20 } = {}) {
    return this.json("GET", `/search?${new URLSearchParams({ q, limit: String(limit) })}`);
  }

  /** rating 1 or -1; null withdraws it. */
  rate(id, seq, rating) {
    const url = `${path(id)}/messages/${seq}/feedback`;
    return rating === null ? this.json("DELETE", url) : this.json("PUT", url, { body: { rating } });
  }

  getConversation(id, { limit = 50, before = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before !== null) query.set("before", String(before));
    return this.json("GET", `${path(id)}?${query}`);
  }

  extend(id, hours = 24) {
    return this.json("POST", `${path(id)}/extend`, { body: { hours } });
  }

  clear(id) {
    return this.json("POST", `${path(id)}/clear`);
  }

  remove(id) {
    return this.json("DELETE", path(id));
  }

  /** The export document as a Blob, for a download. */
  async exportConversation(id) {
    const response = await this.request("GET", `${path(id)}/export`);
    return response.blob();
  }

  /** One chat turn answered as server-sent events; resolves once the user message is stored. */
  chatStream({ message, conversationId = null, idempotencyKey, regenerate = false }, signal) {
    const body = { message, stream: true, idempotency_key: idempotencyKey };
    if (regenerate) body.regenerate = true;
    if (conversationId) body.conversation_id = conversationId;
    return this.request("POST", "/chat", { body, signal, accept: "text/event-stream" });
  }

  /** A turn's stream after `lastSeq` (its events' ids are seqs): a reply picked up again. */
  turnEvents(turnId, lastSeq, signal) {
    return this.request("GET", `/turns/${encodeURIComponent(turnId)}/events`, {
      headers: { "Last-Event-ID": String(lastSeq) },
      signal,
      accept: "text/event-stream",
    });
  }

  /** Stops a turn wherever it runs; what was written is kept. Its stream ends with `stopped`. */
  stopTurn(turnId) {
    return this.json("POST", `/turns/${encodeURIComponent(turnId)}/stop`);
  }

  /** The live feed after `lastSeq` (LiveFeed's `open`). */
  events(id, lastSeq, signal) {
    return this.request("GET", `${path(id)}/events`, {
      headers: { "Last-Event-ID": String(lastSeq) },
      signal,
      accept: "text/event-stream",
    });
  }

  /** How this server signs users in: {supabase: {url, anon_key} | null, local_tokens}. */
  webConfig() {
    return this.json("GET", "/web/config");
  }

  /** The OpenAPI document: which routes this server has (see features.js). */
  schema() {
    return this.json("GET", "/schema/openapi.json");
  }
}
