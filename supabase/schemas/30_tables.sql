-- The two tables of the data contract, their indexes, and the running totals.
--
-- Who may read and write them: 32_row_level_security.sql. The rules that hold whoever writes
-- the rows (ordering, sliding expiry, counters, sizes): 34_row_triggers.sql and 40_append.sql.

-- Conversations ---------------------------------------------------------------------------------
create table public.ai_conversations (
  id uuid primary key default gen_random_uuid(),
  conversation_id varchar(255) not null unique
    -- varchar(255) bounds the length; a bounded repetition ({1,255}) in the pattern would cost
    -- ~100 us on every insert and update of the row (checks run on each update).
    constraint ai_conversations_conversation_id_format check (conversation_id ~ '^[A-Za-z0-9_.:@-]+$'),
  user_id uuid,
  metadata jsonb not null default '{}'::jsonb
    constraint ai_conversations_metadata_object check (jsonb_typeof(metadata) = 'object'),
  ttl_hours integer not null
    constraint ai_conversations_ttl_hours_range check (ttl_hours between 1 and 87600),
  message_count integer not null default 0 check (message_count >= 0),
  last_seq bigint not null default 0 check (last_seq >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expires_at timestamptz not null,
  tokens_appended bigint not null default 0 check (tokens_appended >= 0),
  title text
    constraint ai_conversations_title_length check (char_length(title) between 1 and 200),
  archived boolean not null default false,
  pinned boolean not null default false,
  tags text[] not null default '{}'
    constraint ai_conversations_tags_valid check (private.tags_are_valid(tags)),
  legal_hold boolean not null default false,
  rated boolean not null default false,
  constraint ai_conversations_timestamps_in_range check (
    private.timestamp_in_range(created_at) and private.timestamp_in_range(updated_at)
    and private.timestamp_in_range(expires_at))
);
comment on table public.ai_conversations is
  'One row per AI conversation. Expired rows (expires_at <= now()) are invisible to every '
  'function and policy, and removed hourly by cleanup_expired_conversations().';
comment on column public.ai_conversations.conversation_id is
  'Public identifier: chosen by the service (letters, digits and _ . : @ -), or generated (a UUID; '
  'always for conversations users create).';
comment on column public.ai_conversations.user_id is 'Owning user (auth.uid()); NULL for anonymous conversations, visible to the service only.';
comment on column public.ai_conversations.ttl_hours is 'Sliding lifetime: every append moves expires_at to at least now() + ttl_hours.';
comment on column public.ai_conversations.message_count is 'Messages currently stored; maintained by triggers.';
comment on column public.ai_conversations.last_seq is 'Highest sequence number handed out; the next message gets last_seq + 1.';
comment on column public.ai_conversations.tokens_appended is
  'Tokens of every message appended so far, summaries excluded (a clear does not subtract: like '
  'last_seq it only grows). The next message''s tokens_before.';
comment on column public.ai_conversations.title is
  'Title (1 to 200 characters); when none is set, the first user message sets it (private.title_from_content).';
comment on column public.ai_conversations.archived is 'Hidden from listings unless asked for (archived = true).';
comment on column public.ai_conversations.pinned is 'Listed before the unpinned ones.';
comment on column public.ai_conversations.tags is 'Labels to filter by: at most 20, each 1 to 50 characters, no duplicates.';
comment on column public.ai_conversations.legal_hold is
  'Set and cleared by the service only: a held conversation never expires and is never deleted '
  '(not by its user, cleanup or erasure).';
comment on column public.ai_conversations.rated is
  'Someone has rated a message of this conversation (set by the first rating, never cleared): '
  'the message readers join ratings only then.';
comment on constraint ai_conversations_timestamps_in_range on public.ai_conversations is
  'created_at, updated_at and expires_at are finite, years 1 to 9999 (see private.timestamp_in_range).';

-- The ids "." and ".." are refused (URLs cannot address them). not valid: rows created before the
-- rule keep their id (declared so here too).
alter table public.ai_conversations
  add constraint ai_conversations_conversation_id_not_dot_segment
  check (conversation_id::text not in ('.', '..')) not valid;
comment on constraint ai_conversations_conversation_id_not_dot_segment on public.ai_conversations is
  'The ids "." and ".." are refused: URLs cannot address them (dot segments). Not valid: rows '
  'created before the rule keep their id.';

-- Cleanup finds the expired ones by expires_at.
create index ai_conversations_expires_at_idx
  on public.ai_conversations (expires_at);

-- The listing's order (pinned first, then most recently updated) as index order, for one user
-- and for the service's all-users listing.
create index ai_conversations_user_list_idx
  on public.ai_conversations (user_id, archived, pinned, updated_at, id);
create index ai_conversations_list_idx
  on public.ai_conversations (archived, pinned, updated_at, id);

-- Partial: every append updates its conversation (updated_at), and an untagged row then costs
-- this index nothing.
create index ai_conversations_tags_idx
  on public.ai_conversations using gin (tags) where tags <> '{}';

-- The conversations under legal hold are few: the delete guard on messages finds them here
-- (74_legal_hold.sql).
create index ai_conversations_held_idx on public.ai_conversations (conversation_id) where legal_hold;

-- Messages --------------------------------------------------------------------------------------
create table public.ai_conversation_messages (
  id uuid primary key default gen_random_uuid(),
  conversation_id varchar(255) not null
    references public.ai_conversations (conversation_id) on delete cascade,
  seq bigint not null,
  role text not null
    constraint ai_conversation_messages_role_check check (role in ('user', 'assistant', 'system', 'tool')),
  content text not null
    constraint ai_conversation_messages_content_not_empty check (content <> ''),
  metadata jsonb not null default '{}'::jsonb
    constraint ai_conversation_messages_metadata_object check (jsonb_typeof(metadata) = 'object'),
  idempotency_key varchar(255)
    constraint ai_conversation_messages_idempotency_key_not_empty check (idempotency_key <> ''),
  created_at timestamptz not null default now()
    constraint ai_conversation_messages_created_at_in_range check (private.timestamp_in_range(created_at)),
  tokens integer not null default 1 check (tokens >= 1),
  tokens_before bigint not null default 0 check (tokens_before >= 0),
  user_id uuid,
  constraint ai_conversation_messages_seq_unique unique (conversation_id, seq),
  constraint ai_conversation_messages_idempotency_unique unique (conversation_id, idempotency_key)
);

-- A summary says which messages it stands for: covers = [first_seq, last_seq], all before it.
-- not valid: rows stored before the second release are not judged by it, new ones are (declared so here
-- too: a database built from these files equals one built from the migrations).
alter table public.ai_conversation_messages
  add constraint ai_conversation_messages_summary_covers check (
    not private.is_summary(role, metadata)
    or jsonb_path_exists(metadata,
         'strict $.covers ? (@.size() == 2 && @[0].type() == "number" && @[1].type() == "number"'
         ' && @[0] >= 1 && @[0] <= @[1] && @[1] < $seq)',
         jsonb_build_object('seq', seq), true)) not valid;
comment on table public.ai_conversation_messages is
  'Messages of a conversation, numbered 1, 2, 3... per conversation in append order. Immutable: '
  'never updated; deletable (one by one, by clear or by response) by whoever may write the '
  'conversation, and a deleted seq is never reused. metadata carries model, tokens, duration_ms, '
  'tool_calls, and for items of the OpenAI-compatible API the object openai {type, ...}.';
comment on column public.ai_conversation_messages.seq is
  'Per-conversation sequence number assigned on insert: strictly increasing, never reused (a '
  'deleted message leaves a hole).';
comment on column public.ai_conversation_messages.idempotency_key is
  'Optional client key naming one message: a retried append with the same key, role and content '
  'returns the original; another role or content under it is refused (23505).';
comment on column public.ai_conversation_messages.tokens is
  'Tokens of this message: the provider''s count when the metadata reports one, else an estimate '
  '(private.message_tokens). Set on insert.';
comment on column public.ai_conversation_messages.tokens_before is
  'Tokens of the conversation''s earlier messages, summaries excluded (a running sum set on insert): '
  'the messages after seq s hold tokens_appended - tokens_before(s) tokens.';
comment on column public.ai_conversation_messages.user_id is
  'The conversation''s owner, copied by the append trigger (null: anonymous); scopes the search index to one user.';
comment on constraint ai_conversation_messages_seq_unique on public.ai_conversation_messages is
  'Orders a conversation, indexes the foreign key, and makes "the last N messages" an index range scan.';
comment on constraint ai_conversation_messages_created_at_in_range on public.ai_conversation_messages is
  'created_at is finite, years 1 to 9999 (see private.timestamp_in_range).';
comment on constraint ai_conversation_messages_summary_covers on public.ai_conversation_messages is
  'A summary (role system, metadata.kind "summary") covers [first_seq, last_seq]: 1 <= first <= '
  'last < its own seq.';

-- The window's range: (conversation_id, tokens_before) orders a conversation like seq does.
create index ai_conversation_messages_tokens_before_idx
  on public.ai_conversation_messages (conversation_id, tokens_before);
comment on index public.ai_conversation_messages_tokens_before_idx is
  'Finds where a token-budgeted window starts: the oldest message with tokens_before >= a floor.';
-- The latest summary of a conversation, one probe (summaries are few: a tiny index).
create index ai_conversation_messages_summaries_idx
  on public.ai_conversation_messages (conversation_id, seq)
  where role = 'system' and metadata @> '{"kind": "summary"}';
comment on index public.ai_conversation_messages_summaries_idx is
  'The summaries of a conversation by seq (the latest one is what a window sends).';

-- Full-text search, the owner first (btree_gin), so a user's search reads only that user's
-- posting list. The configuration follows ai_conversation_settings.search_config: changing it
-- rebuilds this index (62_search.sql), which is created with the default, 'simple'.
create index ai_conversation_messages_search_idx
  on public.ai_conversation_messages using gin (user_id, to_tsvector('simple'::regconfig, content));
comment on index public.ai_conversation_messages_search_idx is
  'Full-text search, owner first; its configuration follows ai_conversation_settings.search_config.';

-- A block range index: messages arrive in created_at order, so a date range over every user
-- (the usage report, the dashboard views) reads only the blocks of that range. Nearly free to
-- maintain on append.
create index ai_conversation_messages_created_brin
  on public.ai_conversation_messages using brin (created_at);

-- Totals ----------------------------------------------------------------------------------------
-- Totals for statistics without counting millions of rows: 64 slots spread the writes.
-- Inserts add to a random slot among 8..63; deletes subtract from the first free slot among
-- 0..7 (for update skip locked; a transaction reuses the slot it already holds), so a long
-- cleanup transaction holds one slot that appends never wait for. Writers pick one slot per
-- statement into a variable first: written inline as `where t.slot = random() ...`, random() is
-- drawn again for every row and the update hits 0, 1 or several slots, so the totals drift.
-- The 64 rows are data: the migration 20261126080100_tables.sql inserts them.
create table private.conversation_totals (
  slot smallint primary key check (slot between 0 and 63),
  conversations bigint not null default 0,
  messages bigint not null default 0
);
comment on table private.conversation_totals is
  'Running totals of conversations and messages, one row per slot so concurrent writers rarely meet.';
