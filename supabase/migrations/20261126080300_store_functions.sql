-- Conversation storage, part 4: the RPC functions, one per store operation.
--
-- All are security invoker (RLS decides what a user sees) with an empty search_path, return
-- JSON (the same text over PostgREST and over a direct connection), and treat an expired
-- conversation exactly like a missing one (P0002). Error codes: see the settings migration.

create function private.conversation_json(c public.ai_conversations)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'conversation_id', c.conversation_id,
    'user_id', c.user_id,
    'metadata', c.metadata,
    'ttl_hours', c.ttl_hours,
    'message_count', c.message_count,
    'last_seq', c.last_seq,
    'created_at', c.created_at,
    'updated_at', c.updated_at,
    'expires_at', c.expires_at)
$$;
comment on function private.conversation_json(public.ai_conversations) is
  'The public JSON shape of a conversation (internal ids left out).';

create function private.check_limit(p_name text, p_value integer)
returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  v_max integer := (private.settings()).max_page_size;
begin
  if p_value is null or p_value < 1 or p_value > v_max then
    raise exception '% must be between 1 and %', p_name, v_max using errcode = '22023';
  end if;
  return p_value;
end
$$;
comment on function private.check_limit(text, integer) is 'Rejects a missing or out-of-range page size.';

create function private.live_conversation(p_conversation_id text)
returns public.ai_conversations
language plpgsql
stable
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
begin
  select * into v_row from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
  end if;
  return v_row;
end
$$;
comment on function private.live_conversation(text) is
  'The caller-visible, unexpired conversation, or P0002: one answer for missing, expired and foreign.';

-- An expired conversation is gone for every caller, but its row stays until cleanup runs. RLS
-- hides it from its owner too, so a user's own delete cannot free the id: this helper removes
-- that one expired row (and, by cascade, its messages) whoever asks. It touches nothing live.
create function private.purge_expired_conversation(p_conversation_id text)
returns void
language sql
security definer
set search_path = ''
as $$
  delete from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at <= now()
$$;
comment on function private.purge_expired_conversation(text) is
  'Deletes the conversation with this id if it has expired, so the id can be created again before cleanup.';

-- create ------------------------------------------------------------------------------------
create function public.create_conversation(
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
  v_id text := coalesce(p_conversation_id, gen_random_uuid()::text);
  v_user uuid := coalesce(p_user_id, auth.uid());
  v_row public.ai_conversations;
begin
  if auth.role() in ('anon', 'authenticated') and v_user is distinct from auth.uid() then
    raise exception 'a user may only create conversations for itself' using errcode = '42501';
  end if;
  if p_ttl_hours is not null and p_ttl_hours < 1 then
    raise exception 'ttl_hours must be at least 1' using errcode = '22023';
  end if;
  -- An expired conversation not yet cleaned up does not keep its id taken.
  perform private.purge_expired_conversation(v_id);
  begin
    insert into public.ai_conversations (conversation_id, user_id, metadata, ttl_hours)
    values (v_id, v_user, coalesce(p_metadata, '{}'::jsonb), p_ttl_hours)
    returning * into v_row;
  exception when unique_violation then
    raise exception 'conversation % already exists', v_id using errcode = '23505';
  end;
  return private.conversation_json(v_row)::json;
end
$$;
comment on function public.create_conversation(text, uuid, jsonb, integer) is
  'Creates a conversation (id generated when omitted) owned by p_user_id, or by the calling user. '
  'TTL defaults to the settings value. 23505 if the id is taken by a live conversation.';

-- append ------------------------------------------------------------------------------------
create function public.append_message(
  p_conversation_id text,
  p_role text,
  p_content text,
  p_metadata jsonb default '{}'::jsonb,
  p_idempotency_key text default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_msg public.ai_conversation_messages;
begin
  insert into public.ai_conversation_messages (conversation_id, role, content, metadata, idempotency_key)
  values (p_conversation_id, p_role, p_content, coalesce(p_metadata, '{}'::jsonb), p_idempotency_key)
  returning * into v_msg;
  if found then
    return json_build_object('message', v_msg, 'replayed', false);
  end if;
  -- The insert trigger skipped a replayed idempotency key: answer with the original.
  select * into strict v_msg from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.idempotency_key = p_idempotency_key;
  return json_build_object('message', v_msg, 'replayed', true);
end
$$;
comment on function public.append_message(text, text, text, jsonb, text) is
  'Appends one message with the next seq and renews the sliding expiry. With an idempotency key '
  'already used in this conversation, returns the original message and replayed = true.';

-- begin a chat turn -------------------------------------------------------------------------
create function public.begin_chat_turn(
  p_content text,
  p_conversation_id text default null,
  p_user_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_history_limit integer default 10,
  p_conversation_metadata jsonb default '{}'::jsonb,
  p_create_if_missing boolean default false
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_id text := p_conversation_id;
  v_created boolean := false;
  v_appended json;
  v_seq bigint;
begin
  perform private.check_limit('history_limit', p_history_limit);
  if v_id is null or (p_create_if_missing and not exists (
       select 1 from public.ai_conversations c
        where c.conversation_id = v_id and c.expires_at > now())) then
    v_id := (public.create_conversation(v_id, p_user_id, p_conversation_metadata) ->> 'conversation_id');
    v_created := true;
  end if;
  v_appended := public.append_message(v_id, 'user', p_content, p_metadata, p_idempotency_key);
  v_seq := (v_appended -> 'message' ->> 'seq')::bigint;
  return json_build_object(
    'conversation_id', v_id,
    'created', v_created,
    'message', v_appended -> 'message',
    'replayed', (v_appended ->> 'replayed')::boolean,
    'history', (
      select coalesce(json_agg(h order by h.seq), '[]'::json)
        from (select * from public.ai_conversation_messages m
               where m.conversation_id = v_id and m.seq <= v_seq
               order by m.seq desc
               limit p_history_limit) h));
end
$$;
comment on function public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean) is
  'One round trip per chat turn: creates the conversation when no id is given (or when missing and '
  'p_create_if_missing), appends the user message, and returns the last p_history_limit messages '
  'up to and including it, oldest first.';

-- read --------------------------------------------------------------------------------------
create function public.get_messages(
  p_conversation_id text,
  p_limit integer default 10,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  -- The history read is hot: checks are inline rather than helper calls (each helper with its
  -- own search_path costs a GUC save and restore).
  if p_limit is null or p_limit < 1
     or p_limit > (select s.max_page_size from public.ai_conversation_settings s where s.id) then
    raise exception 'limit must be between 1 and %',
      (select s.max_page_size from public.ai_conversation_settings s where s.id)
      using errcode = '22023';
  end if;
  if not exists (select 1 from public.ai_conversations c
                  where c.conversation_id = p_conversation_id and c.expires_at > now()) then
    raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
  end if;
  return (
    select coalesce(json_agg(h order by h.seq), '[]'::json)
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id
               and (p_before_seq is null or m.seq < p_before_seq)
             order by m.seq desc
             limit p_limit) h);
end
$$;
comment on function public.get_messages(text, integer, bigint) is
  'The newest p_limit messages (or those before seq p_before_seq), oldest first.';

create function public.get_conversation(
  p_conversation_id text,
  p_message_limit integer default 50,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
  v_messages json;
  v_oldest bigint;
begin
  -- Read on every page view: checks inline, JSON built as text (json, not jsonb), no helpers.
  if p_message_limit is null or p_message_limit < 0
     or p_message_limit > (select s.max_page_size from public.ai_conversation_settings s where s.id) then
    raise exception 'limit must be between 0 and %',
      (select s.max_page_size from public.ai_conversation_settings s where s.id)
      using errcode = '22023';
  end if;
  select * into v_row from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
  end if;
  if p_message_limit > 0 then
    select json_agg(h order by h.seq), min(h.seq) into v_messages, v_oldest
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id
               and (p_before_seq is null or m.seq < p_before_seq)
             order by m.seq desc
             limit p_message_limit) h;
  end if;
  return json_build_object(
    'conversation_id', v_row.conversation_id,
    'user_id', v_row.user_id,
    'metadata', v_row.metadata,
    'ttl_hours', v_row.ttl_hours,
    'message_count', v_row.message_count,
    'last_seq', v_row.last_seq,
    'created_at', v_row.created_at,
    'updated_at', v_row.updated_at,
    'expires_at', v_row.expires_at,
    'messages', coalesce(v_messages, '[]'::json),
    -- seq numbers are gapless but a clear leaves a hole below: ask the index, not arithmetic.
    'next_cursor', case when v_oldest > 1 and exists (
        select 1 from public.ai_conversation_messages m
         where m.conversation_id = p_conversation_id and m.seq < v_oldest)
      then v_oldest end);
end
$$;
comment on function public.get_conversation(text, integer, bigint) is
  'A conversation with its newest p_message_limit messages (0: none) before p_before_seq, oldest '
  'first; next_cursor is the seq to pass as p_before_seq for the previous page, or null.';

create function public.list_conversations(
  p_user_id uuid default null,
  p_limit integer default 10,
  p_cursor text default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_user uuid := p_user_id;
  v_ts timestamptz;
  v_id uuid;
  v_page public.ai_conversations[];
  v_last public.ai_conversations;
  v_next text;
begin
  perform private.check_limit('limit', p_limit);
  if auth.role() in ('anon', 'authenticated') then
    if p_user_id is not null and p_user_id is distinct from auth.uid() then
      raise exception 'a user may only list its own conversations' using errcode = '42501';
    end if;
    v_user := auth.uid();
  end if;
  if p_cursor is not null then
    begin
      v_ts := timestamptz 'epoch' + (split_part(p_cursor, '.', 1)::bigint || ' microseconds')::interval;
      v_id := split_part(p_cursor, '.', 2)::uuid;
    exception when others then
      raise exception 'malformed cursor' using errcode = '22023';
    end;
  end if;

  -- One row more than asked tells whether a next page exists.
  select array_agg(p order by p.updated_at desc, p.id desc) into v_page
    from (select * from public.ai_conversations c
           where (v_user is null or c.user_id = v_user)
             and c.expires_at > now()
             and (v_ts is null or (c.updated_at, c.id) < (v_ts, v_id))
           order by c.updated_at desc, c.id desc
           limit p_limit + 1) p;
  if coalesce(array_length(v_page, 1), 0) > p_limit then
    v_last := v_page[p_limit];
    v_next := ((extract(epoch from v_last.updated_at) * 1000000)::bigint)::text || '.' || v_last.id::text;
  end if;
  return json_build_object(
    'conversations', (
      select coalesce(jsonb_agg(private.conversation_json(v_page[i]) order by i), '[]'::jsonb)
        from generate_subscripts(v_page, 1) i
       where i <= p_limit),
    'next_cursor', v_next);
end
$$;
comment on function public.list_conversations(uuid, integer, text) is
  'Live conversations, most recently updated first, keyset-paginated by an opaque cursor. Users '
  'see only their own (42501 when naming another user); the service sees one user''s or all.';

-- change ------------------------------------------------------------------------------------
create function public.extend_conversation(p_conversation_id text, p_hours integer default 24)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_expires timestamptz;
begin
  if p_hours is null or p_hours < 1 or p_hours > (private.settings()).max_ttl_hours then
    raise exception 'hours must be between 1 and %', (private.settings()).max_ttl_hours using errcode = '22023';
  end if;
  update public.ai_conversations c
     set expires_at = c.expires_at + make_interval(hours => p_hours)
   where c.conversation_id = p_conversation_id and c.expires_at > now()
  returning c.expires_at into v_expires;
  if not found then
    raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'expires_at', v_expires);
end
$$;
comment on function public.extend_conversation(text, integer) is
  'Moves expires_at p_hours later (at most max_ttl_hours from now).';

create function public.clear_conversation(p_conversation_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_cleared bigint;
begin
  perform private.live_conversation(p_conversation_id);
  delete from public.ai_conversation_messages m where m.conversation_id = p_conversation_id;
  get diagnostics v_cleared = row_count;
  return json_build_object('conversation_id', p_conversation_id, 'cleared', v_cleared);
end
$$;
comment on function public.clear_conversation(text) is
  'Deletes every message of a conversation and keeps the conversation; seq numbers are never reused.';

create function public.delete_conversation(p_conversation_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'deleted', true);
end
$$;
comment on function public.delete_conversation(text) is 'Deletes a conversation and its messages.';

-- export ------------------------------------------------------------------------------------
create function public.export_conversation(p_conversation_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations := private.live_conversation(p_conversation_id);
begin
  return json_build_object(
    'conversation_id', v_row.conversation_id,
    'user_id', v_row.user_id,
    'created_at', v_row.created_at,
    'updated_at', v_row.updated_at,
    'expires_at', v_row.expires_at,
    'ttl_hours', v_row.ttl_hours,
    'metadata', v_row.metadata,
    'messages', (
      select coalesce(json_agg(json_build_object(
               'id', m.id, 'seq', m.seq, 'role', m.role, 'content', m.content,
               'metadata', m.metadata, 'idempotency_key', m.idempotency_key,
               'created_at', m.created_at) order by m.seq), '[]'::json)
        from public.ai_conversation_messages m
       where m.conversation_id = p_conversation_id));
end
$$;
comment on function public.export_conversation(text) is
  'One conversation with all its messages in the export shape (conversation_id, created_at, '
  'updated_at, messages, metadata, ...), which import_conversation() restores.';

-- privileges --------------------------------------------------------------------------------
revoke all on function
  private.conversation_json(public.ai_conversations), private.check_limit(text, integer),
  private.live_conversation(text), private.purge_expired_conversation(text),
  public.create_conversation(text, uuid, jsonb, integer),
  public.append_message(text, text, text, jsonb, text),
  public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean),
  public.get_messages(text, integer, bigint),
  public.get_conversation(text, integer, bigint),
  public.list_conversations(uuid, integer, text),
  public.extend_conversation(text, integer),
  public.clear_conversation(text),
  public.delete_conversation(text),
  public.export_conversation(text)
from public, anon;

grant execute on function
  private.conversation_json(public.ai_conversations), private.check_limit(text, integer),
  private.live_conversation(text), private.purge_expired_conversation(text),
  public.create_conversation(text, uuid, jsonb, integer),
  public.append_message(text, text, text, jsonb, text),
  public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean),
  public.get_messages(text, integer, bigint),
  public.get_conversation(text, integer, bigint),
  public.list_conversations(uuid, integer, text),
  public.extend_conversation(text, integer),
  public.clear_conversation(text),
  public.delete_conversation(text),
  public.export_conversation(text)
to authenticated, service_role;
