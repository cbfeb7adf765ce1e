-- The legal hold. Only the service sets or clears ai_conversations.legal_hold (users hold no
-- column privilege on it, and update_conversation refuses them). A held conversation never
-- expires (its expires_at is pinned to the end of time while held, by private.touch_conversation
-- in 34_row_triggers.sql), and neither it nor its messages can be deleted, by anyone, until the
-- hold is cleared: not by its user, not by cleanup, not by erasure (which reports what it kept).
-- The dashboard's list: ai_conversation_legal_holds (85_dashboard_views.sql).

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
-- conversations are few and found through a partial index (ai_conversations_held_idx).
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
