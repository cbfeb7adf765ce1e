// Server-sent events read with fetch, for the two streams the page reads: the chat turn
// (POST /chat with "stream": true, which EventSource cannot send) and the live feed
// (GET /conversations/{id}/events, which needs the Authorization header EventSource cannot
// set). One parser for both; LiveFeed adds what EventSource would give (reconnect after the
// server's `retry:`, resume with Last-Event-ID) plus what it does not: backoff, a heartbeat
// watchdog, and dropping any message whose seq was already seen.

/** The stream's events, as the HTML standard's parser cuts them (event, data, id, retry,
 * comments), from a fetch Response body. Yields {type: "event", event, data, id},
 * {type: "retry", retry} and {type: "comment"}; ends when the body ends. */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let event = "";
  let lastId = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A chunk may end between the \r and \n of one line break: keep that \r for later.
      const end = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { type: "event", event: event || "message", data: data.join("\n"), id: lastId };
          data = [];
          event = "";
          continue;
        }
        if (line.startsWith(":")) {
          yield { type: "comment" };
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
        else if (field === "id" && !text.includes("\0")) lastId = text;
        else if (field === "retry" && /^\d+$/.test(text)) yield { type: "retry", retry: Number(text) };
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** The live messages of one conversation, kept flowing across disconnects.
 *
 * `open(lastSeq, signal)` starts one request (the API client's `events`), resolving to the
 * Response or throwing its ApiError / NetworkError. Each message reaches `onMessage` once,
 * in seq order: after a drop the feed reconnects with Last-Event-ID = the last seq seen and
 * the server replays what was missed. `onState("live" | "reconnecting")` follows the
 * connection; `onEnd(reason)` is called once when it stops for good: "gone" (expired or
 * deleted), or the ApiError that made retrying pointless (401, 403, 404).
 */
export class LiveFeed {
  constructor({ open, lastSeq = 0, onMessage, onState = () => {}, onEnd = () => {}, watchdogMs = 45000 }) {
    this.open = open;
    this.lastSeq = lastSeq;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onEnd = onEnd;
    this.watchdogMs = watchdogMs;
    this.retryMs = 2000;
    this.maxRetryMs = 10000;
    this.stopped = false;
    this.controller = null;
    this.wake = null;
    this.wakeOnline = () => this.wake?.();
  }

  start() {
    window.addEventListener("online", this.wakeOnline);
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wakeOnline);
    this.controller?.abort();
    this.wake?.();
  }

  async run() {
    let failures = 0;
    while (!this.stopped) {
      this.controller = new AbortController();
      let reconnectAtOnce = false;
      try {
        const response = await this.open(this.lastSeq, this.controller.signal);
        failures = 0;
        this.onState("live");
        const end = await this.consume(response.body, this.controller);
        if (end === "gone") return this.finish("gone");
        // Nothing is lost: resume where we were (after `expired`, with the session's token now:
        // a refreshed one goes on, an expired one ends in a 401).
        reconnectAtOnce = end === "overflow" || end === "expired";
      } catch (error) {
        if (this.stopped) return;
        if ([401, 403, 404].includes(error?.status)) return this.finish(error);
        failures += 1;
      }
      if (this.stopped) return;
      this.onState("reconnecting");
      if (!reconnectAtOnce) await this.sleep(Math.min(this.retryMs * Math.max(1, failures), this.maxRetryMs));
    }
  }

  /** Reads one connection; resolves with its end event's name, or null when it just ended. */
  async consume(body, controller) {
    let watchdog = null;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), this.watchdogMs);
    };
    feed();
    try {
      for await (const item of readEvents(body)) {
        feed();
        if (item.type === "retry") this.retryMs = item.retry;
        if (item.type !== "event") continue;
        if (item.event !== "message") return item.event; // overflow | gone | shutdown | expired
        const message = JSON.parse(item.data);
        const seq = Number(item.id ?? message.seq);
        if (!(seq > this.lastSeq)) continue; // seen already
        this.lastSeq = seq;
        this.onMessage(message);
      }
      return null;
    } finally {
      clearTimeout(watchdog);
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  finish(reason) {
    this.stopped = true;
    window.removeEventListener("online", this.wakeOnline);
    this.onEnd(reason);
  }
}
