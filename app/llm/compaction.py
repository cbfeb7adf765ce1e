"""Compaction: a summary of the history a turn's window left out, stored as a message.

The database decides everything but the model call: whether a summary is due (the turn's
`context.compaction`, when the history outside the window that no summary covers exceeds
`ai_conversation_settings.compaction_threshold_tokens`), what it is made of
(`get_summary_input`: the summary it extends and the messages after it) and how it is stored
(`append_summary`: a system message with `metadata.kind = "summary"` and the seqs it
`covers`, once per range). Raw messages are never changed: reads and exports show them all,
and the next windows send the summary in place of what it covers.

A summary never delays or fails a reply: `Compactor.schedule` runs it after the reply, in the
background, in a bounded set of tasks (one per conversation at a time; when the set is full,
none is started). A failure is logged; the summary is still due, so a later turn retries it.
"""

from __future__ import annotations

import asyncio
import logging

from app.llm.prompt import history_messages
from app.llm.provider import SUMMARY_INSTRUCTION, ChatMessage, CompletionRequest, Provider
from app.store.manager import ConversationManager
from app.store.models import AppendResult, Compaction

__all__ = ["MAX_TASKS", "Compactor", "summarize"]

log = logging.getLogger("app.llm.compaction")

# Summaries in flight per process; the ones not started are still due on the next turn.
MAX_TASKS = 4


async def summarize(
    store: ConversationManager, provider: Provider, conversation_id: str, compaction: Compaction
) -> AppendResult | None:
    """Ask the model for the summary that is due and store it (two store calls, one model
    call). None when nothing is left to summarize."""
    if compaction.first_seq is None or compaction.last_seq is None:
        return None
    source = await store.get_summary_input(conversation_id, compaction.first_seq, compaction.last_seq)
    if not source.messages:
        return None
    messages = [ChatMessage(role="system", content=SUMMARY_INSTRUCTION)]
    if source.summary is not None:
        messages.append(ChatMessage(role="system", content=source.summary.content))
    messages.extend(history_messages(source.messages))
    completion = await provider.complete(CompletionRequest(messages=messages))
    text = completion.content.strip()
    if not text:
        raise ValueError("the model returned an empty summary")
    return await store.append_summary(
        conversation_id,
        f"Summary of messages {source.first_seq}-{source.last_seq} of this conversation: {text}",
        source.first_seq,
        source.last_seq,
        model=completion.model or provider.model,
        tokens=completion.usage.completion_tokens or None,
    )


class Compactor:
    """The background summaries of one process, bounded (see the module docstring)."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self.max_tasks = max_tasks
        self._tasks: dict[str, asyncio.Task[AppendResult | None]] = {}

    @property
    def running(self) -> int:
        return len(self._tasks)

    def schedule(
        self, store: ConversationManager, provider: Provider, conversation_id: str, compaction: Compaction
    ) -> asyncio.Task[AppendResult | None] | None:
        """Start the summary in the background unless one runs for this conversation or the
        set is full; the task, or None."""
        if conversation_id in self._tasks or len(self._tasks) >= self.max_tasks:
            return None
        task = asyncio.create_task(summarize(store, provider, conversation_id, compaction))
        self._tasks[conversation_id] = task

        def done(t: asyncio.Task[AppendResult | None]) -> None:
            self._tasks.pop(conversation_id, None)
            if not t.cancelled() and t.exception() is not None:
                log.warning(
                    "summary of %s (seqs %s-%s) failed, retried on a later turn: %r",
                    conversation_id,
                    compaction.first_seq,
                    compaction.last_seq,
                    t.exception(),
                )

        task.add_done_callback(done)
        return task

    async def wait(self) -> None:
        """Until the summaries in flight are done (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the summaries in flight (at shutdown: they are still due afterwards)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
