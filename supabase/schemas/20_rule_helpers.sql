-- The helpers that hold each small rule once: the not-found answer, the page-size check,
-- ownership, the row rules the tables' checks and triggers share (timestamps, metadata size,
-- tags), whose rows a call covers, and JSON concatenation.
--
-- Error codes raised by every function of the store (the API maps them to HTTP, PostgREST maps
-- them the same way):
--   22023 invalid_parameter_value  bad input (limits, sizes, formats)        -> 400/422
--   23514 check_violation          a table constraint rejected a value       -> 400/422
--   22P05 / 22021                  NUL or untranslatable characters           -> 400/422
--   P0002 no_data_found            conversation unknown, expired or not yours -> 404
--   23505 unique_violation         conversation id or import clash           -> 409
--   42501 insufficient_privilege   role may not do this                      -> 403
--   54000 program_limit_exceeded   the conversation holds the most messages  -> 422
--
-- The predicate and check helpers are SQL-standard (`begin atomic`) functions without a SET
-- clause, so the planner inlines them into the calling query or policy: no function call, no
-- GUC save and restore. Their bodies are parsed when they are created and name objects by
-- OID, so they are as search_path-safe as `set search_path = ''`. A scalar SQL function is
-- inlined only when its body is one select without FROM or sub-selects, and when its
-- declared volatility is not below its contents': the raisers are therefore volatile
-- plpgsql, reached only on the failing branch (volatile, so the planner never evaluates
-- them ahead of time), and the check that calls one is declared volatile too.

-- Errors ----------------------------------------------------------------------------------------
create function private.not_found(p_conversation_id text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception 'conversation % not found or expired', p_conversation_id using errcode = 'P0002';
end
$$;
comment on function private.not_found(text) is
  'Raises P0002 for a conversation that is unknown, expired or not the caller''s: one answer for all three.';

create function private.invalid_limit(p_name text, p_min integer, p_max integer)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception '% must be between % and %', p_name, p_min, p_max using errcode = '22023';
end
$$;
comment on function private.invalid_limit(text, integer, integer) is
  'Raises 22023 for a page size outside p_min..p_max; the failing branch of private.check_limit().';

-- Page sizes ------------------------------------------------------------------------------------
-- Callers pass the maximum from the settings row they read in the same statement:
--   perform private.check_limit('limit', p_limit, 1, s.max_page_size)
--      from public.ai_conversation_settings s where s.id;
-- (a sub-select in the body, or one passed as an argument used twice, would stop the inlining).
-- Written with coalesce/nullif, not CASE: the Supabase CLI's statement splitter ends a
-- `begin atomic` body at the first END, a CASE's included (supabase/cli#3474).
create function private.check_limit(p_name text, p_value integer, p_min integer, p_max integer)
returns boolean
language sql
volatile
begin atomic
  select coalesce(nullif(p_value between p_min and p_max, false),
                  private.invalid_limit(p_name, p_min, p_max));
end;
comment on function private.check_limit(text, integer, integer, integer) is
  'True when p_value is between p_min and p_max, else 22023 (a null value is out of range). '
  'Inlined by the planner.';

-- Ownership -------------------------------------------------------------------------------------
-- p_caller is passed in rather than read here, so that policies can pass (select auth.uid()):
-- an InitPlan evaluated once per statement, where a call inside an inlined body would run per row.
create function private.is_owner(p_user_id uuid, p_caller uuid)
returns boolean
language sql
immutable
begin atomic
  select p_user_id = p_caller;
end;
comment on function private.is_owner(uuid, uuid) is
  'The ownership rule: the conversation''s user_id is the caller''s. A null on either side (an '
  'anonymous conversation, a token without sub) is never true. Inlined by the planner.';

create function private.is_own_live(p_user_id uuid, p_expires_at timestamptz, p_caller uuid)
returns boolean
language sql
stable
begin atomic
  select private.is_owner(p_user_id, p_caller) and p_expires_at > now();
end;
comment on function private.is_own_live(uuid, timestamp with time zone, uuid) is
  'The caller''s own live conversation: owned by p_caller and not expired. Every user-facing '
  'policy on conversations and messages uses it. Inlined by the planner.';

-- Whose rows a listing, search or report covers: a user only its own (naming anyone else is
-- 42501; a token without sub gets the nil uuid, which owns nothing, never "everyone"), the
-- service the user it names, or everyone (null).
create function private.scope_user(p_user_id uuid, p_what text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  if auth.role() in ('anon', 'authenticated') then
    if p_user_id is not null and p_user_id is distinct from auth.uid() then
      raise exception 'a user may only % its own conversations', p_what using errcode = '42501';
    end if;
    return coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000');
  end if;
  return p_user_id;
end
$$;
comment on function private.scope_user(uuid, text) is
  'The user whose rows a call covers: the caller for users (42501 when naming another), p_user_id '
  'for the service (null: everyone).';

-- Timestamps every reader can represent -----------------------------------------------------------
-- timestamptz accepts 'infinity', '-infinity' and years up to 294276 (or BC), which no JSON
-- reader of ours can parse (Python's datetime, JavaScript's Date, ISO 8601 without extension):
-- one such row, typed in from the dashboard, made every read of it and every listing page
-- holding it fail. The tables refuse them, whoever writes (30_tables.sql).
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

-- The metadata size rule ------------------------------------------------------------------------
-- One definition, the octet length of the JSON text, for conversations and messages alike, on
-- insert and on update. (pg_column_size(), the binary size, let 2,500 keys of 1e308 store
-- 799 kB of JSON text under the 65,536-byte limit.)
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

-- Tags ------------------------------------------------------------------------------------------
create function private.tags_are_valid(p_tags text[])
returns boolean
language sql
immutable
begin atomic
  select cardinality(p_tags) <= 20
     and array_position(p_tags, null) is null
     and not exists (select 1 from unnest(p_tags) t where char_length(t) not between 1 and 50);
end;
comment on function private.tags_are_valid(text[]) is
  'The tag rule: at most 20 tags, none null, each 1 to 50 characters.';

-- JSON ------------------------------------------------------------------------------------------
-- json has no || (jsonb's costs a parse of both sides and a re-serialisation of the whole).
create function private.json_concat(p_left json, p_right json)
returns json
language sql
immutable
begin atomic
  select (left(p_left::text, -1) || ', ' || right(p_right::text, -1))::json;
end;
comment on function private.json_concat(json, json) is
  'The keys of two non-empty JSON objects in one object, joined as text (p_right''s keys last). '
  'Inlined by the planner.';

-- The erasure lock (issue 22): every write of a user's rows holds it shared; erase_user takes it
-- exclusively (76_erasure.sql).
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

create function private.html_escape(p_text text)
returns text
language sql
immutable
begin atomic
  select replace(replace(replace(replace(replace(p_text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;');
end;
comment on function private.html_escape(text) is
  'Text as HTML text: & < > " and '' as entities. Inlined by the planner.';
