-- Broadcast from the database: the live feed on Supabase, to private topics authorised by RLS.
--
-- Each change of a conversation goes out as rows of realtime.messages (what realtime.send
-- writes), which Realtime reads from the WAL and sends to the subscribers of the row's topic;
-- who may join a topic is decided when a client joins, by the policies on realtime.messages
-- below. The settings columns (broadcast_conversations, broadcast_service, broadcast_max_bytes)
-- are in 10_settings.sql, the grants in 90_function_privileges.sql; realtime.messages itself is
-- Realtime's (supabase/platform/bootstrap.sql creates it locally).
--
-- Topics (private; named by private.conversation_topic() and private.service_topic()):
--   ai_conversations:<ai_conversations.id>  one conversation, for its owner while it is live.
--        Named by the row, not by conversation_id: ids are reused after expiry (by any user,
--        at once), and Realtime checks access when a client joins, not on every message.
--        Clients get it with public.conversation_topic(conversation_id).
--   ai_conversations:service                every event of every conversation, for the service
--        (the API's Supabase feed joins it with the service key); no user ever reads it.
-- Events (every payload names the conversation row, row_id, as the store's readers do, and
-- conversation_id):
--   message               a new message, as the API returns it (id, conversation_id, seq, role,
--                         content, metadata, created_at, idempotency_key, tokens, user_id);
--                         above broadcast_max_bytes without content and metadata, and with
--                         "partial": true (read it from the API or the database);
--   messages_deleted      messages went (deleted, first_seq, last_seq, remaining);
--   cleared               the same when none remain (a clear);
--   conversation_deleted  the conversation went (reason: "deleted", or "expired" when it went
--                         after its expiry, by the hourly cleanup or a reuse of its id).
--
-- The triggers are separate from the append path's own: after insert on messages, after delete
-- on messages and on conversations, each a statement trigger of its own (one insert into
-- realtime.messages per statement, however many rows it changed).

-- Topics ---------------------------------------------------------------------------------------
create function private.conversation_topic(p_conversation_row uuid)
returns text
language sql
immutable
begin atomic
  select 'ai_conversations:' || p_conversation_row::text;
end;
comment on function private.conversation_topic(uuid) is
  'The private Realtime topic of one conversation row: ai_conversations:<ai_conversations.id>.';

create function private.service_topic()
returns text
language sql
immutable
begin atomic
  select 'ai_conversations:service';
end;
comment on function private.service_topic() is
  'The private Realtime topic that carries every conversation''s events, for the service only.';

create function private.topic_conversation_row(p_topic text)
returns uuid
language sql
immutable
begin atomic
  -- No row (null) for any other topic. (No case expression: the Supabase CLI would take its
  -- "end" for the end of the body.)
  select substr(p_topic, 18)::uuid
   where p_topic ~ '^ai_conversations:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
end;
comment on function private.topic_conversation_row(text) is
  'The conversation row a topic names (the inverse of conversation_topic); null for any other topic.';

create function private.can_receive(p_topic text)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select exists (
    select 1 from public.ai_conversations c
     where c.id = private.topic_conversation_row(p_topic)
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid())))
$$;
comment on function private.can_receive(text) is
  'Whether the caller may receive this Realtime topic: it names a live conversation of the caller''s.';

create function public.conversation_topic(p_conversation_id text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select private.conversation_topic((private.live_conversation(p_conversation_id)).id)
$$;
comment on function public.conversation_topic(text) is
  'The private Realtime topic of one of the caller''s live conversations (supabase-js subscribes to '
  'it with config.private = true); P0002 when unknown, expired or not the caller''s.';

-- Who receives what: the policies of realtime.messages ------------------------------------------
-- Realtime runs these when a client joins a private channel (and when it refreshes its token),
-- with role, JWT claims and realtime.topic set to the client's. The permissive policy lets an
-- owner receive its live conversations' topics. The restrictive ones hold whatever other
-- policies the project has (a host application's "authenticated receives everything", say):
-- nobody but the owner receives a topic of ours, anon none, and no client may send on them (the
-- database sends; the service role and postgres bypass RLS). Other topics are left to the
-- project's own policies. The prefix test is spelt out (starts_with, no function of ours) so
-- anon needs no privilege on our schema to be refused.
create policy "ai_conversations: owners receive their live conversations" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and (select private.can_receive(realtime.topic()))
  );
create policy "ai_conversations: only owners receive conversation topics" on realtime.messages
  as restrictive for select to authenticated
  using (
    not starts_with(realtime.messages.topic, 'ai_conversations:')
    or (realtime.messages.topic = (select realtime.topic()) and (select private.can_receive(realtime.topic())))
  );
create policy "ai_conversations: anon receives no conversation topic" on realtime.messages
  as restrictive for select to anon
  using (not starts_with(realtime.messages.topic, 'ai_conversations:'));
create policy "ai_conversations: clients send nothing on conversation topics" on realtime.messages
  as restrictive for insert to anon, authenticated
  with check (not starts_with(realtime.messages.topic, 'ai_conversations:'));
create policy "ai_conversations: clients change nothing on conversation topics" on realtime.messages
  as restrictive for update to anon, authenticated
  using (not starts_with(realtime.messages.topic, 'ai_conversations:'))
  with check (not starts_with(realtime.messages.topic, 'ai_conversations:'));

-- What is sent: three statement triggers of their own -----------------------------------------
-- Security definer (owner postgres, which bypasses RLS on realtime.messages): the caller is a
-- user who may send nothing on these topics, as Supabase's Broadcast guide does it. Trigger
-- functions cannot be called directly, and no role may execute them.
--
-- Each writes the rows realtime.send would write (topic, event, payload, private, extension
-- 'broadcast'; the row's id is the table's default), for the whole statement in one insert, in
-- commit order within a conversation (seq order), under one exception block: a broadcast that
-- cannot be stored is a warning, never the change's error, as realtime.send makes it. Not
-- realtime.send itself: per row and topic it runs a dynamic SET LOCAL of realtime.topic (for the
-- insert policies of clients, which the database's own sends do not go through) and a
-- subtransaction; measured, that tripled what broadcast costs an append (benchmark B).
create function private.broadcast_messages()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversations boolean;
  v_service boolean;
  v_max_bytes integer;
begin
  select s.broadcast_conversations, s.broadcast_service, s.broadcast_max_bytes
    into v_conversations, v_service, v_max_bytes
    from public.ai_conversation_settings s where s.id;
  if not (v_conversations or v_service) then
    return null;
  end if;
  begin
    insert into realtime.messages (topic, extension, payload, event, private)
    select t.topic, 'broadcast', m.payload, 'message', true
      from (select n.conversation_id, n.seq, c.id as row_id,
                   case when pg_catalog.pg_column_size(p.payload) > v_max_bytes
                        then p.payload - 'content' - 'metadata' || '{"partial": true}'::jsonb
                        else p.payload end as payload
              from new_rows n
              join public.ai_conversations c on c.conversation_id = n.conversation_id
             cross join lateral (select jsonb_build_object(
                     'row_id', c.id, 'id', n.id, 'conversation_id', n.conversation_id, 'seq', n.seq,
                     'role', n.role, 'content', n.content, 'metadata', n.metadata,
                     'created_at', n.created_at, 'idempotency_key', n.idempotency_key,
                     'tokens', n.tokens, 'user_id', n.user_id) as payload) p) m
     cross join lateral (select private.conversation_topic(m.row_id) where v_conversations
                         union all
                         select private.service_topic() where v_service) t(topic)
     order by m.conversation_id, m.seq;
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
  return null;
end
$$;
comment on function private.broadcast_messages() is
  'Trigger: broadcasts the new messages of a statement (event "message") to their conversations'' '
  'topics and the service topic, in one insert into realtime.messages.';

create function private.broadcast_deleted_messages()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversations boolean;
  v_service boolean;
begin
  select s.broadcast_conversations, s.broadcast_service into v_conversations, v_service
    from public.ai_conversation_settings s where s.id;
  if not (v_conversations or v_service) then
    return null;
  end if;
  -- Live conversations only: one that is gone (a cascade from its delete) or expired (the
  -- cleanup deletes its messages first) is told by the conversations' trigger. message_count is
  -- already what remains: after_messages_delete ran before (a table's triggers of one event
  -- fire in name order).
  begin
    insert into realtime.messages (topic, extension, payload, event, private)
    select t.topic, 'broadcast', d.payload, d.event, true
      from (select c.id as row_id, c.conversation_id,
                   case when c.message_count = 0 then 'cleared' else 'messages_deleted' end as event,
                   jsonb_build_object(
                     'row_id', c.id, 'conversation_id', c.conversation_id, 'deleted', g.deleted,
                     'first_seq', g.first_seq, 'last_seq', g.last_seq, 'remaining', c.message_count) as payload
              from (select o.conversation_id, count(*) as deleted, min(o.seq) as first_seq, max(o.seq) as last_seq
                      from old_rows o group by o.conversation_id) g
              join public.ai_conversations c on c.conversation_id = g.conversation_id
             where c.expires_at > now()) d
     cross join lateral (select private.conversation_topic(d.row_id) where v_conversations
                         union all
                         select private.service_topic() where v_service) t(topic)
     order by d.conversation_id;
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
  return null;
end
$$;
comment on function private.broadcast_deleted_messages() is
  'Trigger: tells a conversation''s topic and the service topic that messages were deleted '
  '("messages_deleted"), or all of them ("cleared").';

create function private.broadcast_deleted_conversations()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversations boolean;
  v_service boolean;
begin
  select s.broadcast_conversations, s.broadcast_service into v_conversations, v_service
    from public.ai_conversation_settings s where s.id;
  if not (v_conversations or v_service) then
    return null;
  end if;
  begin
    insert into realtime.messages (topic, extension, payload, event, private)
    select t.topic, 'broadcast', g.payload, 'conversation_deleted', true
      from (select o.id as row_id, o.conversation_id,
                   jsonb_build_object(
                     'row_id', o.id, 'conversation_id', o.conversation_id,
                     'reason', case when o.expires_at <= now() then 'expired' else 'deleted' end) as payload
              from old_rows o) g
     cross join lateral (select private.conversation_topic(g.row_id) where v_conversations
                         union all
                         select private.service_topic() where v_service) t(topic)
     order by g.conversation_id;
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
  return null;
end
$$;
comment on function private.broadcast_deleted_conversations() is
  'Trigger: tells a deleted (or expired and cleaned up) conversation''s topic and the service topic '
  '("conversation_deleted").';

create trigger broadcast_messages after insert on public.ai_conversation_messages
  referencing new table as new_rows
  for each statement execute function private.broadcast_messages();
create trigger broadcast_deleted_messages after delete on public.ai_conversation_messages
  referencing old table as old_rows
  for each statement execute function private.broadcast_deleted_messages();
create trigger broadcast_deleted_conversations after delete on public.ai_conversations
  referencing old table as old_rows
  for each statement execute function private.broadcast_deleted_conversations();
