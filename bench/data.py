"""Building the data sets with set-based SQL, into the real tables.

Appending millions of messages one call at a time would take longer than every benchmark
together, so the loader writes the rows the triggers would have written with a few
``insert ... select`` over ``generate_series`` (one session per core):
``session_replication_role = replica`` switches the triggers off for the loader's sessions
only, and the loader fills in what they maintain (``last_seq``, ``message_count``,
the totals of ``private.conversation_totals``) itself, then checks it against the rows.
Tables, constraints and indexes stay exactly as the migrations made them.

Messages are inserted round by round (every conversation's first message, then every second
one...), the order in which a busy store receives them, so a conversation's messages are
spread over the table as in production rather than packed in a few pages (which is also
what the planner sees: a low correlation between the table order and the conversation id).

Conversation ids are ``conv-<n>``; each group owns a range of ``n`` the pgbench scripts pick
from with ``-D first=... -D last=...``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

__all__ = ["RECOUNT", "Group", "Layout", "drift", "load", "totals", "truncate", "vacuum"]

# Users owning the conversations: enough that per-user listings stay short.
USERS = 10_000

_CONVERSATIONS = """
insert into public.ai_conversations
  (conversation_id, user_id, metadata, ttl_hours, message_count, last_seq, tokens_appended,
   created_at, updated_at, expires_at)
select 'conv-' || g,
       md5((g %% %(users)s)::text)::uuid,
       jsonb_build_object('source', 'bench', 'group', %(group)s::text),
       24,
       %(messages)s,
       %(messages)s,
       ((%(messages)s + 1) / 2) * %(user_tokens)s + (%(messages)s / 2) * %(assistant_tokens)s,
       e.expires_at - interval '24 hours' - %(messages)s * interval '1 minute',
       e.expires_at - interval '24 hours',
       e.expires_at
  from generate_series(%(first)s::bigint, %(last)s::bigint) g,
       -- Expired ones ended within the last hour (what an hourly cleanup finds); live ones
       -- have most of their 24 hours left.
       lateral (select case when %(expired)s
                            then now() - interval '1 second' - (g %% 3600) * interval '1 second'
                            else now() + interval '23 hours' - (g %% 3600) * interval '1 second'
                       end as expires_at) e
"""

# The lateral reference to s makes every conversation's message s come before any message s+1.
# Every user message has the same length (numbers padded), so its token count is one constant
# and the running sum the trigger would keep (tokens_before) has a closed form.
_CONTENT = (
    "'message ' || lpad(s::text, 6, '0') || ' of conversation ' || lpad(g::text, 8, '0') || ': '"
    " || repeat('lorem ipsum dolor sit amet ', 4)"
)
_REPLY_METADATA = '{"model": "bench-model", "tokens": 42, "duration_ms": 800}'
# The two counts, from the function the trigger uses (constant text: no injection).
TOKENS = (
    f"select private.message_tokens('user', {_CONTENT}, '{{}}'),"  # noqa: S608
    f" private.message_tokens('assistant', 'x', '{_REPLY_METADATA}') from (select 1 as s, 1 as g) x"
)
_MESSAGES = f"""
insert into public.ai_conversation_messages
  (conversation_id, seq, role, content, metadata, user_id, created_at, tokens, tokens_before)
select 'conv-' || g,
       s,
       case when s %% 2 = 1 then 'user' else 'assistant' end,
       {_CONTENT},
       case when s %% 2 = 1 then '{{}}'::jsonb else '{_REPLY_METADATA}'::jsonb end,
       md5((g %% %(users)s)::text)::uuid,  -- the owner, as the append trigger copies it
       now() - interval '1 day' + s * interval '1 minute',
       case when s %% 2 = 1 then %(user_tokens)s else %(assistant_tokens)s end,
       (s / 2) * %(user_tokens)s + ((s - 1) / 2) * %(assistant_tokens)s
  from generate_series(1, %(messages)s) s,
       lateral generate_series(%(first)s::bigint + 0 * s, %(last)s::bigint) g
"""  # noqa: S608 - constant text

# What private.recount_totals() does after a TRUNCATE: everything in slot 0. Also needed after
# anything that wrote rows with the triggers off (the raw-SQL ceilings of benchmark 1).
RECOUNT = """
update private.conversation_totals t set conversations = 0, messages = 0;
update private.conversation_totals t
   set conversations = (select count(*) from public.ai_conversations),
       messages = (select count(*) from public.ai_conversation_messages)
 where t.slot = 0;
"""


@dataclass(frozen=True)
class Group:
    """``count`` conversations ``conv-<first>``..``conv-<last>`` with ``messages`` messages each."""

    name: str
    first: int
    count: int
    messages: int
    expired: bool = False

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    @property
    def total_messages(self) -> int:
        return self.count * self.messages

    def split(self, parts: int) -> list[Group]:
        """The group as up to ``parts`` groups of consecutive ids (for parallel loading)."""
        size = -(-self.count // parts)
        return [
            Group(self.name, first, min(size, self.last - first + 1), self.messages, self.expired)
            for first in range(self.first, self.last + 1, size)
        ]

    def defines(self) -> dict[str, int]:
        """The pgbench ``-D`` variables that make a script pick one of this group's conversations."""
        return {"first": self.first, "last": self.last}


class Layout:
    """Hands out non-overlapping id ranges, so groups of several loads never clash."""

    def __init__(self) -> None:
        self._next = 1

    def group(self, name: str, count: int, messages: int, *, expired: bool = False) -> Group:
        group = Group(name, self._next, max(1, count), messages, expired)
        self._next = group.last + 1
        return group


def truncate(url: str) -> None:
    """Empties both tables, and the turns (with their streams) that reference conversations (the
    truncate triggers reset the totals)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "truncate public.ai_conversation_messages, public.ai_turn_events, public.ai_turns,"
            " public.ai_conversations"
        )


def _insert(url: str, groups: Sequence[Group]) -> None:
    """One loader session: its share of every group, in one transaction."""
    with psycopg.connect(url) as conn:
        row = conn.execute(TOKENS).fetchone()
        assert row is not None
        user_tokens, assistant_tokens = int(row[0]), int(row[1])
        conn.execute("set session_replication_role = replica")
        # Only this session: losing the load in a crash costs nothing, waiting on WAL flushes does.
        conn.execute("set synchronous_commit = off")
        for group in groups:
            params = {
                "users": USERS,
                "group": group.name,
                "messages": group.messages,
                "first": group.first,
                "last": group.last,
                "expired": group.expired,
                "user_tokens": user_tokens,
                "assistant_tokens": assistant_tokens,
            }
            conn.execute(_CONVERSATIONS, params)
            if group.messages:
                conn.execute(_MESSAGES, params)


def load(url: str, groups: Sequence[Group]) -> float:
    """Inserts the groups with triggers off, one session per core; returns the seconds it took.

    A single insert keeps one core busy (index maintenance and the constraint checks are
    CPU-bound), so every group is split in as many id ranges as there are cores.
    """
    started = time.monotonic()
    sessions = max(1, min(os.cpu_count() or 1, 4))
    shares: list[list[Group]] = [[] for _ in range(sessions)]
    for group in groups:
        for i, part in enumerate(group.split(sessions)):
            shares[i].append(part)
    with ThreadPoolExecutor(sessions) as pool:
        # list() re-raises the first loader error here.
        list(pool.map(lambda share: _insert(url, share), [s for s in shares if s]))
    with psycopg.connect(url) as conn:
        conn.execute(RECOUNT)
    vacuum(url)
    _check(url)
    return time.monotonic() - started


def vacuum(url: str) -> None:
    """VACUUM ANALYZE and a checkpoint, so no benchmark pays for the previous step's writes."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set maintenance_work_mem = '512MB'")
        conn.execute("vacuum (analyze) public.ai_conversations, public.ai_conversation_messages")
        conn.execute("checkpoint")


def totals(url: str) -> tuple[int, int]:
    """(conversations, messages) as ``conversation_stats()`` reports them."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (s ->> 'total_conversations')::bigint, (s ->> 'total_messages')::bigint"
            "  from public.conversation_stats() s"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def drift(url: str) -> tuple[int, int]:
    """(conversations, messages) that ``conversation_stats()`` reports minus the rows stored.

    Anything but (0, 0) means the trigger-maintained totals went wrong under the workload.
    """
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from public.ai_conversations),"
            "       (select count(*) from public.ai_conversation_messages)"
        ).fetchone()
    assert row is not None
    conversations, messages = totals(url)
    return conversations - int(row[0]), messages - int(row[1])


def _check(url: str) -> None:
    """The loader must leave what the triggers would have: counters equal to the rows."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from public.ai_conversations),"
            "       (select count(*) from public.ai_conversation_messages),"
            "       (select coalesce(sum(message_count), 0) from public.ai_conversations),"
            "       (select count(*) from public.ai_conversations where last_seq <> message_count),"
            # What the trigger would have set, on a sample: the counts and the running sums.
            "       (select count(*) from (select * from public.ai_conversation_messages"
            "                               tablesample system (0.1)) m"
            "         where m.tokens <> private.message_tokens(m.role, m.content, m.metadata)"
            "            or m.tokens_before <> (select coalesce(sum(p.tokens), 0)"
            "                 from public.ai_conversation_messages p"
            "                where p.conversation_id = m.conversation_id and p.seq < m.seq))"
        ).fetchone()
    assert row is not None
    conversations, messages, counted, off, tokens_off = row
    off += tokens_off
    if (conversations, messages) != totals(url) or counted != messages or off:
        raise RuntimeError(
            f"data set inconsistent: {conversations} conversations, {messages} messages, "
            f"message_count sums to {counted}, {off} with last_seq <> message_count or token counts "
            "the trigger would not have set, "
            f"statistics say {totals(url)}"
        )
