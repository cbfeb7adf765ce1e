-- Conversation storage, part 1: extensions, the private schema and the settings table.
--
-- Error codes raised by every function in these migrations (the API maps them to HTTP,
-- PostgREST maps them the same way):
--   22023 invalid_parameter_value  bad input (limits, sizes, formats)        -> 400/422
--   23514 check_violation          a table constraint rejected a value       -> 400/422
--   22P05 / 22021                  NUL or untranslatable characters           -> 400/422
--   P0002 no_data_found            conversation unknown, expired or not yours -> 404
--   23505 unique_violation         conversation id or import clash           -> 409
--   42501 insufficient_privilege   role may not do this                      -> 403

create extension if not exists pg_cron with schema pg_catalog;

-- Objects that must not be exposed through PostgREST (triggers, counters, helpers).
create schema if not exists private;
comment on schema private is 'Internal helpers of the conversation store; never exposed by the API.';
revoke all on schema private from public;
grant usage on schema private to service_role, authenticated;

create table public.ai_conversation_settings (
  id boolean primary key default true check (id),
  ttl_hours integer not null default 24 check (ttl_hours between 1 and 8760),
  max_ttl_hours integer not null default 8760 check (max_ttl_hours between 1 and 87600),
  max_content_chars integer not null default 100000 check (max_content_chars between 1 and 10000000),
  max_metadata_bytes integer not null default 65536 check (max_metadata_bytes between 2 and 10000000),
  max_page_size integer not null default 1000 check (max_page_size between 1 and 100000),
  updated_at timestamptz not null default now()
);
comment on table public.ai_conversation_settings is
  'Single-row settings of the conversation store, editable from the dashboard: default TTL, '
  'size limits and page limits. Read by every function at call time.';
comment on column public.ai_conversation_settings.ttl_hours is 'Default lifetime of a conversation, and the sliding window each append renews.';
comment on column public.ai_conversation_settings.max_ttl_hours is 'Longest lifetime a conversation may be given or extended to, from now.';
comment on column public.ai_conversation_settings.max_content_chars is 'Longest message content, in characters.';
comment on column public.ai_conversation_settings.max_metadata_bytes is 'Largest metadata object (conversation or message), in bytes of its JSON text.';
comment on column public.ai_conversation_settings.max_page_size is 'Largest number of rows a single read may return.';

insert into public.ai_conversation_settings (id) values (true);

alter table public.ai_conversation_settings enable row level security;

create policy "service_role reads settings" on public.ai_conversation_settings
  for select to service_role using (true);
create policy "service_role updates settings" on public.ai_conversation_settings
  for update to service_role using (true) with check (true);
create policy "authenticated reads settings" on public.ai_conversation_settings
  for select to authenticated using (true);

revoke all on public.ai_conversation_settings from public, anon, authenticated, service_role;
grant select, update (ttl_hours, max_ttl_hours, max_content_chars, max_metadata_bytes, max_page_size)
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
revoke all on function private.settings() from public;
grant execute on function private.settings() to service_role, authenticated;

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
revoke all on function private.touch_settings() from public;

create trigger touch_settings before update on public.ai_conversation_settings
  for each row execute function private.touch_settings();
