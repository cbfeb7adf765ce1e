-- The ordered append: one message, the next seq, whoever inserts it.
--
-- The insert trigger locks the conversation row, so appenders to one conversation queue there:
-- that makes seq strictly increasing (a deleted message leaves a hole; a seq is never reused),
-- the running token sum exact, and lets a retried idempotency key see the first attempt once it
-- committed. Under the same lock it renews the sliding expiry (never past max_ttl_hours), counts
-- the message's tokens (22_message_tokens.sql), sets the title from the first user message
-- (60_organise.sql) and copies the owner for the search index, enforces the size limits and the
-- message cap, and turns a replayed idempotency key into a no-op.
--
-- A given seq is kept only for a fork's copies (64_fork.sql): private.copy_messages_for_fork
-- names the fork in the transaction-local setting private.fork_copy for its one INSERT ...
-- SELECT, and the trigger keeps a given seq only for rows of that conversation (any other given
-- seq is replaced by the next one: a service's direct insert still gets last_seq + 1). A kept seq
-- must be past last_seq, which then moves to it.
--
-- Runs as the table owner (security definer) because it writes the counters that callers may
-- not write themselves; it applies the policies' ownership rule itself for user roles.
create function private.before_message_insert()
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
  v_original_role text;
  v_original_content text;
begin
  -- A given seq is kept only for rows copied into the conversation named in private.copying_into
  -- (a fork's copies, an import); the test on the hot path is new.seq is not null, false for
  -- every append.
  if new.seq is not null and current_setting('private.copying_into', true) is distinct from new.conversation_id then
    new.seq := null;
  end if;
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
  -- strictly increasing, the running token sum exact, and lets a retried idempotency key see the
  -- first attempt once it committed. As the owner this function bypasses RLS, so the policies'
  -- ownership rule is part of the condition (inlined: no call on the hot path): a conversation
  -- the caller may not write matches no row, and is neither locked nor written (issue 22 item 10).
  -- The sliding expiry never goes past the longest lifetime allowed (a conversation's ttl_hours
  -- may exceed a max_ttl_hours lowered since). A kept seq (the fork's copies) moves last_seq to
  -- it; otherwise the next one is taken.
  update public.ai_conversations c
     set last_seq = greatest(c.last_seq + 1, new.seq),
         message_count = c.message_count + 1,
         tokens_appended = c.tokens_appended + v_counted,
         updated_at = now(),
         expires_at = greatest(c.expires_at, now() + make_interval(hours => least(c.ttl_hours, v_max_ttl))),
         -- issue 12 (titles): a conversation without a title takes it from its first user
         -- message; computed only while the title is null (an inlined expression, no call).
         title = coalesce(c.title, case when new.role = 'user' then private.title_from_content(new.content) end)
   where c.conversation_id = new.conversation_id
     and c.expires_at > now()
     and (v_role not in ('anon', 'authenticated') or private.is_owner(c.user_id, auth.uid()))
  returning c.last_seq, c.user_id, c.message_count, c.tokens_appended into v_seq, v_user, v_count, v_appended;
  if not found then
    perform private.not_found(new.conversation_id);
  end if;
  -- Held until commit: an erasure of the owner waits for this message, then erases it (item 6).
  if v_user is not null
     and not pg_try_advisory_xact_lock_shared(private.erasure_lock_space(), hashtext(v_user::text)) then
    perform private.refuse_write_during_erasure(v_user);
  end if;
  if new.seq <> v_seq then
    raise exception 'seq % of conversation % is not past its last seq %', new.seq, new.conversation_id, v_seq - 1
      using errcode = '22023';
  end if;

  if new.idempotency_key is not null then
    select m.role, m.content into v_original_role, v_original_content
      from public.ai_conversation_messages m
     where m.conversation_id = new.conversation_id and m.idempotency_key = new.idempotency_key;
    if found then
      -- A key names one message: another role or content is a key reused, not a retry (item 11);
      -- but a key the store derived for a model's output keeps its first message.
      if v_original_role is distinct from new.role
         or (v_original_content is distinct from new.content and not private.is_derived_key(new.idempotency_key)) then
        raise exception 'idempotency key % was already used for another message of conversation %',
                        new.idempotency_key, new.conversation_id
          using errcode = '23505',
                detail = 'A retry must carry the same role and content as the message first sent with the key.',
                hint = 'Send the original message again, or use a new idempotency key for a new message.';
      end if;
      -- A replay: undo the counter bump (same row, same transaction) and skip the insert. A full
      -- conversation still answers a replay with the original. A row with a given seq moved
      -- last_seq by more than one: no undo for it, refused (the fork copies no keys).
      if new.seq is not null then
        raise exception 'a message with a given seq cannot replay idempotency key %', new.idempotency_key
          using errcode = '22023';
      end if;
      update public.ai_conversations c
         set last_seq = c.last_seq - 1, message_count = c.message_count - 1,
             tokens_appended = c.tokens_appended - v_counted
       where c.conversation_id = new.conversation_id;
      return null;
    end if;
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
comment on function private.before_message_insert() is
  'Assigns the next per-conversation seq (or, for a fork''s copies only, keeps the given one), the '
  'token count and running sum under the conversation row lock, taken only when the caller may write '
  'the conversation; holds the owner''s erasure lock (55P03 while an erasure runs); renews the sliding '
  'expiry (capped at max_ttl_hours), sets the title from the first user message and the owner for the '
  'search index, enforces size limits and the message cap, and turns a replayed idempotency key into '
  'a no-op (23505 when the key was used for another role, or another content but for the keys the '
  'store derives: private.is_derived_key).';

create trigger before_message_insert before insert on public.ai_conversation_messages
  for each row execute function private.before_message_insert();

-- The RPC ---------------------------------------------------------------------------------------
-- The same call appends any message; a chat turn's tool results and reply pass the turn's key
-- (p_turn_key) and get their own keys derived from it (private.turn_key, 52_chat_turn.sql).
create function public.append_message(
  p_conversation_id text,
  p_role text,
  p_content text,
  p_metadata jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_turn_key text default null,
  p_tool_index integer default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_key text := p_idempotency_key;
  v_msg public.ai_conversation_messages;
begin
  if p_turn_key is not null then
    if p_idempotency_key is not null or p_role not in ('assistant', 'tool')
       or (p_role = 'tool' and coalesce(p_tool_index, 0) < 1) then
      raise exception 'a turn key names a tool result (with tool_index >= 1) or the reply, without idempotency_key'
        using errcode = '22023';
    end if;
    v_key := private.turn_key(p_turn_key, case p_role when 'tool' then 'tool:' || p_tool_index else 'assistant' end);
  end if;
  insert into public.ai_conversation_messages (conversation_id, role, content, metadata, idempotency_key)
  values (p_conversation_id, p_role, p_content, coalesce(p_metadata, '{}'::jsonb), v_key)
  returning * into v_msg;
  if found then
    return json_build_object('message', v_msg, 'replayed', false);
  end if;
  -- The insert trigger skipped a replayed idempotency key: answer with the original.
  select * into strict v_msg from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.idempotency_key = v_key;
  return json_build_object('message', v_msg, 'replayed', true);
end
$$;
comment on function public.append_message(text, text, text, jsonb, text, text, integer) is
  'Appends one message with the next seq and renews the sliding expiry. With an idempotency key '
  'already used in this conversation, returns the original message and replayed = true. A chat '
  'turn''s tool result (the p_tool_index-th) or reply passes the turn''s key as p_turn_key instead: '
  'its own key is derived from it (private.turn_key).';
