-- Organising a history, part 4 continued: a fork keeps its copies' seq numbers. The copies of
-- messages 1..at_seq are numbered as in the source (a cleared source, or one with deleted
-- messages, has holes: the copies keep them), each recording forked_from {conversation_id, seq},
-- and the fork's last_seq is at_seq, so its next message is at_seq + 1 (editing message k = a
-- fork at k - 1, then a chat turn: the new text is message k again).
--
-- How: fork_conversation calls private.copy_messages_for_fork, a security definer helper (users
-- may not write seq: their column grants on ai_conversation_messages leave it out, and
-- 00_structure_and_privileges checks it), for the one INSERT ... SELECT that copies the messages
-- with their seq. It names the fork in the transaction-local setting private.fork_copy for that
-- statement, and the append trigger keeps a given seq only for rows of that conversation (any
-- other given seq is replaced by the next one, as before: a service's direct insert still gets
-- last_seq + 1). A kept seq must be past last_seq, which then moves to it (one greatest() in the
-- UPDATE the trigger already runs; on the append path only a null test is added).
--
-- This is the one definition of private.before_message_insert() in this release: the earlier
-- migrations of the release (rule helpers, row rules, token counts, titles) leave its body here.

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
  -- A given seq is kept only for the fork's copies (see the header); the test on the hot path
  -- is new.seq is not null, false for every append.
  if new.seq is not null and current_setting('private.fork_copy', true) is distinct from new.conversation_id then
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
  -- strictly increasing, the running token sum exact, and lets a retried idempotency key see the first
  -- attempt once it committed. The sliding expiry never goes past the longest lifetime
  -- allowed (a conversation's ttl_hours may exceed a max_ttl_hours lowered since).
  -- A kept seq (the fork's copies) moves last_seq to it; otherwise the next one is taken.
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
  returning c.last_seq, c.user_id, c.message_count, c.tokens_appended into v_seq, v_user, v_count, v_appended;
  -- As the owner this function bypasses RLS, so it applies the policies' ownership rule itself
  -- (inlined: no call on the hot path). coalesce: a null owner or caller is never a match.
  if not found
     or (v_role in ('anon', 'authenticated') and not coalesce(private.is_owner(v_user, auth.uid()), false)) then
    perform private.not_found(new.conversation_id);
  end if;
  if new.seq <> v_seq then
    raise exception 'seq % of conversation % is not past its last seq %', new.seq, new.conversation_id, v_seq - 1
      using errcode = '22023';
  end if;

  if new.idempotency_key is not null and exists (
    select 1 from public.ai_conversation_messages m
     where m.conversation_id = new.conversation_id and m.idempotency_key = new.idempotency_key
  ) then
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
  'token count and running sum under the conversation row lock, renews the sliding expiry (capped '
  'at max_ttl_hours), sets the title from the first user message and the owner for the search '
  'index, enforces size limits and the message cap, and turns a replayed idempotency key into a no-op.';


create function private.copy_messages_for_fork(p_source text, p_fork text, p_at_seq bigint)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_role text := current_setting('role');
  v_source public.ai_conversations;
  v_fork public.ai_conversations;
  v_copied integer;
begin
  -- Executable by users (fork_conversation runs as the caller), so it checks for itself what
  -- fork_conversation already did: both live, the same owner, the caller that owner unless the
  -- service, and the fork still empty (it never writes into a conversation with messages).
  select * into v_source from public.ai_conversations c where c.conversation_id = p_source and c.expires_at > now();
  select * into v_fork from public.ai_conversations c where c.conversation_id = p_fork and c.expires_at > now()
     for update;
  if v_source.conversation_id is null or v_fork.conversation_id is null
     or v_fork.user_id is distinct from v_source.user_id or v_fork.last_seq <> 0
     or (v_role in ('anon', 'authenticated') and not coalesce(private.is_owner(v_source.user_id, auth.uid()), false)) then
    perform private.not_found(p_fork);
  end if;
  -- One insert, in seq order; the trigger keeps each given seq for rows of p_fork only. Each copy's metadata says what
  -- it copies (forked_from), which also keeps copies out of usage. Idempotency keys are not
  -- copied: they belong to the original's retries.
  perform set_config('private.fork_copy', p_fork, true);
  insert into public.ai_conversation_messages (conversation_id, seq, role, content, metadata)
  select p_fork, m.seq, m.role, m.content,
         m.metadata || jsonb_build_object('forked_from', jsonb_build_object('conversation_id', p_source, 'seq', m.seq))
    from public.ai_conversation_messages m
   where m.conversation_id = p_source and m.seq <= p_at_seq
   order by m.seq;
  get diagnostics v_copied = row_count;
  perform set_config('private.fork_copy', '', true);
  -- at_seq itself may be a hole (a deleted message): the fork still continues at at_seq + 1.
  update public.ai_conversations c set last_seq = p_at_seq
   where c.conversation_id = p_fork and c.last_seq < p_at_seq;
  return v_copied;
end
$$;
comment on function private.copy_messages_for_fork(text, text, bigint) is
  'Copies messages 1..p_at_seq of p_source into the empty fork p_fork (same owner, both live, the '
  'caller their owner or the service) keeping their seq, each with metadata.forked_from; sets the '
  'fork''s last_seq to p_at_seq; returns the number copied. Security definer: users may not write '
  'seq. P0002 otherwise.';
revoke all on function private.copy_messages_for_fork(text, text, bigint) from public, anon, authenticated, service_role;
grant execute on function private.copy_messages_for_fork(text, text, bigint) to authenticated, service_role;

create or replace function public.fork_conversation(
  p_conversation_id text,
  p_at_seq bigint,
  p_new_conversation_id text default null,
  p_title text default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_source public.ai_conversations := private.live_conversation(p_conversation_id);
  v_id text;
begin
  if p_at_seq is null or p_at_seq < 1 or p_at_seq > v_source.last_seq then
    raise exception 'at_seq must be between 1 and %', v_source.last_seq using errcode = '22023';
  end if;
  -- create_conversation applies the owner rule (a user forks only what it may read: its own).
  v_id := public.create_conversation(
    p_new_conversation_id, v_source.user_id,
    v_source.metadata || jsonb_build_object(
      'forked_from', jsonb_build_object('conversation_id', v_source.conversation_id, 'seq', p_at_seq)),
    v_source.ttl_hours) ->> 'conversation_id';
  update public.ai_conversations c
     set title = coalesce(nullif(btrim(p_title), ''), v_source.title), tags = v_source.tags
   where c.conversation_id = v_id;
  perform private.copy_messages_for_fork(p_conversation_id, v_id, p_at_seq);
  return private.conversation_json(private.live_conversation(v_id));
end
$$;
comment on function public.fork_conversation(text, bigint, text, text) is
  'Creates a conversation of the same owner (id p_new_conversation_id, or generated) with copies of '
  'messages 1..p_at_seq keeping their seq (each with metadata.forked_from {conversation_id, seq}; '
  'last_seq = p_at_seq, so the next message is p_at_seq + 1), the source''s '
  'metadata plus forked_from {conversation_id, seq}, its tags, '
  'and p_title or the source''s title. P0002 when the source is not the caller''s live conversation; '
  '22023 when p_at_seq is outside 1..last_seq; 23505 when the new id is taken.';
