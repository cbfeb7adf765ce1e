// The reply this tab is waiting for in each conversation: its turn, how far its stream was read
// (the seq of the last event) and the text so far. Kept in sessionStorage, which a reload of the
// tab keeps and another tab does not share, so a reloaded page picks the reply up where it was
// (GET /turns/{id}/events after that seq) instead of losing it. Forgotten once the reply ends.

const key = (conversationId) => `reply-in-progress:${conversationId}`;

/** `{turnId, seq, content}` of the conversation's reply in progress, or null. */
export function pendingReply(conversationId) {
  try {
    const found = JSON.parse(sessionStorage.getItem(key(conversationId)) ?? "null");
    return typeof found?.turnId === "string" && Number.isInteger(found.seq) ? found : null;
  } catch {
    return null; // storage off (a privacy mode) or not ours: nothing to resume
  }
}

export function rememberReply(conversationId, { turnId, seq, content }) {
  try {
    sessionStorage.setItem(key(conversationId), JSON.stringify({ turnId, seq, content }));
  } catch {
    // storage full or off: the reply is still written here, only a reload loses it
  }
}

export function forgetReply(conversationId) {
  try {
    sessionStorage.removeItem(key(conversationId));
  } catch {
    // storage off: nothing was kept
  }
}
