-- Governing a history, part 3: the legal hold. Only the service sets or clears
-- ai_conversations.legal_hold (users hold no column privilege on it, and update_conversation
-- refuses them). A held conversation never expires (its expires_at is pinned to the end of
-- time while held), and neither it nor its messages can be deleted, by anyone, until the hold
-- is cleared: not by its user, not by cleanup, not by erasure (which reports what it kept).

-- While held, expires_at reads 9999-12-31 23:59:59 UTC (not 'infinity', which JSON clients
-- cannot parse as a date); releasing the hold restarts the conversation's TTL from now.
create function private.held_until()
returns timestamptz
language sql
immutable
begin atomic
  select timestamptz '9999-12-31 23:59:59+00';
end;
comment on function private.held_until() is 'The expires_at of a conversation under legal hold. Inlined by the planner.';

-- Redefined from release 1 (20261126080100): the hold's expiry, and the metadata size limit on
-- updates as well as inserts. Still skipped by the append's own update (pg_trigger_depth() = 0).
create or replace function private.touch_conversation()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.ai_conversation_settings := private.settings();
begin
  new.updated_at := now();
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
  'Maintains updated_at, keeps expires_at within the configured maximum lifetime (pinned to '
  'private.held_until() under legal hold), and checks the metadata size on updates.';

create function private.forbid_held_delete()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'conversation % is under legal hold', old.conversation_id using errcode = '42501';
end
$$;
comment on function private.forbid_held_delete() is 'Rejects deleting a conversation under legal hold.';
create trigger forbid_held_delete before delete on public.ai_conversations
  for each row when (old.legal_hold) execute function private.forbid_held_delete();

-- Messages of a held conversation stay too (clear, direct deletes). Per statement; the held
-- conversations are few and found through a partial index.
create index ai_conversations_held_idx on public.ai_conversations (conversation_id) where legal_hold;

create function private.forbid_held_messages_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_held text;
begin
  select c.conversation_id into v_held from public.ai_conversations c
   where c.legal_hold and exists (select 1 from old_rows o where o.conversation_id = c.conversation_id)
   limit 1;
  if v_held is not null then
    raise exception 'conversation % is under legal hold', v_held using errcode = '42501';
  end if;
  return null;
end
$$;
comment on function private.forbid_held_messages_delete() is
  'Rejects a statement that deletes messages of a conversation under legal hold (security definer: '
  'it must see every held conversation, whoever deletes).';
create trigger forbid_held_messages_delete after delete on public.ai_conversation_messages
  referencing old table as old_rows
  for each statement execute function private.forbid_held_messages_delete();

-- Conversations held before this release: none (the column is new); expires_at follows from
-- the trigger whenever the flag is set.

create view public.ai_conversation_legal_holds with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.title, c.message_count, c.created_at, c.updated_at
    from public.ai_conversations c
   where c.legal_hold
   order by c.updated_at desc;
comment on view public.ai_conversation_legal_holds is 'Conversations under legal hold: kept past their TTL, cleanup and erasure.';

create view public.ai_conversation_titles with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.title, c.archived, c.pinned, c.tags, c.message_count,
         c.updated_at, c.expires_at <= now() as expired
    from public.ai_conversations c
   order by c.updated_at desc;
comment on view public.ai_conversation_titles is 'Conversations with their titles, flags and tags, most recently active first.';

revoke all on public.ai_conversation_legal_holds, public.ai_conversation_titles from public, anon, authenticated;
grant select on public.ai_conversation_legal_holds, public.ai_conversation_titles to service_role;
