-- Governing a history, part 2: usage. Messages, prompt and completion tokens (from each
-- message's metadata.tokens {prompt, completion}, as /chat stores them) and cost, where a price
-- per model is configured in ai_model_prices; per day and/or model, for one user or all.

create table public.ai_model_prices (
  model text primary key constraint ai_model_prices_model_not_empty check (model <> ''),
  prompt_per_million numeric(14, 6) not null constraint ai_model_prices_prompt_check check (prompt_per_million >= 0),
  completion_per_million numeric(14, 6) not null constraint ai_model_prices_completion_check check (completion_per_million >= 0),
  currency text not null default 'USD',
  updated_at timestamptz not null default now()
);
comment on table public.ai_model_prices is
  'Price per million tokens for each model (metadata.model of a message), edited from the dashboard; '
  'usage reports a cost only for models listed here.';

alter table public.ai_model_prices enable row level security;
create policy "service_role manages prices" on public.ai_model_prices
  for all to service_role using (true) with check (true);
create policy "authenticated reads prices" on public.ai_model_prices
  for select to authenticated using (true);
revoke all on public.ai_model_prices from public, anon, authenticated, service_role;
grant select, insert, update, delete on public.ai_model_prices to service_role;
grant select on public.ai_model_prices to authenticated;

-- A block range index: messages arrive in created_at order, so a date range over every user
-- (the service's report, the dashboard views) reads only the blocks of that range. Nearly free
-- to maintain on append.
create index ai_conversation_messages_created_brin
  on public.ai_conversation_messages using brin (created_at);

-- The tokens of a message, tolerant of metadata written by other clients (non-numbers count 0).
create function private.message_tokens(p_metadata jsonb, p_kind text)
returns bigint
language sql
immutable
begin atomic
  select coalesce(floor(jsonb_path_query_first(p_metadata -> 'tokens' -> p_kind, '$ ? (@.type() == "number")')::numeric)::bigint, 0);
end;
comment on function private.message_tokens(jsonb, text) is
  'metadata.tokens.<p_kind> (prompt or completion) as a whole number, 0 when absent or not a number. '
  'Inlined by the planner.';

create function public.get_usage(
  p_user_id uuid default null,
  p_from timestamptz default null,
  p_to timestamptz default null,
  p_group_by text[] default '{}'
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_user uuid := p_user_id;
  v_group text[] := coalesce(p_group_by, '{}');
  v_keys text := '';
  v_where text := 'true';
  v_rows json;
begin
  if exists (select 1 from unnest(v_group) g where g not in ('day', 'model')) then
    raise exception 'group_by may hold day and model only' using errcode = '22023';
  end if;
  if p_from is not null and p_to is not null and p_from >= p_to then
    raise exception 'from must be before to' using errcode = '22023';
  end if;
  if auth.role() in ('anon', 'authenticated') then
    if p_user_id is not null and p_user_id is distinct from auth.uid() then
      raise exception 'a user may only read its own usage' using errcode = '42501';
    end if;
    v_user := coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000');
  end if;
  if v_user is not null then v_where := v_where || ' and m.user_id = $1'; end if;
  if p_from is not null then v_where := v_where || ' and m.created_at >= $2'; end if;
  if p_to is not null then v_where := v_where || ' and m.created_at < $3'; end if;
  if 'day' = any (v_group) then v_keys := v_keys || 'per.day, '; end if;
  if 'model' = any (v_group) then v_keys := v_keys || 'per.model, '; end if;

  -- Summed per (day, model) first, so the price joins once per model and day, then rolled up to
  -- the groups asked for. A cost is null where no price of the group's models is configured.
  execute format($sql$
    with per as (
      select (m.created_at at time zone 'UTC')::date as day,
             coalesce(m.metadata ->> 'model', '') as model,
             count(*) as messages,
             sum(private.message_tokens(m.metadata, 'prompt')) as prompt_tokens,
             sum(private.message_tokens(m.metadata, 'completion')) as completion_tokens
        from public.ai_conversation_messages m
       where %1$s
       group by 1, 2
    ), rows as (
      select %2$s coalesce(sum(per.messages), 0)::bigint as messages,
             coalesce(sum(per.prompt_tokens), 0)::bigint as prompt_tokens,
             coalesce(sum(per.completion_tokens), 0)::bigint as completion_tokens,
             round(sum((per.prompt_tokens * p.prompt_per_million + per.completion_tokens * p.completion_per_million)
                       / 1000000), 6) as cost
        from per left join public.ai_model_prices p on p.model = per.model
       %3$s
    )
    select coalesce(json_agg(r %4$s), '[]'::json) from rows r
    $sql$,
    v_where,
    v_keys,
    case when v_keys <> '' then 'group by ' || rtrim(v_keys, ', ') else '' end,
    case when v_keys <> '' then 'order by ' || replace(rtrim(v_keys, ', '), 'per.', 'r.') else '' end)
    into v_rows
    using v_user, p_from, p_to;
  return json_build_object('user_id', v_user, 'from', p_from, 'to', p_to, 'group_by', to_json(v_group),
                           'rows', v_rows);
end
$$;
comment on function public.get_usage(uuid, timestamp with time zone, timestamp with time zone, text[]) is
  'Usage in [p_from, p_to): messages, prompt_tokens, completion_tokens and cost (null without a price), '
  'in one row, or grouped by day (UTC) and/or model. Users read their own (42501 when naming another '
  'user); the service one user''s (p_user_id) or everyone''s.';

create view public.ai_usage_by_day_model with (security_invoker = true) as
  select (m.created_at at time zone 'UTC')::date as day,
         coalesce(m.metadata ->> 'model', '') as model,
         count(*) as messages,
         sum(private.message_tokens(m.metadata, 'prompt')) as prompt_tokens,
         sum(private.message_tokens(m.metadata, 'completion')) as completion_tokens,
         round(sum((private.message_tokens(m.metadata, 'prompt') * p.prompt_per_million
                    + private.message_tokens(m.metadata, 'completion') * p.completion_per_million) / 1000000), 6) as cost
    from public.ai_conversation_messages m
    left join public.ai_model_prices p on p.model = m.metadata ->> 'model'
   group by 1, 2
   order by 1 desc, 2;
comment on view public.ai_usage_by_day_model is 'Messages, tokens and cost per day (UTC) and model, all users.';

create view public.ai_usage_by_user with (security_invoker = true) as
  select m.user_id,
         count(*) as messages,
         sum(private.message_tokens(m.metadata, 'prompt')) as prompt_tokens,
         sum(private.message_tokens(m.metadata, 'completion')) as completion_tokens,
         round(sum((private.message_tokens(m.metadata, 'prompt') * p.prompt_per_million
                    + private.message_tokens(m.metadata, 'completion') * p.completion_per_million) / 1000000), 6) as cost,
         max(m.created_at) as last_message_at
    from public.ai_conversation_messages m
    left join public.ai_model_prices p on p.model = m.metadata ->> 'model'
   group by m.user_id
   order by 2 desc;
comment on view public.ai_usage_by_user is 'Messages, tokens and cost per user (null: anonymous conversations).';

revoke all on public.ai_usage_by_day_model, public.ai_usage_by_user from public, anon, authenticated;
grant select on public.ai_usage_by_day_model, public.ai_usage_by_user to service_role;
