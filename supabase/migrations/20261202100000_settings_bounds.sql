-- Conversation storage, release 3, part 1: the settings row keeps its own limits consistent,
-- and caps the number of messages a conversation may hold.
--
-- ttl_hours above max_ttl_hours made every create fail (a default TTL no conversation may have):
-- the row now refuses it. A row already in that state is repaired towards the stricter limit:
-- the default TTL comes down to the maximum, the maximum (a governance bound) is kept.

update public.ai_conversation_settings set ttl_hours = max_ttl_hours where ttl_hours > max_ttl_hours;
alter table public.ai_conversation_settings
  add constraint ai_conversation_settings_ttl_within_max check (ttl_hours <= max_ttl_hours);
comment on constraint ai_conversation_settings_ttl_within_max on public.ai_conversation_settings is
  'The default TTL is one a conversation may have: ttl_hours <= max_ttl_hours.';

-- One conversation is one export, one history: without a cap a single user could grow one
-- without bound. The append beyond it is 54000 (program_limit_exceeded), 422 limit_reached.
alter table public.ai_conversation_settings
  add column max_messages_per_conversation integer not null default 100000
    constraint ai_conversation_settings_max_messages_range check (max_messages_per_conversation between 1 and 100000000);
comment on column public.ai_conversation_settings.max_messages_per_conversation is
  'Most messages a conversation may hold at once (a clear frees room); an append beyond it is 54000.';
grant update (max_messages_per_conversation) on public.ai_conversation_settings to service_role;
