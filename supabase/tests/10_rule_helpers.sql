-- Rule: each small rule is written once, in a helper the planner inlines.
--
-- The ownership predicate, the page-size check and the conversation JSON are SQL-standard
-- functions without a SET clause and are inlined where they are used (policies included: the
-- caller's uid stays an InitPlan, evaluated once per statement); the raisers give the documented
-- errors; the store closes its own functions one by one, not by default privileges, so a
-- function created after it (a host application's) keeps PostgreSQL's defaults (issue 21; more
-- in 62_default_privileges.sql); the append trigger applies the same ownership rule as the
-- policies.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(18);

-- Inlinable: SQL-standard body, no SET clause, not security definer --------------------------------
select results_eq(
  $$ select p.oid::regprocedure::text collate "default", p.prosqlbody is not null, p.proconfig is null, p.prosecdef
       from pg_proc p
      where p.oid in ('private.check_limit(text, integer, integer, integer)'::regprocedure,
                      'private.is_owner(uuid, uuid)'::regprocedure,
                      'private.is_own_live(uuid, timestamptz, uuid)'::regprocedure,
                      'private.conversation_json(public.ai_conversations)'::regprocedure,
                      'private.json_concat(json, json)'::regprocedure)
      order by 1 $$,
  $$ values ('private.check_limit(text,integer,integer,integer)', true, true, false),
            ('private.conversation_json(ai_conversations)', true, true, false),
            ('private.is_own_live(uuid,timestamp with time zone,uuid)', true, true, false),
            ('private.is_owner(uuid,uuid)', true, true, false),
            ('private.json_concat(json,json)', true, true, false) $$,
  'the rule helpers are SQL-standard functions without a SET clause, security invoker'
);
select unalike(tests.plan($$ select private.check_limit('limit', v, 1, 10) from (values (5)) x(v) $$),
               '%check_limit%', 'check_limit is inlined');
select unalike(tests.plan($$ select private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))
                               from public.ai_conversations c $$),
               '%is_o%', 'is_own_live and is_owner are inlined');
select unalike(tests.plan($$ select private.json_concat(private.conversation_json(c), '{"x": 1}') from public.ai_conversations c $$),
               '%private.%', 'conversation_json and json_concat are inlined');

-- The rules themselves ------------------------------------------------------------------------------
select ok(private.check_limit('limit', 1, 1, 10) and private.check_limit('limit', 10, 1, 10)
          and private.check_limit('limit', 0, 0, 10), 'check_limit accepts both bounds');
select throws_ok($$ select private.check_limit('limit', 11, 1, 10) $$, '22023', 'limit must be between 1 and 10',
                 'check_limit rejects a value above the maximum (22023)');
select throws_ok($$ select private.check_limit('history_limit', 0, 1, 10) $$, '22023', 'history_limit must be between 1 and 10',
                 'check_limit rejects a value below the minimum (22023)');
select throws_ok($$ select private.check_limit('limit', null, 1, 10) $$, '22023', 'limit must be between 1 and 10',
                 'check_limit rejects null (22023)');
select throws_ok($$ select private.not_found('pgtap-missing') $$, 'P0002', 'conversation pgtap-missing not found or expired',
                 'not_found raises P0002 with the conversation id');
select ok(private.is_owner('7f1e0000-0000-4000-8000-00000000000a', '7f1e0000-0000-4000-8000-00000000000a'),
          'is_owner: the same user');
select ok(not private.is_owner('7f1e0000-0000-4000-8000-00000000000a', '7f1e0000-0000-4000-8000-00000000000b'),
          'is_owner: another user');
select ok(private.is_owner(null, null) is not true, 'is_owner: an anonymous conversation is nobody''s, not even a token without sub''s');
select ok(not private.is_own_live('7f1e0000-0000-4000-8000-00000000000a', now() - interval '1 second',
                                  '7f1e0000-0000-4000-8000-00000000000a'),
          'is_own_live: an expired conversation is not live');
select is(private.json_concat('{"a" : 1}', '{"b" : [2], "c" : null}')::jsonb, '{"a": 1, "b": [2], "c": null}'::jsonb,
          'json_concat joins the keys of two objects');

select public.create_conversation('pgtap-rule-a', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rule-anon') is not null as setup \gset
select is(
  public.get_conversation('pgtap-rule-a', 0)::jsonb - 'messages' - 'next_cursor',
  (select private.conversation_json(c)::jsonb from public.ai_conversations c where c.conversation_id = 'pgtap-rule-a'),
  'get_conversation returns the conversation_json shape, plus messages and next_cursor'
);

-- Policies keep (select auth.uid()) as one InitPlan per statement -------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select alike(tests.plan($$ select * from public.ai_conversations where conversation_id = 'pgtap-rule-a' $$),
             '%InitPlan%', 'the conversations policy evaluates the caller''s uid once (InitPlan)');

-- The append trigger applies the same rule: a token without sub owns no conversation -----------------
select tests.authenticate_as(null);
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rule-anon', 'user', 'x') $$,
  'P0002', null,
  'a token without sub cannot append to an anonymous conversation (P0002)'
);
select tests.clear_authentication();

-- New functions keep the defaults: the store closes its own by name --------------------------------
create function public.pgtap_new_function() returns integer language sql begin atomic select 1; end;
select is(
  (select p.proacl from pg_proc p where p.oid = 'public.pgtap_new_function()'::regprocedure), null,
  'a function created after the migrations has PostgreSQL''s default privileges (the store changes no default)'
);

select * from finish();
rollback;
