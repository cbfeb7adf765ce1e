-- Usage: messages, prompt and completion tokens (from each message's metadata.tokens {prompt,
-- completion}, as /chat stores them) and cost, where a price per model is configured in
-- ai_model_prices; per day and/or model, for one user or all.
--
-- Usage is a ledger, not a count of what is stored: conversations expire in a day, usage is asked
-- for by the month. A pg_cron job (roll-up-usage, scheduled by the migration
-- 20261204100500_usage.sql) rolls messages up every minute into ai_usage_daily (one row per user,
-- UTC day and model), so a report reads a few rows per day plus the minute or two of messages
-- since the last roll-up, however many messages the period holds. Messages removed later (clear,
-- expiry) stay counted; erasing a user removes their ledger rows too. Fork copies
-- (metadata.forked_from) are not new usage and are not counted. The dashboard views:
-- ai_usage_by_day_model and ai_usage_by_user (85_dashboard_views.sql).

-- Prices ------------------------------------------------------------------------------------------
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
comment on column public.ai_model_prices.model is 'The model name as messages carry it in metadata.model.';
comment on column public.ai_model_prices.prompt_per_million is 'Price of a million prompt tokens.';
comment on column public.ai_model_prices.completion_per_million is 'Price of a million completion tokens.';
comment on column public.ai_model_prices.currency is 'Currency of both prices (informative: costs are summed as numbers).';
comment on column public.ai_model_prices.updated_at is 'When the price row was written.';

alter table public.ai_model_prices enable row level security;
create policy "service_role manages prices" on public.ai_model_prices
  for all to service_role using (true) with check (true);
create policy "authenticated reads prices" on public.ai_model_prices
  for select to authenticated using (true);
revoke all on public.ai_model_prices from public, anon, authenticated, service_role;
grant select, insert, update, delete on public.ai_model_prices to service_role;
grant select on public.ai_model_prices to authenticated;

-- The ledger --------------------------------------------------------------------------------------
create table public.ai_usage_daily (
  user_id uuid,
  day date not null,
  model text not null,
  messages bigint not null default 0,
  prompt_tokens bigint not null default 0,
  completion_tokens bigint not null default 0,
  constraint ai_usage_daily_key unique nulls not distinct (user_id, day, model)
);
comment on table public.ai_usage_daily is
  'The usage ledger: messages and tokens per user (null: anonymous conversations), UTC day and model '
  '(metadata.model; empty when none), rolled up every minute by private.roll_up_usage().';
comment on column public.ai_usage_daily.user_id is 'The conversations'' owner (null: anonymous conversations).';
comment on column public.ai_usage_daily.day is 'UTC day of the messages'' created_at.';
comment on column public.ai_usage_daily.model is 'metadata.model of the messages; empty string when they have none.';
comment on column public.ai_usage_daily.messages is 'Messages counted.';
comment on column public.ai_usage_daily.prompt_tokens is 'Sum of metadata.tokens.prompt (non-numbers count 0).';
comment on column public.ai_usage_daily.completion_tokens is 'Sum of metadata.tokens.completion (non-numbers count 0).';

-- One row; the migration inserts it (data).
create table private.usage_rollup (
  id boolean primary key default true check (id),
  rolled_up_to timestamptz not null default '-infinity'
);
comment on table private.usage_rollup is
  'How far the ledger goes: messages created before rolled_up_to are in ai_usage_daily.';
comment on column private.usage_rollup.id is 'Always true: the table has one row.';
comment on column private.usage_rollup.rolled_up_to is 'Messages created before this are in the ledger; those since are read directly.';

alter table public.ai_usage_daily enable row level security;
alter table private.usage_rollup enable row level security;
create policy "service_role reads usage" on public.ai_usage_daily for select to service_role using (true);
create policy "service_role erases usage" on public.ai_usage_daily for delete to service_role using (true);
create policy "authenticated reads own usage" on public.ai_usage_daily
  for select to authenticated using (private.is_owner(user_id, (select auth.uid())));
create policy "service_role reads the roll-up mark" on private.usage_rollup for select to service_role using (true);
create policy "authenticated reads the roll-up mark" on private.usage_rollup for select to authenticated using (true);
revoke all on public.ai_usage_daily, private.usage_rollup from public, anon, authenticated, service_role;
grant select on public.ai_usage_daily, private.usage_rollup to authenticated, service_role;
grant delete on public.ai_usage_daily to service_role;

-- The tokens of a message, tolerant of metadata written by other clients (non-numbers count 0).
create function private.usage_tokens(p_metadata jsonb, p_kind text)
returns bigint
language sql
immutable
begin atomic
  select coalesce(floor(jsonb_path_query_first(p_metadata -> 'tokens' -> p_kind, '$ ? (@.type() == "number")')::numeric)::bigint, 0);
end;
comment on function private.usage_tokens(jsonb, text) is
  'metadata.tokens.<p_kind> (prompt or completion) as a whole number, 0 when absent or not a number. '
  'Inlined by the planner.';

-- Messages created up to a minute ago (an append's created_at is its transaction's start; a
-- minute covers any append still committing), from the last mark on: the block range index
-- finds them. Imported messages keep their old created_at and are not counted.
create function private.roll_up_usage()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_from timestamptz;
  v_to timestamptz := now() - interval '1 minute';
  v_rows integer;
begin
  select r.rolled_up_to into v_from from private.usage_rollup r where r.id for update;
  if v_to <= v_from then
    return 0;
  end if;
  insert into public.ai_usage_daily as u (user_id, day, model, messages, prompt_tokens, completion_tokens)
  select m.user_id, (m.created_at at time zone 'UTC')::date, coalesce(m.metadata ->> 'model', ''),
         count(*), sum(private.usage_tokens(m.metadata, 'prompt')),
         sum(private.usage_tokens(m.metadata, 'completion'))
    from public.ai_conversation_messages m
   where m.created_at >= v_from and m.created_at < v_to and not m.metadata ? 'forked_from'
   group by 1, 2, 3
  on conflict on constraint ai_usage_daily_key do update
     set messages = u.messages + excluded.messages,
         prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
         completion_tokens = u.completion_tokens + excluded.completion_tokens;
  get diagnostics v_rows = row_count;
  update private.usage_rollup r set rolled_up_to = v_to where r.id;
  return v_rows;
end
$$;
comment on function private.roll_up_usage() is
  'Adds the messages created since the last roll-up (up to a minute ago) to ai_usage_daily; returns '
  'the ledger rows written. Run every minute by pg_cron.';

-- The report ----------------------------------------------------------------------------------------
create function public.get_usage(
  p_user_id uuid default null,
  p_from date default null,
  p_to date default null,
  p_group_by text[] default '{}'
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_user uuid;
  v_group text[] := coalesce(p_group_by, '{}');
  v_mark timestamptz;
  v_keys text := '';
  v_ledger text := 'true';
  v_tail text := 'm.created_at >= $4 and not m.metadata ? ''forked_from''';
  v_rows json;
begin
  if exists (select 1 from unnest(v_group) g where g not in ('day', 'model')) then
    raise exception 'group_by may hold day and model only' using errcode = '22023';
  end if;
  if p_from is not null and p_to is not null and p_from >= p_to then
    raise exception 'from must be before to' using errcode = '22023';
  end if;
  v_user := private.scope_user(p_user_id, 'read the usage of');
  select r.rolled_up_to into v_mark from private.usage_rollup r where r.id;
  if v_user is not null then
    v_ledger := v_ledger || ' and u.user_id = $1';
    v_tail := v_tail || ' and m.user_id = $1';
  end if;
  if p_from is not null then
    v_ledger := v_ledger || ' and u.day >= $2';
    v_tail := v_tail || ' and m.created_at >= $2::timestamp at time zone ''UTC''';
  end if;
  if p_to is not null then
    v_ledger := v_ledger || ' and u.day < $3';
    v_tail := v_tail || ' and m.created_at < $3::timestamp at time zone ''UTC''';
  end if;
  if 'day' = any (v_group) then v_keys := v_keys || 'per.day, '; end if;
  if 'model' = any (v_group) then v_keys := v_keys || 'per.model, '; end if;

  -- The ledger up to the mark, the messages since (a minute or two of them), then the groups
  -- asked for. The price joins once per (day, model); a cost is null where no price of the
  -- group's models is configured.
  execute format($sql$
    with per as (
      select u.day, u.model, u.messages, u.prompt_tokens, u.completion_tokens
        from public.ai_usage_daily u
       where %1$s
      union all
      select (m.created_at at time zone 'UTC')::date, coalesce(m.metadata ->> 'model', ''), count(*),
             sum(private.usage_tokens(m.metadata, 'prompt')), sum(private.usage_tokens(m.metadata, 'completion'))
        from public.ai_conversation_messages m
       where %2$s
       group by 1, 2
    ), rows as (
      select %3$s coalesce(sum(per.messages), 0)::bigint as messages,
             coalesce(sum(per.prompt_tokens), 0)::bigint as prompt_tokens,
             coalesce(sum(per.completion_tokens), 0)::bigint as completion_tokens,
             round(sum((per.prompt_tokens * p.prompt_per_million + per.completion_tokens * p.completion_per_million)
                       / 1000000), 6) as cost
        from per left join public.ai_model_prices p on p.model = per.model
       %4$s
    )
    select coalesce(json_agg(r %5$s), '[]'::json) from rows r
    $sql$,
    v_ledger,
    v_tail,
    v_keys,
    case when v_keys <> '' then 'group by ' || rtrim(v_keys, ', ') else '' end,
    case when v_keys <> '' then 'order by ' || replace(rtrim(v_keys, ', '), 'per.', 'r.') else '' end)
    into v_rows
    using v_user, p_from, p_to, v_mark;
  return json_build_object('user_id', v_user, 'from', p_from, 'to', p_to, 'group_by', to_json(v_group),
                           'rows', v_rows);
end
$$;
comment on function public.get_usage(uuid, date, date, text[]) is
  'Usage over the UTC days [p_from, p_to): messages, prompt_tokens, completion_tokens and cost (null '
  'without a price), in one row, or grouped by day and/or model; from the ledger (ai_usage_daily) '
  'plus the messages since its last roll-up. Users read their own (42501 when naming another user); '
  'the service one user''s (p_user_id) or everyone''s.';

create function private.wait_for_usage_rollup()
returns void
language sql
security definer
set search_path = ''
as $$
  select from private.usage_rollup r where r.id for update;
$$;
comment on function private.wait_for_usage_rollup() is
  'Takes the usage roll-up mark''s row lock until the transaction ends: waits for a roll-up in '
  'progress and holds off the next one (erase_user, before it deletes a user''s ledger rows). '
  'Security definer: callers hold no update privilege on the mark.';
