-- Rule: legal hold. Only the service sets or clears legal_hold. A held conversation never
-- expires (expires_at pinned to 9999-12-31, whatever anyone writes), and neither it nor its
-- messages can be deleted by anyone (its user, the service, cleanup, erasure) until the hold is
-- cleared; clearing it restarts the TTL. A dashboard view lists the holds.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(16);

select has_column('public', 'ai_conversations', 'legal_hold', 'ai_conversations.legal_hold exists');
select has_view('public', 'ai_conversation_legal_holds', 'the holds view exists');

select public.create_conversation('pgtap-hold-a1', '7f1e0000-0000-4000-8000-0000000017a1') is not null as setup \gset
select public.append_message('pgtap-hold-a1', 'user', 'evidence') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000017a1');
select throws_ok($$ select public.update_conversation('pgtap-hold-a1', '{"legal_hold": true}') $$, '42501', null,
                 'a user cannot set a legal hold through the RPC');
select throws_ok($$ update public.ai_conversations set legal_hold = true where conversation_id = 'pgtap-hold-a1' $$, '42501', null,
                 'a user cannot set a legal hold directly');

select tests.authenticate_as_service();
select is(public.update_conversation('pgtap-hold-a1', '{"legal_hold": true}')::jsonb ->> 'expires_at', '9999-12-31T23:59:59+00:00',
          'the service holds it: it never expires');
select is((select conversation_id::text from public.ai_conversation_legal_holds where conversation_id = 'pgtap-hold-a1'), 'pgtap-hold-a1',
          'the view lists it');
update public.ai_conversations set expires_at = now() - interval '1 hour' where conversation_id = 'pgtap-hold-a1';
select is((select expires_at from public.ai_conversations where conversation_id = 'pgtap-hold-a1'), '9999-12-31 23:59:59+00'::timestamptz,
          'expiring it by hand does not work while held');
select throws_ok($$ select public.delete_conversation('pgtap-hold-a1') $$, '42501', null, 'the service cannot delete it');
select throws_ok($$ select public.clear_conversation('pgtap-hold-a1') $$, '42501', null, 'nor clear its messages');
select throws_ok($$ delete from public.ai_conversation_messages where conversation_id = 'pgtap-hold-a1' $$, '42501', null,
                 'nor delete its messages directly');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000017a1');
select throws_ok($$ select public.delete_conversation('pgtap-hold-a1') $$, '42501', null, 'its user cannot delete it');
update public.ai_conversations set expires_at = now() where conversation_id = 'pgtap-hold-a1';
select is((select expires_at from public.ai_conversations where conversation_id = 'pgtap-hold-a1'), '9999-12-31 23:59:59+00'::timestamptz,
          'its user cannot expire it');

select tests.clear_authentication();
select is(public.cleanup_expired_conversations() >= 0, true, 'setup: cleanup runs');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-hold-a1'), 1,
          'cleanup leaves it and its messages');

select tests.authenticate_as_service();
select isnt(public.update_conversation('pgtap-hold-a1', '{"legal_hold": false}')::jsonb ->> 'expires_at', '9999-12-31T23:59:59+00:00',
            'clearing the hold restarts its TTL');
select lives_ok($$ select public.delete_conversation('pgtap-hold-a1') $$, 'once released it can be deleted');
select tests.clear_authentication();

select * from finish();
rollback;
