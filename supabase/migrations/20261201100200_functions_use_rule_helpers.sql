-- Conversation storage, release 2, part 3: the append trigger and the store functions
-- rewritten on the rule helpers (private.not_found, private.check_limit, private.is_owner,
-- private.conversation_json). Signatures, results and error codes are unchanged.

-- append trigger ------------------------------------------------------------------------------
-- private.before_message_insert(): defined once, with every rule of this release, in
-- 20261207100100_fork_keeps_seq.sql (the last migration that changes it).


-- helpers ---------------------------------------------------------------------------------------
create or replace function private.live_conversation(p_conversation_id text)
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
    perform private.not_found(p_conversation_id);
  end if;
  return v_row;
end
$$;

-- begin a chat turn -------------------------------------------------------------------------
create or replace function public.begin_chat_turn(
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
  perform private.check_limit('history_limit', p_history_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
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

-- read --------------------------------------------------------------------------------------
create or replace function public.get_messages(
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
  -- Hot: the checks are inlined helpers in one statement each, no nested call.
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if not exists (select 1 from public.ai_conversations c
                  where c.conversation_id = p_conversation_id and c.expires_at > now()) then
    perform private.not_found(p_conversation_id);
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

create or replace function public.get_conversation(
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
  v_next bigint;
begin
  -- Read on every page view: the helpers are inlined, no nested call; JSON built as text. The
  -- cursor has its own statement so that the return is a simple expression, planned once.
  perform private.check_limit('limit', p_message_limit, 0, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  select * into v_row from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  if p_message_limit > 0 then
    select json_agg(h order by h.seq), min(h.seq) into v_messages, v_oldest
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id
               and (p_before_seq is null or m.seq < p_before_seq)
             order by m.seq desc
             limit p_message_limit) h;
    -- seq numbers are gapless but a clear leaves a hole below: ask the index, not arithmetic.
    if v_oldest > 1 and exists (select 1 from public.ai_conversation_messages m
                                 where m.conversation_id = p_conversation_id and m.seq < v_oldest) then
      v_next := v_oldest;
    end if;
  end if;
  return private.json_concat(private.conversation_json(v_row),
                             json_build_object('messages', coalesce(v_messages, '[]'::json), 'next_cursor', v_next));
end
$$;

create or replace function public.list_conversations(
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
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
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
      select coalesce(json_agg(private.conversation_json(v_page[i]) order by i), '[]'::json)
        from generate_subscripts(v_page, 1) i
       where i <= p_limit),
    'next_cursor', v_next);
end
$$;

-- change ------------------------------------------------------------------------------------
create or replace function public.extend_conversation(p_conversation_id text, p_hours integer default 24)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_expires timestamptz;
begin
  perform private.check_limit('hours', p_hours, 1, s.max_ttl_hours)
     from public.ai_conversation_settings s where s.id;
  update public.ai_conversations c
     set expires_at = c.expires_at + make_interval(hours => p_hours)
   where c.conversation_id = p_conversation_id and c.expires_at > now()
  returning c.expires_at into v_expires;
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'expires_at', v_expires);
end
$$;

create or replace function public.delete_conversation(p_conversation_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'deleted', true);
end
$$;

-- Every caller now uses the inlinable four-argument form.
drop function private.check_limit(text, integer);
