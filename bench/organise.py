"""Benchmark O (issue 12): the search index's cost to appends, search and usage latency for one
user among many, and the plans of the listing filters.

The data set: one user (``TARGET``) with 1,000 conversations of 50 messages (50,000 messages),
among ``5M x BENCH_SCALE`` messages and ``1M x min(1, 5 x BENCH_SCALE)`` conversations (idle
ones are cheap to load, so BENCH_SCALE=0.2 has the full 1M) of 10,000 other users. In quick
mode below BENCH_SCALE=0.05 the target user has 200 conversations (10,000 messages), so the load
stays short; the report says which. Message text draws 12 words from a 10,000-word vocabulary,
skewed (word ``w<k>`` is rarer as k grows), so a search for a random word finds between a
handful and a few thousand of the user's messages, as real vocabularies do.

Goals, from the issue: appends with the search index at >= 0.85 of appends without it
(pgbench, alternating runs in the same session, the index dropped and rebuilt between them);
search p50 <= 30 ms. Usage p50 and the listing filters' plans are reported without a goal.
"""

from __future__ import annotations

import psycopg

from bench import data, pgbench
from bench.config import Config
from bench.latency import percentile
from bench.pgbench import Workload
from bench.report import Goal, Outcome, figure, fmt_ms, fmt_rate, line, section, verdict_line

__all__ = ["APPEND_GOAL", "SEARCH_GOAL", "run"]

APPEND_GOAL = Goal(">=", 0.85)
SEARCH_GOAL = Goal("<=", 30.0, " ms")
TARGET = "00000000-0000-4000-8000-0000000000aa"
INDEX = "public.ai_conversation_messages_search_idx"
CREATE_INDEX = (
    "set maintenance_work_mem = '256MB'; create index if not exists ai_conversation_messages_search_idx"
    " on public.ai_conversation_messages using gin (user_id, to_tsvector('simple'::regconfig, content))"
)

_CONVERSATIONS = """
insert into public.ai_conversations
  (conversation_id, user_id, metadata, ttl_hours, message_count, last_seq, tags, pinned,
   created_at, updated_at, expires_at)
select 'conv-' || g,
       case when %(target)s then %(user)s::uuid else md5((g %% 10000)::text)::uuid end,
       jsonb_build_object('source', 'bench', 'project', 'p' || (g %% 50)),
       24, %(messages)s, %(messages)s,
       case when g %% 10 = 0 then array['t' || (g %% 97)] else '{}' end,
       g %% 100 = 0,
       now() - interval '2 days', now() - (g %% 86400) * interval '1 second', now() + interval '23 hours'
  from generate_series(%(first)s::bigint, %(last)s::bigint) g
"""
# 12 words per message, word w<k> with k = 10000 * u^3 (u uniform): a few very common words,
# a long tail of rare ones. The "0 * s" keeps the word list per row (not one list for all).
_MESSAGES = """
insert into public.ai_conversation_messages
  (conversation_id, seq, role, content, metadata, user_id, created_at)
select 'conv-' || g, s,
       case when s %% 2 = 1 then 'user' else 'assistant' end,
       (select string_agg('w' || floor(10000 * power(random(), 3))::int, ' ')
          from generate_series(1, 12 + 0 * s + 0 * g)),
       case when s %% 2 = 1 then '{}'::jsonb
            else '{"model": "bench-model", "tokens": {"prompt": 420, "completion": 42}}'::jsonb end,
       case when %(target)s then %(user)s::uuid else md5((g %% 10000)::text)::uuid end,
       now() - interval '1 day' + s * interval '1 minute'
  from generate_series(1, %(messages)s) s,
       lateral generate_series(%(first)s::bigint + 0 * s, %(last)s::bigint) g
"""

# The statements the functions run, spelled out so EXPLAIN shows their plans.
EXPLAINS = {
    "list, one user (archived = false)": """select * from public.ai_conversations c
       where c.expires_at > now() and c.user_id = '{u}' and c.archived = false
       order by c.pinned desc, c.updated_at desc, c.id desc limit 21""",
    "list, one user, tag": """select * from public.ai_conversations c
       where c.expires_at > now() and c.user_id = '{u}' and c.archived = false
         and c.tags @> array['t7'] and c.tags <> '{{}}'
       order by c.pinned desc, c.updated_at desc, c.id desc limit 21""",
    "list, one user, metadata": """select * from public.ai_conversations c
       where c.expires_at > now() and c.user_id = '{u}' and c.archived = false
         and c.metadata @> '{{"project": "p7"}}'
       order by c.pinned desc, c.updated_at desc, c.id desc limit 21""",
    "list, all users, pinned": """select * from public.ai_conversations c
       where c.expires_at > now() and c.archived = false and c.pinned = true
       order by c.pinned desc, c.updated_at desc, c.id desc limit 21""",
    "list, all users, tag": """select * from public.ai_conversations c
       where c.expires_at > now() and c.archived = false
         and c.tags @> array['t7'] and c.tags <> '{{}}'
       order by c.pinned desc, c.updated_at desc, c.id desc limit 21""",
    "search, one user": """select m.id from public.ai_conversation_messages m
       join public.ai_conversations c on c.conversation_id = m.conversation_id
       where to_tsvector('simple'::regconfig, m.content) @@ websearch_to_tsquery('simple'::regconfig, 'w500')
         and c.expires_at > now() and m.user_id = '{u}' and c.user_id = '{u}'""",
    "usage, one user, a week (ledger)": """select * from public.ai_usage_daily u
       where u.user_id = '{u}' and u.day >= current_date - 7""",
    "usage, one user (messages since the roll-up)": """select count(*) from public.ai_conversation_messages m
       where m.created_at >= (select r.rolled_up_to from private.usage_rollup r) and m.user_id = '{u}'""",
}


def _load(url: str, config: Config) -> tuple[int, int, int]:
    """The data set; returns (target conversations, conversations, messages)."""
    target = 200 if config.quick and config.scale < 0.05 else 1000
    per = data.Layout()
    mine = per.group("target", target, 50)
    others_messages = max(0, round(5_000_000 * config.scale) - mine.total_messages)
    others = per.group("others", max(1, others_messages // 50), 50)
    # Idle conversations cost the load little: they reach 1M at BENCH_SCALE=0.2 already.
    conversations = round(1_000_000 * min(1.0, 5 * config.scale))
    idle = per.group("idle", max(1, conversations - mine.count - others.count), 0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute("set synchronous_commit = off")
        for group, is_target in ((mine, True), (others, False), (idle, False)):
            params = {
                "target": is_target,
                "user": TARGET,
                "messages": group.messages,
                "first": group.first,
                "last": group.last,
            }
            conn.execute(_CONVERSATIONS, params)
            if group.messages:
                conn.execute(_MESSAGES, params)
        conn.execute(data.RECOUNT)
        # What the minute's pg_cron job does: the loaded messages go into the usage ledger.
        conn.execute("select private.roll_up_usage()")
    data.vacuum(url)
    return mine.count, *data.totals(url)


def _plans(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for label, sql in EXPLAINS.items():
            rows = conn.execute("explain (analyze, costs off, timing off) " + sql.format(u=TARGET)).fetchall()
            keys = [r[0].strip() for r in rows if any(k in r[0] for k in ("Scan", "Index Cond", "Execution"))]
            line(f"{label}: " + " | ".join(keys[:4]))


def run(url: str, config: Config) -> list[Outcome]:
    section("O. organise and govern: search index cost, search, usage, listing plans")
    data.truncate(url)
    target, conversations, messages = _load(url, config)
    line(
        f"data: {conversations:,} conversations, {messages:,} messages; the target user has {target:,} "
        f"conversations, {target * 50:,} messages{' (quick mode: 200, not 1,000)' if target < 1000 else ''}"
    )
    _plans(url)
    outcomes: list[Outcome] = []

    searched, used, listed = (
        pgbench.run(
            url, script, clients=config.clients, threads=config.threads, duration=config.duration, log=True
        )
        for script in ("search_user.sql", "usage_user.sql", "list_user_tag.sql")
    )
    for name, measured, goal in (
        ("O search p50 (one user, RLS)", searched, SEARCH_GOAL),
        ("O usage p50 (a week, day x model)", used, None),
        ("O list by tag p50 (one user)", listed, None),
    ):
        p50 = percentile(measured.latencies_us, 50)
        p95 = percentile(measured.latencies_us, 95)
        figure(name[2:], f"p50 {fmt_ms(p50)}  p95 {fmt_ms(p95)}  {fmt_rate(measured.tps)}")
        outcomes.append(
            Outcome(
                name=name,
                figures=f"{fmt_rate(measured.tps)}, p95 {fmt_ms(p95)}",
                value=p50 / 1000,
                goal=goal,
                value_text=fmt_ms(p50),
            )
        )
        verdict_line(outcomes[-1])

    others = data.Group("others", target + 1, max(1, (messages - target * 50) // 50), 50)
    with_index, without_index = pgbench.measure(
        url,
        [
            Workload("append_function.sql", config.clients),
            Workload("append_function.sql", config.clients, before=f"drop index {INDEX}", after=CREATE_INDEX),
        ],
        threads=config.threads,
        duration=config.duration,
        defines=others.defines(),
    )
    figure("append with the search index", fmt_rate(with_index.tps))
    figure("append without it", fmt_rate(without_index.tps))
    outcomes.append(
        Outcome(
            name=f"O append with / without search index ({config.clients} cl.)",
            figures=f"{fmt_rate(with_index.tps)} vs {fmt_rate(without_index.tps)}",
            value=with_index.tps / without_index.tps,
            goal=APPEND_GOAL,
        )
    )
    verdict_line(outcomes[-1])
    return outcomes
