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
  v_max_ttl integer;
  v_max_messages integer;
  -- The caller's role as PostgREST (or the Postgres transport) set it with SET ROLE; a security
  -- definer function changes current_user, not this setting.
  v_role text := current_setting('role');
  v_user uuid;
  v_seq bigint;
  v_count integer;
  v_slot smallint := 8 + floor(random() * 56)::smallint;  -- one insert slot, drawn once
  v_tokens integer;
  v_counted integer;  -- what the message adds to the running sum: nothing for a summary
  v_appended bigint;
begin
  -- The hot path: settings read inline, no call to a function with its own search_path (each
  -- costs a GUC save and restore); the helpers used below are inlined or on failing branches.
  select s.max_content_chars, s.max_metadata_bytes, s.max_ttl_hours, s.max_messages_per_conversation
    into v_max_content, v_max_metadata, v_max_ttl, v_max_messages
    from public.ai_conversation_settings s where s.id;
  if octet_length(new.content) > v_max_content and char_length(new.content) > v_max_content then
    raise exception 'content is % characters; the limit is %', char_length(new.content), v_max_content
      using errcode = '22023';
  end if;
  if not private.metadata_fits(new.metadata, v_max_metadata) then
    perform private.metadata_too_large(new.metadata, v_max_metadata);
  end if;
  v_tokens := private.message_tokens(new.role, new.content, new.metadata);
  v_counted := v_tokens * (not private.is_summary(new.role, new.metadata))::integer;

  -- Lock the conversation row: appenders to one conversation queue here, which makes seq
  -- gapless, the running token sum exact, and lets a retried idempotency key see the first
  -- attempt once it committed. The sliding expiry never goes past the longest lifetime
  -- allowed (a conversation's ttl_hours may exceed a max_ttl_hours lowered since).
  update public.ai_conversations c
     set last_seq = c.last_seq + 1,
         message_count = c.message_count + 1,
         tokens_appended = c.tokens_appended + v_counted,
         updated_at = now(),
         expires_at = greatest(c.expires_at, now() + make_interval(hours => least(c.ttl_hours, v_max_ttl))),
         -- issue 12 (titles): a conversation without a title takes it from its first user
         -- message; computed only while the title is null (an inlined expression, no call).
         title = coalesce(c.title, case when new.role = 'user' then private.title_from_content(new.content) end)
   where c.conversation_id = new.conversation_id
     and c.expires_at > now()
  returning c.last_seq, c.user_id, c.message_count, c.tokens_appended into v_seq, v_user, v_count, v_appended;
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
    -- A replay: undo the counter bump (same row, same transaction) and skip the insert. A full
    -- conversation still answers a replay with the original.
    update public.ai_conversations c
       set last_seq = c.last_seq - 1, message_count = c.message_count - 1,
           tokens_appended = c.tokens_appended - v_counted
     where c.conversation_id = new.conversation_id;
    return null;
  end if;

  if v_count > v_max_messages then
    raise exception 'conversation % holds % messages, the most allowed', new.conversation_id, v_max_messages
      using errcode = '54000';
  end if;

  update private.conversation_totals t set messages = t.messages + 1
   where t.slot = v_slot;

  new.seq := v_seq;
  new.user_id := v_user;  -- issue 12 (search): the owner, read by the UPDATE above, scopes the search index
  new.tokens := v_tokens;
  new.tokens_before := v_appended - v_counted;
  new.created_at := coalesce(new.created_at, now());
  return new;
end
$$;
