-- Issue 22 (attack round), items 6, 10 and 11: the write path of a user's rows.
--
-- Item 10, the owner before any lock. The append trigger locked and updated the conversation row
-- and only then checked the owner: a user naming another user's conversation id made a new row
-- version each time (rolled back: dead tuples), waited for the owner's row lock and slowed the
-- owner's appends. The owner rule is now part of the UPDATE's condition: a foreign conversation
-- matches no row, so nothing is locked, written or waited for, and the answer is the same 404.
--
-- Item 6, an erasure covers the writes in flight. erase_user's statements never saw rows of
-- transactions not yet committed: a chat turn that began before the erasure and committed after
-- it kept its conversation and message (stamped before requested_at), and a rating in flight
-- survived too. Now every write of a user's rows holds that user's erasure lock, shared, until
-- it commits: a transaction-level advisory lock in the space private.erasure_lock_space(), keyed
-- by hashtext(user_id), taken by the conversation and message insert triggers (the conversation's
-- owner) and by a new trigger on ratings (the rater). erase_user takes it exclusively before it
-- reads anything, so it waits for the writes in flight and then sees them. Writers only try the
-- lock (pg_try_advisory_xact_lock_shared: a write holds its row locks by then, and waiting could
-- deadlock with the erasure waiting for those rows): a write that starts while an erasure of its
-- user runs is refused with 55P03 (the API's 409 with Retry-After: retry once it has finished).
-- The usage roll-up is waited for too (it reads messages and writes the ledger the erasure
-- deletes): private.wait_for_usage_rollup() takes the roll-up mark's row lock, which
-- roll_up_usage holds while it runs. Cost of the append's hot path: one try of a lock for a
-- conversation with an owner (measured in the closing note of issue 22).
--
-- Item 11, an idempotency key names one message. A retry with a used key must carry the same
-- role and content (its metadata may differ: it describes the attempt, and the original's is
-- kept); another role or content is a key reused for another message, refused with 23505 (409)
-- instead of answered silently with the original. Keys the store derives for what a model writes
-- keep the first message written under them whatever the second's words (two attempts of a turn
-- differ in the model's words, not in intent): a turn's reply, tool results and outputs
-- (private.turn_key's K:assistant, K:tool:n, K:output:n) and a summary's range (summary:a-b),
-- recognised by their shape (private.is_derived_key), so every caller that derives them keeps
-- today's replay without saying so (append_message's p_turn_key, append_summary, the turn
-- engine's outputs). A client key of one of those shapes gets the same first-write-wins replay.

-- Also: the setting that lets rows keep a given seq is renamed from private.fork_copy to
-- private.copying_into, since an import keeps its messages' seqs too (20261209420300); the fork's
-- copy step is redefined here with the new name only.
--
-- This is the one definition of private.before_message_insert() in this release; the rest of its
-- body is as in 20261207100100_fork_keeps_seq.sql.

-- The erasure lock -------------------------------------------------------------------------------
create function private.erasure_lock_space()
returns integer
language sql
immutable
begin atomic
  select 1634887028;
end;
comment on function private.erasure_lock_space() is
  'The first key of every user''s erasure lock (pg_advisory_xact_lock(space, hashtext(user_id))), '
  'so the store''s advisory locks never meet another application''s. Inlined by the planner.';

create function private.refuse_write_during_erasure(p_user_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'the data of user % is being erased; retry once the erasure has finished', p_user_id
    using errcode = '55P03';
end
$$;
comment on function private.refuse_write_during_erasure(uuid) is
  'Raises 55P03: a write of this user''s rows started while an erasure of the user runs.';

-- The keys the store derives ------------------------------------------------------------------
create function private.is_derived_key(p_key text)
returns boolean
language sql
immutable
begin atomic
  select p_key ~ '^summary:[0-9]+-[0-9]+$' or p_key ~ ':(assistant|tool:[0-9]+|output:[0-9]+)$';
end;
comment on function private.is_derived_key(text) is
  'Whether an idempotency key has a shape the store derives for a model''s output (a turn''s '
  'K:assistant, K:tool:n, K:output:n; a summary''s summary:a-b): its first message stays whatever a '
  'second one says. Inlined by the planner.';

create function private.wait_for_usage_rollup()
returns void
language sql
security definer
set search_path = ''
as $$
  select from private.usage_rollup r where r.id for update;
$$;
comment on function private.wait_for_usage_rollup() is
  'Takes the usage roll-up mark''s row lock until the transaction ends: waits for a roll-up in '
  'progress and holds off the next one (erase_user, before it deletes a user''s ledger rows). '
  'Security definer: callers hold no update privilege on the mark.';

-- Conversations: the owner's lock at insert ----------------------------------------------------
create or replace function private.before_conversation_insert()
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

-- Messages: owner first, the owner's lock, one message per key ---------------------------------
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

-- The fork's copies: the setting's new name ----------------------------------------------------
create or replace function private.copy_messages_for_fork(p_source text, p_fork text, p_at_seq bigint)
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
  perform set_config('private.copying_into', p_fork, true);
  insert into public.ai_conversation_messages (conversation_id, seq, role, content, metadata)
  select p_fork, m.seq, m.role, m.content,
         m.metadata || jsonb_build_object('forked_from', jsonb_build_object('conversation_id', p_source, 'seq', m.seq))
    from public.ai_conversation_messages m
   where m.conversation_id = p_source and m.seq <= p_at_seq
   order by m.seq;
  get diagnostics v_copied = row_count;
  perform set_config('private.copying_into', '', true);
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

-- Ratings: the rater's lock --------------------------------------------------------------------
create function private.before_feedback_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.user_id is not null
     and not pg_try_advisory_xact_lock_shared(private.erasure_lock_space(), hashtext(new.user_id::text)) then
    perform private.refuse_write_during_erasure(new.user_id);
  end if;
  return new;
end
$$;
comment on function private.before_feedback_insert() is
  'Takes the rater''s erasure lock (shared, until commit; 55P03 while an erasure of the rater runs).';
create trigger before_feedback_insert before insert on public.ai_message_feedback
  for each row execute function private.before_feedback_insert();

-- The erasure: the user's lock first, the roll-up before the ledger ------------------------------
create or replace function private.erase_user(p_user_id uuid, p_requested_by text, p_batch_size integer)
returns public.ai_erasures
language plpgsql
set search_path = ''
as $$
declare
  v_ids text[];
  v_n integer;
  v_conversations integer := 0;
  v_messages bigint := 0;
  v_feedback bigint := 0;
  v_kept integer;
  v_row public.ai_erasures;
begin
  if p_user_id is null then
    raise exception 'user_id is required' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    raise exception 'batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  -- Waits for every write of the user in flight (they hold it shared until they commit) and
  -- refuses new ones until this transaction ends; the statements below see what they wrote.
  perform pg_advisory_xact_lock(private.erasure_lock_space(), hashtext(p_user_id::text));
  -- The user's ratings outside their own conversations (given through the service).
  delete from public.ai_message_feedback f
   where f.user_id = p_user_id
     and not exists (select 1 from public.ai_conversations c
                      where c.conversation_id = f.conversation_id and c.legal_hold);
  get diagnostics v_n = row_count;
  v_feedback := v_n;
  loop
    select array_agg(b.conversation_id) into v_ids
      from (select c.conversation_id from public.ai_conversations c
             where c.user_id = p_user_id and not c.legal_hold
             limit p_batch_size
               for update) b;
    exit when v_ids is null;
    delete from public.ai_conversation_messages m where m.conversation_id = any (v_ids);
    get diagnostics v_n = row_count;
    v_messages := v_messages + v_n;
    delete from public.ai_conversations c where c.conversation_id = any (v_ids);
    get diagnostics v_n = row_count;
    v_conversations := v_conversations + v_n;
  end loop;
  -- The usage ledger is about the user too (counts, no content): it goes as well, once a roll-up
  -- in progress (which may have read the user's messages) has written what it read.
  perform private.wait_for_usage_rollup();
  delete from public.ai_usage_daily u where u.user_id = p_user_id;
  select count(*) into v_kept from public.ai_conversations c where c.user_id = p_user_id and c.legal_hold;
  insert into public.ai_erasures (user_id, requested_by, conversations_removed, messages_removed,
                                  feedback_removed, conversations_kept, kept_reason)
  values (p_user_id, p_requested_by, v_conversations, v_messages, v_feedback, v_kept,
          case when v_kept > 0 then 'legal hold' end)
  returning * into v_row;
  return v_row;
end
$$;
comment on function private.erase_user(uuid, text, integer) is
  'Deletes a user''s conversations (not those under legal hold), their messages and the user''s '
  'ratings, p_batch_size conversations per statement, and records the erasure. Takes the user''s '
  'erasure lock first: the user''s writes in flight are waited for and erased, new ones refused '
  'until it ends.';

comment on column public.ai_conversation_messages.idempotency_key is
  'Optional client key naming one message: a retried append with the same key, role and content '
  'returns the original; another role or content under it is refused (23505).';

-- Privileges: the helpers the caller-side triggers call; the definer helper for erase_user's
-- caller. private.is_derived_key is the append trigger's (a definer): nobody else's.
revoke all on function private.erasure_lock_space(), private.refuse_write_during_erasure(uuid),
  private.wait_for_usage_rollup(), private.before_feedback_insert(), private.is_derived_key(text)
  from public, anon, authenticated, service_role;
grant execute on function private.erasure_lock_space(), private.refuse_write_during_erasure(uuid)
  to authenticated, service_role;
grant execute on function private.wait_for_usage_rollup() to service_role;
