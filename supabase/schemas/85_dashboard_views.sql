-- Dashboard views for admins (Supabase SQL editor, table view). Views are security_invoker, so
-- RLS of the caller applies; they are granted to service_role only.
--
-- (Supabase Realtime's postgres_changes on new messages needs ai_conversation_messages in the
-- supabase_realtime publication: a publication change, which declarative schemas cannot express;
-- the migration 20261126080500_dashboard_views.sql adds it.)

-- Conversations ---------------------------------------------------------------------------------
create view public.ai_conversation_recent with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.message_count, c.created_at, c.updated_at, c.expires_at,
         c.expires_at <= now() as expired
    from public.ai_conversations c
   order by c.updated_at desc;
comment on view public.ai_conversation_recent is 'Conversations, most recently active first, with message counts.';

create view public.ai_conversation_most_active with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.message_count, c.updated_at - c.created_at as age, c.updated_at
    from public.ai_conversations c
   where c.expires_at > now()
   order by c.message_count desc, c.updated_at desc;
comment on view public.ai_conversation_most_active is 'Live conversations with the most messages first.';

create view public.ai_conversation_user_activity with (security_invoker = true) as
  select c.user_id, count(*) as conversations, sum(c.message_count) as messages,
         min(c.created_at) as first_seen, max(c.updated_at) as last_active
    from public.ai_conversations c
   group by c.user_id
   order by max(c.updated_at) desc;
comment on view public.ai_conversation_user_activity is 'Per user (NULL: anonymous): conversations, messages, first and last activity.';

create view public.ai_conversation_length_stats with (security_invoker = true) as
  select count(*) as conversations,
         round(avg(c.message_count), 2) as avg_messages,
         percentile_cont(0.5) within group (order by c.message_count) as p50_messages,
         percentile_cont(0.9) within group (order by c.message_count) as p90_messages,
         max(c.message_count) as max_messages
    from public.ai_conversations c;
comment on view public.ai_conversation_length_stats is 'Average and percentile conversation length in messages.';

create view public.ai_conversation_titles with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.title, c.archived, c.pinned, c.tags, c.message_count,
         c.updated_at, c.expires_at <= now() as expired
    from public.ai_conversations c
   order by c.updated_at desc;
comment on view public.ai_conversation_titles is 'Conversations with their titles, flags and tags, most recently active first.';

create view public.ai_conversation_legal_holds with (security_invoker = true) as
  select c.conversation_id, c.user_id, c.title, c.message_count, c.created_at, c.updated_at
    from public.ai_conversations c
   where c.legal_hold
   order by c.updated_at desc;
comment on view public.ai_conversation_legal_holds is 'Conversations under legal hold: kept past their TTL, cleanup and erasure.';

-- Messages --------------------------------------------------------------------------------------
create view public.ai_conversation_duration_stats with (security_invoker = true) as
  with spans as (
    select m.conversation_id, max(m.created_at) - min(m.created_at) as duration
      from public.ai_conversation_messages m
     group by m.conversation_id
  )
  select count(*) as conversations,
         avg(s.duration) as avg_duration,
         percentile_cont(0.5) within group (order by s.duration) as p50_duration,
         percentile_cont(0.9) within group (order by s.duration) as p90_duration,
         max(s.duration) as max_duration
    from spans s;
comment on view public.ai_conversation_duration_stats is 'Time from first to last message of a conversation: average and percentiles.';

create view public.ai_conversation_peak_hours with (security_invoker = true) as
  select extract(hour from m.created_at at time zone 'UTC')::integer as hour_utc,
         count(*) as messages,
         count(distinct m.conversation_id) as conversations
    from public.ai_conversation_messages m
   group by 1
   order by 1;
comment on view public.ai_conversation_peak_hours is 'Messages and active conversations per hour of the day (UTC).';

create view public.ai_conversation_role_distribution with (security_invoker = true) as
  select m.role, count(*) as messages,
         round(100.0 * count(*) / nullif(sum(count(*)) over (), 0), 2) as percent
    from public.ai_conversation_messages m
   group by m.role
   order by count(*) desc;
comment on view public.ai_conversation_role_distribution is 'Messages per role and their share.';

-- Feedback and usage ------------------------------------------------------------------------------
create view public.ai_feedback_by_model_day with (security_invoker = true) as
  select (f.updated_at at time zone 'UTC')::date as day,
         coalesce(m.metadata ->> 'model', '') as model,
         count(*) as ratings,
         count(*) filter (where f.rating = 1) as thumbs_up,
         count(*) filter (where f.rating = -1) as thumbs_down,
         round(avg(f.rating), 3) as score
    from public.ai_message_feedback f
    join public.ai_conversation_messages m on m.conversation_id = f.conversation_id and m.seq = f.seq
   group by 1, 2
   order by 1 desc, 2;
comment on view public.ai_feedback_by_model_day is
  'Ratings per day (UTC, of the latest rating) and model of the rated message: count, up, down, mean.';

create view public.ai_usage_by_day_model with (security_invoker = true) as
  select u.day, u.model, sum(u.messages) as messages, sum(u.prompt_tokens) as prompt_tokens,
         sum(u.completion_tokens) as completion_tokens,
         round(sum((u.prompt_tokens * p.prompt_per_million + u.completion_tokens * p.completion_per_million) / 1000000), 6) as cost
    from public.ai_usage_daily u
    left join public.ai_model_prices p on p.model = u.model
   group by 1, 2
   order by 1 desc, 2;
comment on view public.ai_usage_by_day_model is
  'Messages, tokens and cost per UTC day and model, all users (the ledger, up to a minute ago).';

create view public.ai_usage_by_user with (security_invoker = true) as
  select u.user_id, sum(u.messages) as messages, sum(u.prompt_tokens) as prompt_tokens,
         sum(u.completion_tokens) as completion_tokens,
         round(sum((u.prompt_tokens * p.prompt_per_million + u.completion_tokens * p.completion_per_million) / 1000000), 6) as cost,
         max(u.day) as last_day
    from public.ai_usage_daily u
    left join public.ai_model_prices p on p.model = u.model
   group by u.user_id
   order by 2 desc;
comment on view public.ai_usage_by_user is
  'Messages, tokens and cost per user (null: anonymous conversations), the ledger up to a minute ago.';

revoke all on
  public.ai_conversation_recent, public.ai_conversation_most_active, public.ai_conversation_user_activity,
  public.ai_conversation_length_stats, public.ai_conversation_titles, public.ai_conversation_legal_holds,
  public.ai_conversation_duration_stats, public.ai_conversation_peak_hours,
  public.ai_conversation_role_distribution, public.ai_feedback_by_model_day,
  public.ai_usage_by_day_model, public.ai_usage_by_user
from public, anon, authenticated;
grant select on
  public.ai_conversation_recent, public.ai_conversation_most_active, public.ai_conversation_user_activity,
  public.ai_conversation_length_stats, public.ai_conversation_titles, public.ai_conversation_legal_holds,
  public.ai_conversation_duration_stats, public.ai_conversation_peak_hours,
  public.ai_conversation_role_distribution, public.ai_feedback_by_model_day,
  public.ai_usage_by_day_model, public.ai_usage_by_user
to service_role;
