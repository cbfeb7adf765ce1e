-- Organising a history, part 3: the append trigger, with the two issue-12 changes marked
-- "issue 12" (both in statements it already runs: no extra statement on the append path):
-- the title from the first user message, set in the conversation UPDATE, and the owner copied
-- into the message for the search index. Otherwise as in release 2 (20261201100200).

create or replace function private.before_message_insert()
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
  -- The hot path: settings read inline, no call to a function with its own search_path (each
  -- costs a GUC save and restore); the helpers used below are inlined or on failing branches.
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
         expires_at = greatest(c.expires_at, now() + make_interval(hours => c.ttl_hours)),
         -- issue 12 (titles): a conversation without a title takes it from its first user
         -- message; computed only while the title is null (an inlined expression, no call).
         title = coalesce(c.title, case when new.role = 'user' then private.title_from_content(new.content) end)
   where c.conversation_id = new.conversation_id
     and c.expires_at > now()
  returning c.last_seq, c.user_id into v_seq, v_user;
  -- As the owner this function bypasses RLS, so it applies the policies' ownership rule itself
  -- (inlined: no call on the hot path). coalesce: a null owner or caller is never a match.
  if not found
     or (v_role in ('anon', 'authenticated') and not coalesce(private.is_owner(v_user, auth.uid()), false)) then
    perform private.not_found(new.conversation_id);
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
  new.user_id := v_user;  -- issue 12 (search): the owner, read by the UPDATE above, scopes the search index
  new.created_at := coalesce(new.created_at, now());
  return new;
end
$$;
