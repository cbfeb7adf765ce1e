-- Rule: one call finishes a turn (finish_turn): its output stored in order (a message without its
-- own key takes the turn's K:assistant, then K:output:n), its state and result recorded, its last
-- seq moved; a completed turn answers its stored output again and stores nothing (a retry); a
-- failed turn can be begun again with its key and resumes.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(9);

select public.create_conversation('pgtap-ft-a', '7f1e0000-0000-4000-8000-0000000045a1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000045a1');
select (public.begin_turn('[{"role": "user", "content": "2+2?"}]', 'pgtap-ft-a', p_idempotency_key => 'k')::jsonb -> 'turn' ->> 'id') as turn \gset

select throws_ok(format($$ select public.finish_turn(%L, '[]', 'done') $$, :'turn'), '22023', null, 'an unknown state is refused');
select public.finish_turn(:'turn', '[{"role": "assistant", "content": "4."}, {"role": "assistant", "content": "{}", "metadata": {"tool_call": {"id": "c", "name": "f"}}}]',
                          'completed', '{"model": "m"}')::jsonb as done \gset
select is((select array_agg(idempotency_key::text order by seq) from public.ai_conversation_messages where conversation_id = 'pgtap-ft-a' and role = 'assistant'),
          array['k:assistant', 'k:output:2'], 'the output takes keys from the turn''s');
select is((select state || ':' || last_seq from public.ai_turns where id = :'turn'::uuid), 'completed:3',
          'the turn is completed at its last output message');
select is((select result from public.ai_turns where id = :'turn'::uuid), '{"model": "m"}'::jsonb, 'with its result');
select is((public.finish_turn(:'turn', '[{"role": "assistant", "content": "four"}]')::jsonb ->> 'replayed')::boolean, true,
          'finishing it again answers what it stored');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-ft-a'), 3,
          'and stores nothing');
select is((public.begin_turn('[{"role": "user", "content": "2+2?"}]', 'pgtap-ft-a', p_idempotency_key => 'k')::jsonb -> 'reply' ->> 'content'),
          '4.', 'a retry of the turn answers its reply');

select (public.begin_turn('[{"role": "user", "content": "later"}]', 'pgtap-ft-a', p_idempotency_key => 'k2')::jsonb -> 'turn' ->> 'id') as failing \gset
select is(public.finish_turn(:'failing', '[]', 'failed', '{"error": {"code": "provider_timeout"}}')::jsonb -> 'turn' ->> 'state', 'failed',
          'a failed turn says so, storing nothing');
select is(public.begin_turn('[{"role": "user", "content": "later"}]', 'pgtap-ft-a', p_idempotency_key => 'k2')::jsonb -> 'turn' ->> 'state', 'in_progress',
          'and its retry resumes it');

select * from finish();
rollback;
