-- The rules that hold whoever writes a conversation row (the API, PostgREST, the dashboard):
-- the id, defaults and limits of a new conversation, updated_at and the expiry bound on every
-- change, an owner that never changes, append-only messages, and the counters and totals on
-- insert, delete and truncate. The append itself (seq, tokens, sliding expiry): 40_append.sql.

-- Defaults, limits and the id of a new conversation -------------------------------------------
create function private.before_conversation_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.ai_conversation_settings := private.settings();
begin
  -- Users never choose an id. This trigger runs as the caller, so RLS shows it only its own live
  -- conversations: its own id is a plain 409, any other id the same 42501 whether it is taken
  -- or free, so the answer says nothing about other owners' ids.
  if current_setting('role') in ('anon', 'authenticated') and new.conversation_id is not null then
    if exists (select 1 from public.ai_conversations c where c.conversation_id = new.conversation_id) then
      raise exception 'conversation % already exists', new.conversation_id using errcode = '23505';
    end if;
    raise exception 'only the service chooses conversation ids; omit conversation_id to get a generated one'
      using errcode = '42501';
  end if;
  -- Held until commit: an erasure of the owner waits for this conversation, then erases it.
  if new.user_id is not null
     and not pg_try_advisory_xact_lock_shared(private.erasure_lock_space(), hashtext(new.user_id::text)) then
    perform private.refuse_write_during_erasure(new.user_id);
  end if;
  new.conversation_id := coalesce(new.conversation_id, gen_random_uuid()::text);
  new.ttl_hours := coalesce(new.ttl_hours, v_settings.ttl_hours);
  if new.ttl_hours > v_settings.max_ttl_hours then
    raise exception 'ttl_hours is %; the maximum is %', new.ttl_hours, v_settings.max_ttl_hours
      using errcode = '22023';
  end if;
  new.expires_at := coalesce(new.expires_at, now() + make_interval(hours => new.ttl_hours));
  if not private.metadata_fits(new.metadata, v_settings.max_metadata_bytes) then
    perform private.metadata_too_large(new.metadata, v_settings.max_metadata_bytes);
  end if;
  new.message_count := 0;
  new.last_seq := 0;
  return new;
end
$$;
comment on function private.before_conversation_insert() is
  'Refuses ids named by users (23505 for their own live one, 42501 otherwise), takes the owner''s '
  'erasure lock (shared, until commit; 55P03 while an erasure of the owner runs), generates the id, '
  'applies the TTL (at most max_ttl_hours) and checks the metadata size.';

create trigger before_conversation_insert before insert on public.ai_conversations
  for each row execute function private.before_conversation_insert();

-- updated_at, expiry bound and metadata size on every direct change of a conversation ----------
-- The append's own update of the counters sets updated_at itself and skips this trigger (see its
-- WHEN clause). While a conversation is under legal hold its expires_at is pinned to
-- private.held_until() (74_legal_hold.sql); releasing the hold restarts its TTL from now.
create function private.touch_conversation()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.ai_conversation_settings := private.settings();
begin
  -- An import restores the document's updated_at (checked there); every other change is now.
  if current_setting('private.copying_into', true) is distinct from new.conversation_id then
    new.updated_at := now();
  end if;
  if new.legal_hold then
    new.expires_at := private.held_until();
  elsif old.legal_hold then
    new.expires_at := now() + make_interval(hours => new.ttl_hours);
  elsif new.expires_at > old.expires_at
     and new.expires_at > now() + make_interval(hours => v_settings.max_ttl_hours) then
    raise exception 'expires_at may be at most % hours from now', v_settings.max_ttl_hours
      using errcode = '22023';
  end if;
  if new.metadata is distinct from old.metadata
     and not private.metadata_fits(new.metadata, v_settings.max_metadata_bytes) then
    perform private.metadata_too_large(new.metadata, v_settings.max_metadata_bytes);
  end if;
  return new;
end
$$;
comment on function private.touch_conversation() is
  'Maintains updated_at (an import''s own is kept: see private.copying_into), keeps expires_at within '
  'the configured maximum lifetime (pinned to private.held_until() under legal hold), and checks the '
  'metadata size on updates.';

create trigger touch_conversation before update on public.ai_conversations
  for each row when (pg_trigger_depth() = 0) execute function private.touch_conversation();

-- A conversation's owner is copied into its messages (the search index scopes by it): it never
-- changes after creation.
create function private.forbid_owner_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'a conversation''s user_id never changes' using errcode = '42501';
end
$$;
comment on function private.forbid_owner_change() is 'Rejects changing the owner of a conversation.';

create trigger forbid_owner_change before update of user_id on public.ai_conversations
  for each row when (new.user_id is distinct from old.user_id) execute function private.forbid_owner_change();

-- Messages are history: they never change after insert (they may be deleted).
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

-- Counters and totals ---------------------------------------------------------------------------
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

create trigger after_conversations_insert after insert on public.ai_conversations
  referencing new table as new_rows
  for each statement execute function private.after_conversations_change();
create trigger after_conversations_delete after delete on public.ai_conversations
  referencing old table as old_rows
  for each statement execute function private.after_conversations_change();

-- Every statement that deletes conversations (a delete, the hourly cleanup, an erasure) tells
-- logical decoding clients which rows it removed: one transactional message, prefix
-- 'ai_conversations.deleted', a JSON array of {row_id, conversation_id}. The API's live feed
-- (wal2json) carries it in commit order, before anything a later conversation of the same id
-- stores, so a stream of a removed row ends before the id can be reused under it. One message per
-- statement, not per row: a cleanup batch of 1,000 conversations costs one WAL record.
create function private.announce_conversations_deleted()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  perform pg_logical_emit_message(
    true,
    'ai_conversations.deleted',
    (select json_agg(json_build_object('row_id', o.id, 'conversation_id', o.conversation_id))::text
       from old_rows o));
  return null;
end
$$;
comment on function private.announce_conversations_deleted() is
  'Tells logical decoding clients (the API''s live feed) which conversation rows a statement deleted: '
  'one transactional message, prefix ai_conversations.deleted, a JSON array of {row_id, conversation_id}.';

create trigger announce_conversations_deleted after delete on public.ai_conversations
  referencing old table as old_rows
  for each statement execute function private.announce_conversations_deleted();

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

create trigger recount_after_truncate_conversations after truncate on public.ai_conversations
  for each statement execute function private.recount_totals();
create trigger recount_after_truncate_messages after truncate on public.ai_conversation_messages
  for each statement execute function private.recount_totals();
