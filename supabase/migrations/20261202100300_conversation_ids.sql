-- Conversation storage, release 3, part 4: who chooses a conversation id.
--
-- Ids are one namespace (conversation_id is unique across owners, the messages' foreign key),
-- so whether an id can be created is, for anyone who may choose one, an answer about everyone
-- else's ids. The service chooses any id (it sees every conversation anyway); a user gets a
-- generated one, and naming an id answers 409 only for its own live conversation and 42501 for
-- every other id, taken or free (the insert trigger holds the rule, so a direct insert through
-- PostgREST answers the same). Changed from the previous version: v_id is left null for the
-- trigger to generate, and only the service's ids are freed from expired rows.

create or replace function public.create_conversation(
  p_conversation_id text default null,
  p_user_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_ttl_hours integer default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_id text := p_conversation_id;  -- null: the insert trigger generates one
  v_user uuid := coalesce(p_user_id, auth.uid());
  v_row public.ai_conversations;
begin
  if auth.role() in ('anon', 'authenticated') and v_user is distinct from auth.uid() then
    raise exception 'a user may only create conversations for itself' using errcode = '42501';
  end if;
  if p_ttl_hours is not null and p_ttl_hours < 1 then
    raise exception 'ttl_hours must be at least 1' using errcode = '22023';
  end if;
  -- An expired conversation not yet cleaned up does not keep its id taken (ids users name are
  -- refused by the insert trigger, so they never purge anything).
  if v_id is not null and coalesce(auth.role(), '') not in ('anon', 'authenticated') then
    perform private.purge_expired_conversation(v_id);
  end if;
  begin
    insert into public.ai_conversations (conversation_id, user_id, metadata, ttl_hours)
    values (v_id, v_user, coalesce(p_metadata, '{}'::jsonb), p_ttl_hours)
    returning * into v_row;
  exception when unique_violation then
    raise exception 'conversation % already exists', v_id using errcode = '23505';
  end;
  return private.conversation_json(v_row);
end
$$;
comment on function public.create_conversation(text, uuid, jsonb, integer) is
  'Creates a conversation owned by p_user_id, or by the calling user. The service may choose the '
  'id (23505 if a live conversation has it); a user''s is generated (naming one: 23505 for its own '
  'live conversation, 42501 otherwise). TTL defaults to the settings value.';
