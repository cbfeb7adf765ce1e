-- Rule: the message readers are planned once per session. get_messages and get_conversation pin
-- the generic plan (the plan cache may otherwise re-plan every call, see 20261208200000); that
-- plan must give every caller its own answer (RLS is checked as the calling role, a plan made for
-- one role is never reused for another) and bound a cursor page by the index.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(10);

select is((select array_agg(p.proname::text order by p.proname) from pg_proc p
            where p.oid in ('public.get_messages(text, integer, bigint)'::regprocedure,
                            'public.get_conversation(text, integer, bigint)'::regprocedure)
              and 'plan_cache_mode=force_generic_plan' = any(p.proconfig)),
          array['get_conversation', 'get_messages'],
          'get_messages and get_conversation pin the generic plan');

-- Setup: A (...40a) owns a conversation of 30 messages, B (...40b) one of 3.
select public.create_conversation('pgtap-gen-a', '7f1e0000-0000-4000-8000-00000000040a') is not null as setup \gset
select count(public.append_message('pgtap-gen-a', 'user', 'a' || g)) = 30 as setup from generate_series(1, 30) g \gset
select public.create_conversation('pgtap-gen-b', '7f1e0000-0000-4000-8000-00000000040b') is not null as setup \gset
select count(public.append_message('pgtap-gen-b', 'user', 'b' || g)) = 3 as setup from generate_series(1, 3) g \gset

-- Every page of A's conversation, in one session, through the one cached plan.
select results_eq(
  $$ select p, (select array_agg((m ->> 'seq')::integer) from json_array_elements(public.get_messages('pgtap-gen-a', 4, p)) m)
       from generate_series(31, 2, -3) p $$,
  $$ select p, (select array_agg(s) from generate_series(greatest(1, p - 4), p - 1) s)
       from generate_series(31, 2, -3) p $$,
  'get_messages: each page is the 4 messages before the cursor, oldest first, down to the first'
);
select results_eq(
  $$ select p, (public.get_conversation('pgtap-gen-a', 4, p)::jsonb ->> 'next_cursor')::integer
       from generate_series(31, 2, -3) p $$,
  $$ select p, case when p - 4 > 1 then p - 4 end from generate_series(31, 2, -3) p $$,
  'get_conversation: next_cursor is the page''s oldest seq while older messages remain'
);
select is(json_array_length(public.get_messages('pgtap-gen-a', 4, 1)), 0, 'nothing before seq 1');

-- Roles in turn, in one session: the service, A, B, A again.
select tests.authenticate_as_service();
select is(json_array_length(public.get_messages('pgtap-gen-b', 10)), 3, 'the service reads B''s conversation');
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000040a');
select throws_ok($$ select public.get_messages('pgtap-gen-b', 10) $$, 'P0002', null,
                 'then A, in the same session, does not');
select throws_ok($$ select public.get_conversation('pgtap-gen-b', 10) $$, 'P0002', null,
                 'nor its conversation');
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000040b');
select is(json_array_length(public.get_conversation('pgtap-gen-b', 10) -> 'messages'), 3, 'then B reads its own');
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000040a');
select throws_ok($$ select public.get_messages('pgtap-gen-b', 10) $$, 'P0002', null,
                 'and A, after B, still does not');
select is(json_array_length(public.get_messages('pgtap-gen-a', 10)), 10, 'while A reads its own');

select * from finish();
rollback;
