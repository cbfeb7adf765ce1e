-- Rule: no lifetime beyond max_ttl_hours, including the settings' own default and sliding expiry.
--
-- The settings row refuses ttl_hours above max_ttl_hours (23514), since no conversation could be
-- created with it; an append slides expires_at to at most now() + max_ttl_hours, also for a
-- conversation whose ttl_hours exceeds a max_ttl_hours lowered after it was created, and never
-- shortens a lifetime.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(7);

select throws_ok($$ update public.ai_conversation_settings set ttl_hours = 48, max_ttl_hours = 24 $$,
                 '23514', null, 'settings: ttl_hours above max_ttl_hours is refused (23514)');
select throws_ok($$ update public.ai_conversation_settings set max_ttl_hours = ttl_hours - 1 $$,
                 '23514', null, 'settings: max_ttl_hours may not be lowered below ttl_hours (23514)');
select lives_ok($$ update public.ai_conversation_settings set ttl_hours = 24, max_ttl_hours = 24 $$,
                'settings: ttl_hours equal to max_ttl_hours is accepted');

-- A conversation created with 100 hours, then the maximum lowered to 24.
update public.ai_conversation_settings set ttl_hours = 24, max_ttl_hours = 200;
select public.create_conversation('pgtap-ttlb-1', null, '{}', 100) is not null as setup \gset
update public.ai_conversations set expires_at = now() + interval '1 hour' where conversation_id = 'pgtap-ttlb-1';
update public.ai_conversation_settings set max_ttl_hours = 24;

select lives_ok($$ select public.append_message('pgtap-ttlb-1', 'user', 'hi') $$, 'an append still works');
select is((select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttlb-1'),
          now() + interval '24 hours',
          'the append slid expires_at to now() + max_ttl_hours (24 h), not now() + ttl_hours (100 h)');

-- A conversation whose expiry is already later than the cap keeps it (sliding never shortens).
update public.ai_conversation_settings set max_ttl_hours = 200;
update public.ai_conversations set expires_at = now() + interval '30 hours' where conversation_id = 'pgtap-ttlb-1';
update public.ai_conversation_settings set max_ttl_hours = 24;
select lives_ok($$ select public.append_message('pgtap-ttlb-1', 'user', 'again') $$, 'a second append');
select is((select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttlb-1'),
          now() + interval '30 hours',
          'an expiry already beyond the cap is neither moved further nor shortened');

select * from finish();
rollback;
