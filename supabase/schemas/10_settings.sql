-- The settings of the conversation store: one row, editable from the dashboard, read by every
-- function at call time (default TTL, size limits, page limits, the message cap, when
-- compaction is due, the search configuration, what is broadcast to Realtime).
--
-- The row itself is data: the migration 20261126080000_settings.sql inserts it (and
-- 20261208200100_settings_statistics.sql analyzes the table so its one row is read as one page).

create table public.ai_conversation_settings (
  id boolean primary key default true check (id),
  ttl_hours integer not null default 24 check (ttl_hours between 1 and 8760),
  max_ttl_hours integer not null default 8760 check (max_ttl_hours between 1 and 87600),
  max_content_chars integer not null default 100000 check (max_content_chars between 1 and 10000000),
  max_metadata_bytes integer not null default 65536 check (max_metadata_bytes between 2 and 10000000),
  max_page_size integer not null default 1000 check (max_page_size between 1 and 100000),
  updated_at timestamptz not null default now(),
  -- One conversation is one export, one history: without a cap a single user could grow one
  -- without bound. The append beyond it is 54000 (program_limit_exceeded), 422 limit_reached.
  max_messages_per_conversation integer not null default 100000
    constraint ai_conversation_settings_max_messages_range check (max_messages_per_conversation between 1 and 100000000),
  compaction_threshold_tokens integer not null default 4000
    check (compaction_threshold_tokens between 0 and 100000000),
  search_config regconfig not null default 'simple',
  -- Broadcast from the database (66_broadcast.sql): which topics each change goes to, and the
  -- largest payload sent whole. The migration 20261209410100_broadcast.sql gives the settings
  -- row both topics off where no Realtime server reads realtime.messages (the local stack).
  broadcast_conversations boolean not null default true,
  broadcast_service boolean not null default true,
  broadcast_max_bytes integer not null default 200000
    constraint ai_conversation_settings_broadcast_max_bytes_range
    check (broadcast_max_bytes between 1000 and 3000000),
  -- A default TTL above the maximum made every create fail (a TTL no conversation may have).
  constraint ai_conversation_settings_ttl_within_max check (ttl_hours <= max_ttl_hours),
  turn_lease_seconds integer not null default 10
    constraint ai_conversation_settings_turn_lease_range check (turn_lease_seconds between 2 and 3600),
  turn_events_retention_minutes integer not null default 60
    constraint ai_conversation_settings_turn_events_retention_range check (turn_events_retention_minutes between 1 and 10080)
);
comment on table public.ai_conversation_settings is
  'Single-row settings of the conversation store, editable from the dashboard: default TTL, '
  'size limits and page limits. Read by every function at call time.';
comment on column public.ai_conversation_settings.ttl_hours is 'Default lifetime of a conversation, and the sliding window each append renews.';
comment on column public.ai_conversation_settings.max_ttl_hours is 'Longest lifetime a conversation may be given or extended to, from now.';
comment on column public.ai_conversation_settings.max_content_chars is 'Longest message content, in characters.';
comment on column public.ai_conversation_settings.max_metadata_bytes is 'Largest metadata object (conversation or message), in bytes of its JSON text.';
comment on column public.ai_conversation_settings.max_page_size is 'Largest number of rows a single read may return.';
comment on column public.ai_conversation_settings.max_messages_per_conversation is
  'Most messages a conversation may hold at once (a clear frees room); an append beyond it is 54000.';
comment on column public.ai_conversation_settings.compaction_threshold_tokens is
  'Tokens of history left out of a turn''s window and covered by no summary above which the turn '
  'reports compaction due (the service then stores a summary); 0: never.';
comment on column public.ai_conversation_settings.search_config is
  'Text-search configuration of the message search (simple: language-neutral; english, german, ... stem). '
  'Changing it rebuilds ai_conversation_messages_search_idx.';
comment on column public.ai_conversation_settings.broadcast_conversations is
  'Send every change to its conversation''s private topic ai_conversations:<id> (Realtime Broadcast).';
comment on column public.ai_conversation_settings.broadcast_service is
  'Send every change to the private topic ai_conversations:service too (the API''s Supabase feed).';
comment on column public.ai_conversation_settings.broadcast_max_bytes is
  'A message whose broadcast payload is larger goes without content and metadata ("partial": true); '
  'Realtime drops payloads above the project''s limit (256 KB on the free plan).';
comment on column public.ai_conversation_settings.turn_lease_seconds is
  'How long a running turn''s lease lasts: the generating API instance renews it every third of it; a '
  'turn whose lease ran out is marked failed (its instance is taken for dead) and its readers'' streams end.';
comment on column public.ai_conversation_settings.turn_events_retention_minutes is
  'How long the events of a finished turn''s stream are kept (resume by position); after that a reader '
  'gets the stored reply whole. Pruned every minute by pg_cron.';
comment on constraint ai_conversation_settings_ttl_within_max on public.ai_conversation_settings is
  'The default TTL is one a conversation may have: ttl_hours <= max_ttl_hours.';

alter table public.ai_conversation_settings enable row level security;

create policy "service_role reads settings" on public.ai_conversation_settings
  for select to service_role using (true);
create policy "service_role updates settings" on public.ai_conversation_settings
  for update to service_role using (true) with check (true);
create policy "authenticated reads settings" on public.ai_conversation_settings
  for select to authenticated using (true);

revoke all on public.ai_conversation_settings from public, anon, authenticated, service_role;
grant select, update (ttl_hours, max_ttl_hours, max_content_chars, max_metadata_bytes, max_page_size,
                      max_messages_per_conversation, compaction_threshold_tokens, search_config,
                      broadcast_conversations, broadcast_service, broadcast_max_bytes,
                      turn_lease_seconds, turn_events_retention_minutes)
  on public.ai_conversation_settings to service_role;
grant select on public.ai_conversation_settings to authenticated;

create function private.settings()
returns public.ai_conversation_settings
language sql
stable
security invoker
set search_path = ''
as $$
  select s from public.ai_conversation_settings s where s.id
$$;
comment on function private.settings() is 'The single settings row.';

create function private.touch_settings()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function private.touch_settings() is 'Keeps ai_conversation_settings.updated_at current.';

create trigger touch_settings before update on public.ai_conversation_settings
  for each row execute function private.touch_settings();
