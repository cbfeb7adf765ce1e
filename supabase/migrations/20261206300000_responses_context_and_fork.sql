-- Conversation storage, release 3: what /v1/responses needs from the context window
-- and from fork (OpenAI's `truncation` and a `previous_response_id` that is not the latest).
--
-- context_fits() says whether a conversation's whole history up to a seq, plus the input about
-- to be stored, fits a token budget and a message cap untruncated: `truncation: "disabled"`
-- refuses the request when it does not, before anything is stored. What "fits" means is
-- private.context_window()'s: the same counts, the same window, nothing left out (a summary
-- standing for older messages is something left out) and its tokens within the budget. It also
-- answers that window, for a response that stores nothing (`store: false`).
--
-- A fork copies messages with their metadata (fork_conversation records forked_from on each),
-- metadata.openai.response_id included. A copy is the fork's own history, not part of the
-- response it was copied from: get_response() and delete_response() now read and delete the
-- response's own messages only, never a fork's copies of them. And a response stays the latest
-- of its conversation when only a summary was written after it (compaction appends summaries
-- after a reply): continuing from it continues the conversation, it does not fork it.

-- Every parameter has a default (an RPC omits null arguments): a null budget is out of range.
create function public.context_fits(
  p_conversation_id text default null,
  p_token_budget integer default null,
  p_limit integer default null,
  p_at_seq bigint default null,
  p_messages jsonb default '[]'::jsonb
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_limit integer;
  v_input_tokens bigint;
  v_input_count integer;
  v_context json;
  v_tokens bigint;
  v_count integer;
  v_fits boolean;
begin
  select coalesce(p_limit, s.max_page_size) into v_limit from public.ai_conversation_settings s where s.id;
  perform private.check_limit('limit', v_limit, 1, s.max_page_size),
          private.check_limit('token_budget', p_token_budget, 1, 2147483647)
     from public.ai_conversation_settings s where s.id;
  if jsonb_typeof(coalesce(p_messages, '[]'::jsonb)) <> 'array' then
    raise exception 'messages must be a JSON array' using errcode = '22023';
  end if;
  -- The input's counts, as the insert trigger will count them (private.message_tokens).
  select coalesce(sum(private.message_tokens(m.role, coalesce(m.content, ''), coalesce(m.metadata, '{}'::jsonb))), 0),
         count(*)
    into v_input_tokens, v_input_count
    from jsonb_to_recordset(coalesce(p_messages, '[]'::jsonb)) as m(role text, content text, metadata jsonb);
  v_fits := v_input_count <= v_limit and v_input_tokens <= p_token_budget;
  v_tokens := v_input_tokens;
  v_count := v_input_count;
  if p_conversation_id is not null then
    perform private.live_conversation(p_conversation_id);
    if v_fits and v_input_count < v_limit and v_input_tokens < p_token_budget then
      -- The window for what the input leaves of the budget and of the cap.
      v_context := private.context_window(p_conversation_id, p_at_seq,
                                          (p_token_budget - v_input_tokens)::integer, v_limit - v_input_count);
      v_tokens := v_tokens + (v_context ->> 'tokens')::bigint;
      v_count := v_count + json_array_length(v_context -> 'messages');
      v_fits := v_context ->> 'left_out' is null and v_tokens <= p_token_budget;
    elsif exists (select 1 from public.ai_conversation_messages m
                   where m.conversation_id = p_conversation_id
                     and m.seq <= coalesce(p_at_seq, 9223372036854775807)) then
      v_fits := false;  -- the input alone fills the budget or the cap, and there is history
    end if;
  end if;
  return json_build_object(
    'fits', v_fits,
    'tokens', v_tokens,
    'token_budget', p_token_budget,
    'messages', v_count,
    'limit', v_limit,
    'left_out', v_context -> 'left_out',
    'context', v_context);
end
$$;
comment on function public.context_fits(text, integer, integer, bigint, jsonb) is
  'Whether the history of p_conversation_id up to p_at_seq (all of it when null; none without a '
  'conversation) plus p_messages (the input about to be stored: [{role, content, metadata}]) fits '
  'p_token_budget tokens and p_limit messages (default max_page_size) with nothing left out, as '
  'private.context_window() counts: fits, tokens and messages (history plus input, where the '
  'history was read), token_budget, limit, left_out, and context: the window of the history for '
  'what the input leaves of the budget and the cap (null without a conversation or room), what a '
  'turn that stores nothing sends. Stores nothing; P0002 for a conversation the caller cannot read.';

-- The messages of a response are its own, never a fork's copies -------------------------------
create or replace function public.get_response(p_response_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_messages json;
  v_conversation text;
  v_last bigint;
  v_row public.ai_conversations;
begin
  select json_agg(m order by m.seq), min(m.conversation_id), max(m.seq)
    into v_messages, v_conversation, v_last
    from public.ai_conversation_messages m
   where (m.metadata #>> '{openai,response_id}') = p_response_id
     and not (m.metadata ? 'forked_from');
  if v_messages is null then
    perform private.item_not_found('response', p_response_id);
  end if;
  select * into v_row from public.ai_conversations c
   where c.conversation_id = v_conversation and c.expires_at > now();
  if not found then
    perform private.item_not_found('response', p_response_id);
  end if;
  return json_build_object(
    'conversation', private.conversation_json(v_row),
    'messages', v_messages,
    'latest', not exists (select 1 from public.ai_conversation_messages m
                           where m.conversation_id = v_conversation and m.seq > v_last
                             and not private.is_summary(m.role, m.metadata)));
end
$$;
comment on function public.get_response(text) is
  'The messages of one /v1 response (its input and output items, in seq order; a fork''s copies of '
  'them are not), its conversation, and whether nothing but summaries was appended after it '
  '(latest); P0002 when none is visible.';

create or replace function public.delete_response(p_response_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer;
begin
  with d as (
    delete from public.ai_conversation_messages m
     where (m.metadata #>> '{openai,response_id}') = p_response_id
       and not (m.metadata ? 'forked_from')
       and exists (select 1 from public.ai_conversations c
                    where c.conversation_id = m.conversation_id and c.expires_at > now())
    returning 1)
  select count(*) into v_count from d;
  if v_count = 0 then
    perform private.item_not_found('response', p_response_id);
  end if;
  return json_build_object('id', p_response_id, 'deleted', v_count);
end
$$;
comment on function public.delete_response(text) is
  'Deletes the messages of one /v1 response (its input and output items; a fork''s copies of them '
  'stay, they are the fork''s history) and returns how many; P0002 when none is visible.';

-- Privileges (closed by default, see 20261201100300_function_privileges.sql) ----------------------
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        ('public.context_fits(text, integer, integer, bigint, jsonb)', 'authenticated, service_role'),
        ('public.get_response(text)', 'authenticated, service_role'),
        ('public.delete_response(text)', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;
