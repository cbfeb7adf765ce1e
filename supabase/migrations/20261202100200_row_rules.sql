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
begin
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

  -- Lock the conversation row: appenders to one conversation queue here, which makes seq
  -- gapless and lets a retried idempotency key see the first attempt once it committed. The
  -- sliding expiry never goes past the longest lifetime allowed (a conversation's ttl_hours
  -- may exceed a max_ttl_hours lowered since).
  update public.ai_conversations c
     set last_seq = c.last_seq + 1,
         message_count = c.message_count + 1,
         updated_at = now(),
         expires_at = greatest(c.expires_at, now() + make_interval(hours => least(c.ttl_hours, v_max_ttl)))
   where c.conversation_id = new.conversation_id
     and c.expires_at > now()
  returning c.last_seq, c.user_id, c.message_count into v_seq, v_user, v_count;
  -- As the owner this function bypasses RLS, so it applies the policies' ownership rule itself
  -- (inlined: no call on the hot path). coalesce: a null owner or caller is never a match.
  if not found
     or (v_role in ('anon', 'authenticated') and not coalesce(private.is_owner(v_user, auth.uid()), false)) then
    perform private.not_found(new.conversation_id);
  end if;

  if new.idempotency_key is not null and exists (
    select 1 from public.ai_conversation_messages m
     where m.conversation_id = new.conversation_id and m.idempotency_key = new.idempotency_key
  ) then
    -- A replay: undo the counter bump (same row, same transaction) and skip the insert. A full
    -- conversation still answers a replay with the original.
    update public.ai_conversations c
       set last_seq = c.last_seq - 1, message_count = c.message_count - 1
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
  new.created_at := coalesce(new.created_at, now());
  return new;
end
$$;
comment on function private.before_message_insert() is
  'Assigns the next per-conversation seq under the conversation row lock, renews the sliding '
  'expiry (at most max_ttl_hours from now), enforces size limits and the message cap, and turns '
  'a replayed idempotency key into a no-op.';
