-- Conversation storage, release 3, part 2: timestamps every reader can represent.
--
-- timestamptz accepts 'infinity', '-infinity' and years up to 294276 (or BC), which no JSON
-- reader of ours can parse (Python's datetime, JavaScript's Date, ISO 8601 without extension):
-- one such row, typed in from the dashboard, made every read of it and every listing page
-- holding it fail. The tables now refuse them, whoever writes.
--
-- Rows already out of range are repaired before the constraints are validated (a migration
-- must not fail on data it can fix): created_at and updated_at become now(); an expires_at of
-- 'infinity' (or beyond 9999) becomes the longest lifetime allowed from now, one of
-- '-infinity' (or before year 1) now() (expired: the next cleanup removes it); a message's
-- created_at becomes its conversation's created_at. Messages are append-only, so their
-- repair runs with the append-only trigger disabled, inside this migration's transaction.

create function private.timestamp_in_range(p_ts timestamptz)
returns boolean
language sql
immutable
begin atomic
  select p_ts >= '0001-01-01 00:00:00+00'::timestamptz and p_ts < '10000-01-01 00:00:00+00'::timestamptz;
end;
comment on function private.timestamp_in_range(timestamp with time zone) is
  'A finite timestamp between years 1 and 9999 (UTC): what JSON readers (ISO 8601, Python, '
  'JavaScript) can represent. Null is not in range. Inlined by the planner.';

alter table public.ai_conversations
  add constraint ai_conversations_timestamps_in_range check (
    private.timestamp_in_range(created_at) and private.timestamp_in_range(updated_at)
    and private.timestamp_in_range(expires_at)) not valid;
comment on constraint ai_conversations_timestamps_in_range on public.ai_conversations is
  'created_at, updated_at and expires_at are finite, years 1 to 9999 (see private.timestamp_in_range).';
alter table public.ai_conversation_messages
  add constraint ai_conversation_messages_created_at_in_range check (private.timestamp_in_range(created_at)) not valid;
comment on constraint ai_conversation_messages_created_at_in_range on public.ai_conversation_messages is
  'created_at is finite, years 1 to 9999 (see private.timestamp_in_range).';

update public.ai_conversations c
   set created_at = case when private.timestamp_in_range(c.created_at) then c.created_at else now() end,
       updated_at = case when private.timestamp_in_range(c.updated_at) then c.updated_at else now() end,
       expires_at = case
         when private.timestamp_in_range(c.expires_at) then c.expires_at
         when c.expires_at > now() then now() + make_interval(hours => (private.settings()).max_ttl_hours)
         else now() end
 where not (private.timestamp_in_range(c.created_at) and private.timestamp_in_range(c.updated_at)
            and private.timestamp_in_range(c.expires_at));

do $$
begin
  if exists (select 1 from public.ai_conversation_messages m where not private.timestamp_in_range(m.created_at)) then
    alter table public.ai_conversation_messages disable trigger forbid_message_update;
    update public.ai_conversation_messages m
       set created_at = c.created_at
      from public.ai_conversations c
     where c.conversation_id = m.conversation_id and not private.timestamp_in_range(m.created_at);
    alter table public.ai_conversation_messages enable trigger forbid_message_update;
  end if;
end
$$;

alter table public.ai_conversations validate constraint ai_conversations_timestamps_in_range;
alter table public.ai_conversation_messages validate constraint ai_conversation_messages_created_at_in_range;
