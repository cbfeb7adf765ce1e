-- Conversation storage, release 3, part 3: the row triggers on the hardened rules.
--
-- * Metadata size: one definition, the octet length of the JSON text (what the setting's
--   comment always said), for conversations and messages alike, on insert and on update. The
--   append used pg_column_size(), the binary size: 2,500 keys of 1e308 stored 799 kB of JSON
--   text under the 65,536-byte limit.
-- * Sliding expiry is capped at now() + max_ttl_hours, like every other way of moving it.
-- * A conversation holds at most max_messages_per_conversation messages (54000 beyond).
-- * Conversation ids live in one namespace shared by every owner, so a user who could choose one
--   could learn which ids others use (a taken id answered 409). Only the service (and the
--   dashboard) chooses ids; a user's conversations get generated ones. See create_conversation.

-- The metadata size rule ---------------------------------------------------------------------------
create function private.metadata_fits(p_metadata jsonb, p_max_bytes integer)
returns boolean
language sql
immutable
begin atomic
  select p_metadata is null or octet_length(p_metadata::text) <= p_max_bytes;
end;
comment on function private.metadata_fits(jsonb, integer) is
  'The metadata size rule: the JSON text of p_metadata is at most p_max_bytes bytes (null fits: '
  'the not-null constraint answers it). Inlined by the planner.';

create function private.metadata_too_large(p_metadata jsonb, p_max_bytes integer)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception 'metadata is % bytes; the limit is %', octet_length(p_metadata::text), p_max_bytes
    using errcode = '22023';
end
$$;
comment on function private.metadata_too_large(jsonb, integer) is
  'Raises 22023 for metadata over the limit; the failing branch of private.metadata_fits().';

-- updated_at, expiry bound, and metadata size on every direct change of a conversation ------------
create or replace function private.touch_conversation()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  if new.expires_at > old.expires_at
     and new.expires_at > now() + make_interval(hours => (private.settings()).max_ttl_hours) then
    raise exception 'expires_at may be at most % hours from now', (private.settings()).max_ttl_hours
      using errcode = '22023';
  end if;
  if new.metadata is distinct from old.metadata
     and not private.metadata_fits(new.metadata, (private.settings()).max_metadata_bytes) then
    perform private.metadata_too_large(new.metadata, (private.settings()).max_metadata_bytes);
  end if;
  return new;
end
$$;
comment on function private.touch_conversation() is
  'Maintains updated_at, keeps expires_at within the configured maximum lifetime and changed '
  'metadata within the size limit.';

-- Defaults, limits and the id of a new conversation, whoever inserts it ---------------------------
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
  'Generates the id (users may not choose one: 42501, or 23505 for their own), applies the '
  'default TTL, sets expires_at and checks metadata size for new conversations.';

comment on column public.ai_conversations.conversation_id is
  'Public identifier: chosen by the service (letters, digits and _ . : @ -), or generated (a UUID; '
  'always for conversations users create).';

-- The ordered append ------------------------------------------------------------------------------
-- private.before_message_insert(): defined once, with every rule of this release, in
-- 20261207100100_fork_keeps_seq.sql (the last migration that changes it).
