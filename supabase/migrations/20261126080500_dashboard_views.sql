-- Conversation storage, part 6: dashboard views for admins (Supabase SQL editor, table view)
-- and the realtime publication. Views are security_invoker, so RLS of the caller applies;
-- they are granted to service_role only.

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

revoke all on
  public.ai_conversation_recent, public.ai_conversation_most_active, public.ai_conversation_user_activity,
  public.ai_conversation_length_stats, public.ai_conversation_duration_stats,
  public.ai_conversation_peak_hours, public.ai_conversation_role_distribution
from public, anon, authenticated;
grant select on
  public.ai_conversation_recent, public.ai_conversation_most_active, public.ai_conversation_user_activity,
  public.ai_conversation_length_stats, public.ai_conversation_duration_stats,
  public.ai_conversation_peak_hours, public.ai_conversation_role_distribution
to service_role;

-- Supabase Realtime: postgres_changes on new messages (RLS decides who receives what).
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables
                      where pubname = 'supabase_realtime'
                        and schemaname = 'public' and tablename = 'ai_conversation_messages') then
    alter publication supabase_realtime add table public.ai_conversation_messages;
  end if;
end
$$;
