"""responses.compact: OpenAI's compaction, backed by the store's summaries.

OpenAI's `POST /v1/responses/compact` turns a long history into "the user messages, then one
compaction item" whose opaque `encrypted_content` the model reads back in place of the rest. Here
that item carries the summary the store's compaction makes (app.llm.compaction: the same
instruction, the same model), readable: `sc1.` and the summary text in base64url. It is only ever
a client's own history summarised for it, so there is nothing to hide from it; what matters is
that the item round-trips: sent back as input, it is read as the summary (a system message).

* `previous_response_id`: the history is stored, in that response's conversation: the summary
  covers its messages up to that response (get_summary_input, then append_summary: stored as the
  conversation's summary, which its later turns send in place of what it covers).
* `input`: the items given, summarised as they are; nothing is stored.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["SUMMARY_PREFIX", "read_summary", "write_summary"]

SUMMARY_PREFIX = "sc1."


def write_summary(text: str) -> str:
    """A summary as a compaction item's encrypted_content."""
    return SUMMARY_PREFIX + base64.urlsafe_b64encode(text.encode()).decode()


def read_summary(content: str) -> str | None:
    """The summary a compaction item of this API carries; None for anything else."""
    if not content.startswith(SUMMARY_PREFIX):
        return None
    try:
        text = base64.urlsafe_b64decode(content[len(SUMMARY_PREFIX) :].encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text or None
