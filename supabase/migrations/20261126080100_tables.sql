-- Conversation storage, part 2: the two tables of the data contract, their indexes and the
-- triggers that keep the rules (ordering, sliding expiry, counters) whoever writes the rows.

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
  expires_at timestamptz not null
);
comment on table public.ai_conversations is
  'One row per AI conversation. Expired rows (expires_at <= now()) are invisible to every '
  'function and policy, and removed hourly by cleanup_expired_conversations().';
comment on column public.ai_conversations.conversation_id is 'Public identifier chosen by the caller (or generated): letters, digits and _ . : @ -.';
comment on column public.ai_conversations.user_id is 'Owning user (auth.uid()); NULL for anonymous conversations, visible to the service only.';
comment on column public.ai_conversations.ttl_hours is 'Sliding lifetime: every append moves expires_at to at least now() + ttl_hours.';
comment on column public.ai_conversations.message_count is 'Messages currently stored; maintained by triggers.';
comment on column public.ai_conversations.last_seq is 'Highest sequence number handed out; the next message gets last_seq + 1.';

create index ai_conversations_user_recent_idx
  on public.ai_conversations (user_id, updated_at, id);
create index ai_conversations_recent_idx
  on public.ai_conversations (updated_at, id);
create index ai_conversations_expires_at_idx
  on public.ai_conversations (expires_at);

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
  created_at timestamptz not null default now(),
  constraint ai_conversation_messages_seq_unique unique (conversation_id, seq),
  constraint ai_conversation_messages_idempotency_unique unique (conversation_id, idempotency_key)
);
comment on table public.ai_conversation_messages is
  'Messages of a conversation, append-only, numbered 1, 2, 3... per conversation without gaps. '
  'metadata carries model, tokens, duration_ms and tool_calls.';
comment on column public.ai_conversation_messages.seq is 'Per-conversation sequence number assigned on insert; strictly increasing, gapless.';
comment on column public.ai_conversation_messages.idempotency_key is 'Optional client key; a retried append with the same key returns the original message.';
comment on constraint ai_conversation_messages_seq_unique on public.ai_conversation_messages is
  'Orders a conversation, indexes the foreign key, and makes "the last N messages" an index range scan.';

-- Totals for statistics without counting millions of rows: 64 slots spread the writes.
-- Inserts add to a random slot among 8..63; deletes subtract from the first free slot among
-- 0..7 (for update skip locked; a transaction reuses the slot it already holds), so a long
-- cleanup transaction holds one slot that appends never wait for.
create table private.conversation_totals (
  slot smallint primary key check (slot between 0 and 63),
  conversations bigint not null default 0,
  messages bigint not null default 0
);
comment on table private.conversation_totals is
  'Running totals of conversations and messages, one row per slot so concurrent writers rarely meet.';
insert into private.conversation_totals (slot) select generate_series(0, 63);
-- Writers pick one slot per statement into a variable first: written inline as
-- `where t.slot = random() ...`, random() is drawn again for every row and the update hits
-- 0, 1 or several slots, so the totals drift.
revoke all on private.conversation_totals from public;
grant select on private.conversation_totals to service_role;

create function private.delete_slot()
returns smallint
language plpgsql
set search_path = ''
as $$
declare
  v_slot smallint;
begin
  select t.slot into v_slot from private.conversation_totals t
   where t.slot < 8 order by t.slot limit 1 for update skip locked;
  return coalesce(v_slot, floor(random() * 8)::smallint);  -- all busy: wait for one
end
$$;
comment on function private.delete_slot() is
  'The totals slot a delete subtracts from: the first among 0..7 not locked by another transaction.';
revoke all on function private.delete_slot() from public;

-- updated_at on every direct change of a conversation. The store's own trigger updates (the
-- append's counters) set updated_at themselves and skip this trigger (see its WHEN clause).
create function private.touch_conversation()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  if new.expires_at > old.expires_at
     and new.expires_at > now() + make_interval(hours => (private.settings()).max_ttl_hours) then
    raise exception 'expires_at may be at most % hours from now', (private.settings()).max_ttl_hours
      using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.touch_conversation() is
  'Maintains updated_at and keeps expires_at within the configured maximum lifetime.';

create trigger touch_conversation before update on public.ai_conversations
  for each row when (pg_trigger_depth() = 0) execute function private.touch_conversation();

-- Defaults and limits for a new conversation, whoever inserts it.
create function private.before_conversation_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.ai_conversation_settings := private.settings();
begin
  new.ttl_hours := coalesce(new.ttl_hours, v_settings.ttl_hours);
  if new.ttl_hours > v_settings.max_ttl_hours then
    raise exception 'ttl_hours is %; the maximum is %', new.ttl_hours, v_settings.max_ttl_hours
      using errcode = '22023';
  end if;
  new.expires_at := coalesce(new.expires_at, now() + make_interval(hours => new.ttl_hours));
  if octet_length(new.metadata::text) > v_settings.max_metadata_bytes then
    raise exception 'metadata is % bytes; the limit is %', octet_length(new.metadata::text), v_settings.max_metadata_bytes
      using errcode = '22023';
  end if;
  new.message_count := 0;
  new.last_seq := 0;
  return new;
end
$$;
comment on function private.before_conversation_insert() is
  'Applies the default TTL, sets expires_at and checks metadata size for new conversations.';

create trigger before_conversation_insert before insert on public.ai_conversations
  for each row execute function private.before_conversation_insert();

-- The ordered append. Runs as the table owner because it writes the counters that callers
-- may not write themselves; it checks visibility itself for user roles.
create function private.before_message_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_max_content integer;
  v_max_metadata integer;
  -- The caller's role as PostgREST (or the Postgres transport) set it with SET ROLE; a security
  -- definer function changes current_user, not this setting.
  v_role text := current_setting('role');
  v_user uuid;
  v_seq bigint;
  v_slot smallint := 8 + floor(random() * 56)::smallint;  -- one insert slot, drawn once
begin
  -- The hot path: no nested function calls, settings read inline (each call with its own
  -- search_path costs a GUC save and restore).
  select s.max_content_chars, s.max_metadata_bytes into v_max_content, v_max_metadata
    from public.ai_conversation_settings s where s.id;
  if octet_length(new.content) > v_max_content and char_length(new.content) > v_max_content then
    raise exception 'content is % characters; the limit is %', char_length(new.content), v_max_content
      using errcode = '22023';
  end if;
  if pg_column_size(new.metadata) > v_max_metadata then
    raise exception 'metadata is % bytes; the limit is %', pg_column_size(new.metadata), v_max_metadata
      using errcode = '22023';
  end if;

  -- Lock the conversation row: appenders to one conversation queue here, which makes seq
  -- gapless and lets a retried idempotency key see the first attempt once it committed.
  update public.ai_conversations c
     set last_seq = c.last_seq + 1,
         message_count = c.message_count + 1,
         updated_at = now(),
         expires_at = greatest(c.expires_at, now() + make_interval(hours => c.ttl_hours))
   where c.conversation_id = new.conversation_id
     and c.expires_at > now()
  returning c.last_seq, c.user_id into v_seq, v_user;
  if not found or (v_role in ('anon', 'authenticated') and v_user is distinct from auth.uid()) then
    raise exception 'conversation % not found or expired', new.conversation_id
      using errcode = 'P0002';
  end if;

  if new.idempotency_key is not null and exists (
    select 1 from public.ai_conversation_messages m
     where m.conversation_id = new.conversation_id and m.idempotency_key = new.idempotency_key
  ) then
    -- A replay: undo the counter bump (same row, same transaction) and skip the insert.
    update public.ai_conversations c
       set last_seq = c.last_seq - 1, message_count = c.message_count - 1
     where c.conversation_id = new.conversation_id;
    return null;
  end if;

  update private.conversation_totals t set messages = t.messages + 1
   where t.slot = v_slot;

  new.seq := v_seq;
  new.created_at := coalesce(new.created_at, now());
  return new;
end
$$;
comment on function private.before_message_insert() is
  'Assigns the next per-conversation seq under the conversation row lock, renews the sliding '
  'expiry, enforces size limits, and turns a replayed idempotency key into a no-op.';
revoke all on function private.before_message_insert() from public;

create trigger before_message_insert before insert on public.ai_conversation_messages
  for each row execute function private.before_message_insert();

-- Messages are history: they never change after insert.
create function private.forbid_message_update()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'messages are append-only' using errcode = '42501';
end
$$;
comment on function private.forbid_message_update() is 'Rejects updates of stored messages.';

create trigger forbid_message_update before update on public.ai_conversation_messages
  for each row execute function private.forbid_message_update();

-- Trigger functions are never called directly; nobody needs execute on them (firing a trigger
-- does not check it).
revoke all on function
  private.touch_conversation(), private.before_conversation_insert(), private.forbid_message_update()
from public;

-- Counters on delete, per statement, so a bulk delete costs one update, not one per row.
create function private.after_messages_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count bigint;
begin
  select count(*) into v_count from old_rows;
  if v_count = 0 then
    return null;
  end if;
  update private.conversation_totals t set messages = t.messages - v_count
   where t.slot = private.delete_slot();
  -- Live conversations keep their message_count; rows being deleted are already gone here.
  update public.ai_conversations c
     set message_count = c.message_count - d.n, updated_at = now()
    from (select o.conversation_id, count(*) as n from old_rows o group by o.conversation_id) d
   where c.conversation_id = d.conversation_id
     and c.expires_at > now();
  return null;
end
$$;
comment on function private.after_messages_delete() is
  'Keeps conversation_totals.messages and ai_conversations.message_count right after deletes.';
revoke all on function private.after_messages_delete() from public;

create trigger after_messages_delete after delete on public.ai_conversation_messages
  referencing old table as old_rows
  for each statement execute function private.after_messages_delete();

create function private.after_conversations_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count bigint;
  v_slot smallint;
begin
  if tg_op = 'INSERT' then
    select count(*) into v_count from new_rows;
    v_slot := 8 + floor(random() * 56)::smallint;
  else
    select -count(*) into v_count from old_rows;
    v_slot := case when v_count <> 0 then private.delete_slot() end;
  end if;
  if v_count <> 0 then
    update private.conversation_totals t set conversations = t.conversations + v_count
     where t.slot = v_slot;
  end if;
  return null;
end
$$;
comment on function private.after_conversations_change() is 'Keeps conversation_totals.conversations right.';
revoke all on function private.after_conversations_change() from public;

create trigger after_conversations_insert after insert on public.ai_conversations
  referencing new table as new_rows
  for each statement execute function private.after_conversations_change();
create trigger after_conversations_delete after delete on public.ai_conversations
  referencing old table as old_rows
  for each statement execute function private.after_conversations_change();

create function private.recount_totals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update private.conversation_totals t set conversations = 0, messages = 0;
  update private.conversation_totals t
     set conversations = (select count(*) from public.ai_conversations),
         messages = (select count(*) from public.ai_conversation_messages)
   where t.slot = 0;
  -- Truncating the messages alone leaves the conversations: they now hold none (last_seq stays,
  -- so sequence numbers are still never reused).
  if tg_table_name = 'ai_conversation_messages' then
    update public.ai_conversations c set message_count = 0, updated_at = now() where c.message_count <> 0;
  end if;
  return null;
end
$$;
comment on function private.recount_totals() is
  'Recomputes the totals, and the conversations'' message_count, after a TRUNCATE.';
revoke all on function private.recount_totals() from public;

create trigger recount_after_truncate_conversations after truncate on public.ai_conversations
  for each statement execute function private.recount_totals();
create trigger recount_after_truncate_messages after truncate on public.ai_conversation_messages
  for each statement execute function private.recount_totals();
