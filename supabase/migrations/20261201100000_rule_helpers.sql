-- Conversation storage, release 2, part 1: the helpers that hold each small rule once
-- (ownership, the not-found answer, the page-size check, the conversation JSON shape).
--
-- The predicate and check helpers are SQL-standard (`begin atomic`) functions without a SET
-- clause, so the planner inlines them into the calling query or policy: no function call, no
-- GUC save and restore. Their bodies are parsed when they are created and name objects by
-- OID, so they are as search_path-safe as `set search_path = ''`. A scalar SQL function is
-- inlined only when its body is one select without FROM or sub-selects, and when its
-- declared volatility is not below its contents': the raisers are therefore volatile
-- plpgsql, reached only on the failing branch (volatile, so the planner never evaluates
-- them ahead of time), and the check that calls one is declared volatile too.

-- Errors --------------------------------------------------------------------------------------
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

-- The conversation's JSON shape -----------------------------------------------------------------
-- Recreated as json (not jsonb) without a SET clause, so it is inlined and get_conversation, the
-- hot read, can use it: built as text, in declared key order, at a third of jsonb's cost. Stable,
-- not immutable: timestamptz to JSON depends on the session's TimeZone.
drop function private.conversation_json(public.ai_conversations);
create function private.conversation_json(c public.ai_conversations)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'conversation_id', c.conversation_id,
    'user_id', c.user_id,
    'metadata', c.metadata,
    'ttl_hours', c.ttl_hours,
    'message_count', c.message_count,
    'last_seq', c.last_seq,
    'created_at', c.created_at,
    'updated_at', c.updated_at,
    'expires_at', c.expires_at);
end;
comment on function private.conversation_json(public.ai_conversations) is
  'The public JSON shape of a conversation (internal ids left out); every function that returns '
  'a conversation builds it here. Inlined by the planner.';

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
