-- Rule: statistics and dashboard views.
--
-- conversation_stats() has the seed's keys (total_conversations, total_messages,
-- expired_conversations, ttl_hours, plus active_conversations) with values equal to the real
-- counts, and ttl_hours from the settings row. Each dashboard view reports the data created here.
--
-- Other rows may exist, and other sessions may be writing while this runs: every figure is
-- compared with an independent count taken in the same statement (one snapshot), and views with
-- one row per conversation or user are filtered to this test's rows. Deltas are used only where
-- concurrent writers cannot move them.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(24);

-- conversation_stats equal to the real counts, in one snapshot
create function pg_temp.stats_match_counts() returns boolean
language sql as $$
  select (s ->> 'total_conversations')::bigint = (select count(*) from public.ai_conversations)
     and (s ->> 'total_messages')::bigint = (select count(*) from public.ai_conversation_messages)
     and (s ->> 'expired_conversations')::bigint = (select count(*) from public.ai_conversations where expires_at <= now())
     and (s ->> 'active_conversations')::bigint = (select count(*) from public.ai_conversations where expires_at > now())
    from (select public.conversation_stats()::jsonb as s) x
$$;
-- New functions are closed by default (see the privileges migration): open it to the service.
grant execute on function pg_temp.stats_match_counts() to service_role;

select ok(pg_temp.stats_match_counts(), 'before the test, conversation_stats equals the real counts');

-- Setup (as postgres): user S has a live conversation of 4 messages spanning 30 minutes and a live
-- one of 1 message; an anonymous conversation of 2 messages has expired.
select public.create_conversation('pgtap-st-1', '7f1e0000-0000-4000-8000-0000000000f1') is not null as setup \gset
select public.create_conversation('pgtap-st-2', '7f1e0000-0000-4000-8000-0000000000f1') is not null as setup \gset
select public.create_conversation('pgtap-st-3') is not null as setup \gset
insert into public.ai_conversation_messages (conversation_id, role, content, created_at)
values ('pgtap-st-1', 'user', 'q1', now() - interval '30 minutes'),
       ('pgtap-st-1', 'assistant', 'a1', now() - interval '29 minutes'),
       ('pgtap-st-1', 'tool', 't1', now() - interval '10 minutes'),
       ('pgtap-st-1', 'assistant', 'a2', now()),
       ('pgtap-st-2', 'user', 'q', now()),
       ('pgtap-st-3', 'user', 'q', now()),
       ('pgtap-st-3', 'assistant', 'a', now());
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-st-3';

select tests.authenticate_as_service();

-- conversation_stats ------------------------------------------------------------------------------
select results_eq(
  $$ select k from jsonb_object_keys(public.conversation_stats()::jsonb) k order by 1 $$,
  $$ values ('active_conversations'), ('expired_conversations'), ('total_conversations'), ('total_messages'), ('ttl_hours') $$,
  'conversation_stats has the keys total_conversations, total_messages, expired_conversations, active_conversations, ttl_hours'
);
select ok(pg_temp.stats_match_counts(),
          'after 3 conversations, 7 messages and an expiry, conversation_stats equals the real counts');
select ok((public.conversation_stats()::jsonb ->> 'expired_conversations')::bigint >= 1,
          'the expired conversation is counted as expired');
select is((public.conversation_stats()::jsonb ->> 'ttl_hours')::integer,
          (select ttl_hours from public.ai_conversation_settings),
          'ttl_hours is the settings value');
select tests.clear_authentication();
update public.ai_conversation_settings set ttl_hours = 7;
select tests.authenticate_as_service();
select is((public.conversation_stats()::jsonb ->> 'ttl_hours')::integer, 7,
          'ttl_hours follows a change of the settings');

select ok(public.cleanup_expired_conversations() >= 1, 'cleanup removes the expired conversation');
select ok(pg_temp.stats_match_counts(), 'after cleanup, conversation_stats equals the real counts');
-- a delta no other session can move: rows this transaction deletes are locked by it
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_messages where conversation_id like 'pgtap-st-%' $$,
  $$ values (5) $$,
  'the expired conversation''s 2 messages are gone, the 5 others remain'
);

-- Dashboard views, per conversation / per user (as service_role) ------------------------------------
select results_eq(
  $$ select conversation_id::text, user_id, message_count, expired from public.ai_conversation_recent
      where conversation_id like 'pgtap-st-%' order by 1 $$,
  $$ values ('pgtap-st-1', '7f1e0000-0000-4000-8000-0000000000f1'::uuid, 4, false),
            ('pgtap-st-2', '7f1e0000-0000-4000-8000-0000000000f1'::uuid, 1, false) $$,
  'ai_conversation_recent lists the conversations with their message counts'
);
select tests.clear_authentication();
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-st-2';
select tests.authenticate_as_service();
select results_eq(
  $$ select conversation_id::text, expired from public.ai_conversation_recent where conversation_id like 'pgtap-st-%' order by 1 $$,
  $$ values ('pgtap-st-1', false), ('pgtap-st-2', true) $$,
  'ai_conversation_recent flags an expired conversation awaiting cleanup'
);
select results_eq(
  $$ select conversation_id::text, message_count, age from public.ai_conversation_most_active
      where conversation_id like 'pgtap-st-%' $$,
  $$ values ('pgtap-st-1', 4, interval '0') $$,
  'ai_conversation_most_active lists live conversations only, with their message counts'
);
select tests.clear_authentication();
update public.ai_conversations set expires_at = now() + interval '1 hour' where conversation_id = 'pgtap-st-2';
select tests.authenticate_as_service();
select results_eq(
  $$ select conversation_id::text from (
       select conversation_id, row_number() over () as n from public.ai_conversation_most_active) v
      where conversation_id like 'pgtap-st-%' order by n $$,
  $$ values ('pgtap-st-1'), ('pgtap-st-2') $$,
  'ai_conversation_most_active is ordered by message count, most first (4 before 1)'
);
select results_eq(
  $$ select conversations, messages, first_seen <= last_active from public.ai_conversation_user_activity
      where user_id = '7f1e0000-0000-4000-8000-0000000000f1' $$,
  $$ values (2::bigint, 5::bigint, true) $$,
  'ai_conversation_user_activity reports the user''s 2 conversations and 5 messages'
);
select ok(
  exists (select 1 from public.ai_conversation_user_activity where user_id is null)
    = exists (select 1 from public.ai_conversations where user_id is null),
  'ai_conversation_user_activity has a row for anonymous conversations exactly when some exist'
);

-- Dashboard views over everything: equal to an independent computation in the same statement --------
select is_empty(
  $$ with v as (select * from public.ai_conversation_length_stats),
          r as (select count(*) as conversations, round(avg(message_count), 2) as avg_messages,
                       percentile_cont(0.5) within group (order by message_count) as p50_messages,
                       percentile_cont(0.9) within group (order by message_count) as p90_messages,
                       max(message_count) as max_messages
                  from public.ai_conversations)
     (select * from v except select * from r) union all (select * from r except select * from v) $$,
  'ai_conversation_length_stats equals count, average, percentiles and maximum of message_count'
);
select ok((select max_messages >= 4 and conversations >= 2 from public.ai_conversation_length_stats),
          'ai_conversation_length_stats includes this test''s conversations');
select is_empty(
  $$ with v as (select * from public.ai_conversation_duration_stats),
          s as (select max(created_at) - min(created_at) as d from public.ai_conversation_messages group by conversation_id),
          r as (select count(*) as conversations, avg(d) as avg_duration,
                       percentile_cont(0.5) within group (order by d) as p50_duration,
                       percentile_cont(0.9) within group (order by d) as p90_duration, max(d) as max_duration from s)
     (select * from v except select * from r) union all (select * from r except select * from v) $$,
  'ai_conversation_duration_stats equals the first-to-last message spans'' count, average, percentiles and maximum'
);
select ok((select max_duration >= interval '30 minutes' from public.ai_conversation_duration_stats),
          'ai_conversation_duration_stats includes this test''s 30-minute conversation');
select is_empty(
  $$ with v as (select * from public.ai_conversation_peak_hours),
          r as (select extract(hour from created_at at time zone 'UTC')::integer as hour_utc, count(*) as messages,
                       count(distinct conversation_id) as conversations
                  from public.ai_conversation_messages group by 1)
     (select * from v except select * from r) union all (select * from r except select * from v) $$,
  'ai_conversation_peak_hours equals the messages and conversations per UTC hour'
);
select ok(
  (select messages >= 2 and conversations >= 2 from public.ai_conversation_peak_hours
    where hour_utc = extract(hour from now() at time zone 'UTC')::integer),
  'ai_conversation_peak_hours puts this hour''s messages in this hour (UTC)'
);
select is_empty(
  $$ with v as (select * from public.ai_conversation_role_distribution),
          r as (select role, count(*) as messages,
                       round(100.0 * count(*) / sum(count(*)) over (), 2) as percent
                  from public.ai_conversation_messages group by role)
     (select * from v except select * from r) union all (select * from r except select * from v) $$,
  'ai_conversation_role_distribution equals the messages per role and their share'
);
select ok(
  (select messages >= 1 from public.ai_conversation_role_distribution where role = 'tool')
    and (select abs(sum(percent) - 100) < 0.05 from public.ai_conversation_role_distribution),
  'ai_conversation_role_distribution counts the tool message, and the shares add up to 100 percent'
);
select ok(
  (select messages from public.ai_conversation_role_distribution limit 1)
    = (select max(messages) from public.ai_conversation_role_distribution),
  'ai_conversation_role_distribution lists the most frequent role first'
);

select tests.clear_authentication();
select * from finish();
rollback;
