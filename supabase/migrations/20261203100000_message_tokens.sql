-- Conversation storage, release 3, part 1: every message carries a token count.
--
-- tokens is set by the insert trigger whoever writes the row: the count the provider reported
-- when the metadata carries one (metadata.tokens as a number, as the seed stores it, or the
-- reply's metadata.tokens.completion, as /chat stores it), else an estimate computed here.
-- tokens_before is the running sum of the tokens of the conversation's earlier messages
-- (summaries excluded: they stand beside the history, not in it), kept on the conversation row
-- (tokens_appended) under the lock the append already takes. It makes "the newest messages that
-- fit in N tokens" one range condition, tokens_before >= total - N, on one index.
--
-- The estimate, chosen by measurement against o200k_base and cl100k_base (bench/tokens.py):
-- a quarter token per character of single-byte text, and about one per CJK character. The
-- bytes a character takes beyond the first tell the two apart without a regular expression:
-- a CJK character is 3 bytes (2 extra), so chars / 4 + extra * 3 / 8 gives 1 per CJK
-- character and 1/4 per ASCII one, in two O(1)/O(n) length calls.

create function private.estimate_tokens(p_text text)
returns integer
language sql
immutable
begin atomic
  select ceil((2 * char_length(p_text) + 3 * (octet_length(p_text) - char_length(p_text))) / 8.0)::integer;
end;
comment on function private.estimate_tokens(text) is
  'Estimated BPE tokens of a text: characters / 4, plus 3/8 per byte beyond the first of '
  'multi-byte characters (so a CJK character counts about 1). Inlined by the planner.';

-- Written with coalesce and boolean arithmetic, not CASE: see private.check_limit().
create function private.reported_tokens(p_role text, p_metadata jsonb)
returns integer
language sql
stable
begin atomic
  select floor(coalesce(
           jsonb_path_query_first(p_metadata,
             'strict $.tokens ? (@.type() == "number" && @ >= 0 && @ <= 1000000000)', '{}', true),
           jsonb_path_query_first(p_metadata,
             'strict $.tokens.completion ? (@.type() == "number" && @ >= 0 && @ <= 1000000000 && $role == "assistant")',
             jsonb_build_object('role', p_role), true))::numeric)::integer;
end;
comment on function private.reported_tokens(text, jsonb) is
  'The token count a provider reported, as the metadata carries it: tokens as a number (the seed''s '
  'shape, and a summary''s), or an assistant reply''s tokens.completion; null when there is none or '
  'it is not a count (outside 0..1e9). Inlined by the planner.';

create function private.message_tokens(p_role text, p_content text, p_metadata jsonb)
returns integer
language sql
stable
begin atomic
  -- At least 1: then tokens_before strictly grows with seq (summaries aside), and orders a
  -- conversation's messages exactly as seq does.
  select greatest(1, coalesce(
           private.reported_tokens(p_role, p_metadata),
           private.estimate_tokens(p_content)
             -- a tool result is sent with the call it answers, rebuilt from its args
             + (p_role = 'tool')::integer
               * coalesce(private.estimate_tokens((p_metadata -> 'args')::text), 0)));
end;
comment on function private.message_tokens(text, text, jsonb) is
  'A message''s token count: the reported one if any, else the estimate of its content (and, for a '
  'tool result, of the call''s arguments), at least 1. Stable, not immutable: jsonb_build_object '
  'is. Inlined by the planner.';

create function private.is_summary(p_role text, p_metadata jsonb)
returns boolean
language sql
immutable
begin atomic
  select p_role = 'system' and p_metadata @> '{"kind": "summary"}';
end;
comment on function private.is_summary(text, jsonb) is
  'A summary message: role system, metadata.kind "summary". Inlined by the planner.';

-- Columns ---------------------------------------------------------------------------------------
alter table public.ai_conversation_settings
  add column compaction_threshold_tokens integer not null default 4000
    check (compaction_threshold_tokens between 0 and 100000000);
comment on column public.ai_conversation_settings.compaction_threshold_tokens is
  'Tokens of history left out of a turn''s window and covered by no summary above which the turn '
  'reports compaction due (the service then stores a summary); 0: never.';
grant update (compaction_threshold_tokens) on public.ai_conversation_settings to service_role;

alter table public.ai_conversations
  add column tokens_appended bigint not null default 0 check (tokens_appended >= 0);
comment on column public.ai_conversations.tokens_appended is
  'Tokens of every message appended so far, summaries excluded (a clear does not subtract: like '
  'last_seq it only grows). The next message''s tokens_before.';

alter table public.ai_conversation_messages
  add column tokens integer not null default 1 check (tokens >= 1),
  add column tokens_before bigint not null default 0 check (tokens_before >= 0);
comment on column public.ai_conversation_messages.tokens is
  'Tokens of this message: the provider''s count when the metadata reports one, else an estimate '
  '(private.message_tokens). Set on insert.';
comment on column public.ai_conversation_messages.tokens_before is
  'Tokens of the conversation''s earlier messages, summaries excluded (a running sum set on insert): '
  'the messages after seq s hold tokens_appended - tokens_before(s) tokens.';

-- Backfill: messages are append-only, so the update trigger steps aside for this one statement.
alter table public.ai_conversation_messages disable trigger forbid_message_update;
update public.ai_conversation_messages m
   set tokens = t.tokens, tokens_before = t.tokens_before
  from (select x.id, x.tokens,
               coalesce(sum(x.tokens * (not x.summary)::integer) over (
                 partition by x.conversation_id order by x.seq
                 rows between unbounded preceding and 1 preceding), 0) as tokens_before
          from (select m2.id, m2.conversation_id, m2.seq,
                       private.message_tokens(m2.role, m2.content, m2.metadata) as tokens,
                       private.is_summary(m2.role, m2.metadata) as summary
                  from public.ai_conversation_messages m2) x) t
 where m.id = t.id;
alter table public.ai_conversation_messages enable trigger forbid_message_update;
-- A counter, not a change of the conversation: updated_at stays (its trigger steps aside too).
alter table public.ai_conversations disable trigger touch_conversation;
update public.ai_conversations c
   set tokens_appended = coalesce((
         select max(m.tokens_before + m.tokens * (not private.is_summary(m.role, m.metadata))::integer)
           from public.ai_conversation_messages m
          where m.conversation_id = c.conversation_id), 0)
 where exists (select 1 from public.ai_conversation_messages m where m.conversation_id = c.conversation_id);
alter table public.ai_conversations enable trigger touch_conversation;

-- The window's range: (conversation_id, tokens_before) orders a conversation like seq does.
create index ai_conversation_messages_tokens_before_idx
  on public.ai_conversation_messages (conversation_id, tokens_before);
-- The latest summary of a conversation, one probe (summaries are few: a tiny index).
create index ai_conversation_messages_summaries_idx
  on public.ai_conversation_messages (conversation_id, seq)
  where role = 'system' and metadata @> '{"kind": "summary"}';
comment on index public.ai_conversation_messages_tokens_before_idx is
  'Finds where a token-budgeted window starts: the oldest message with tokens_before >= a floor.';
comment on index public.ai_conversation_messages_summaries_idx is
  'The summaries of a conversation by seq (the latest one is what a window sends).';

-- A summary says which messages it stands for: covers = [first_seq, last_seq], all before it.
-- not valid: rows stored before this release are not judged by it, new ones are.
alter table public.ai_conversation_messages
  add constraint ai_conversation_messages_summary_covers check (
    not private.is_summary(role, metadata)
    or jsonb_path_exists(metadata,
         'strict $.covers ? (@.size() == 2 && @[0].type() == "number" && @[1].type() == "number"'
         ' && @[0] >= 1 && @[0] <= @[1] && @[1] < $seq)',
         jsonb_build_object('seq', seq), true)) not valid;
comment on constraint ai_conversation_messages_summary_covers on public.ai_conversation_messages is
  'A summary (role system, metadata.kind "summary") covers [first_seq, last_seq]: 1 <= first <= '
  'last < its own seq.';

-- The append trigger, now also counting tokens ----------------------------------------------------
-- private.before_message_insert(): defined once, with every rule of this release, in
-- 20261207100100_fork_keeps_seq.sql (the last migration that changes it).
