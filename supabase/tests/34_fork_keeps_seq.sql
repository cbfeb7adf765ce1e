-- Rule: a fork keeps seq. The copies of messages 1..at_seq carry their source's seq numbers, holes
-- included (a cleared source, a deleted message), and the fork's last_seq is at_seq, so its next
-- message is at_seq + 1. Only fork_conversation's helper keeps a given seq: it still checks the
-- caller and copies only into an empty fork of the same owner.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(11);

-- A cleared-then-appended source: seqs 1..3 cleared, then 4..7; message 6 deleted (a hole).
select public.create_conversation('pgtap-fks-a1', '7f1e0000-0000-4000-8000-0000000031a1') is not null as setup \gset
select public.create_conversation('pgtap-fks-a2', '7f1e0000-0000-4000-8000-0000000031a1') is not null as setup \gset
select public.create_conversation('pgtap-fks-b1', '7f1e0000-0000-4000-8000-0000000031b1') is not null as setup \gset
select count(public.append_message('pgtap-fks-a1', 'user', 'old' || i)) = 3 as setup from generate_series(1, 3) i \gset
select public.clear_conversation('pgtap-fks-a1') is not null as setup \gset
select count(public.append_message('pgtap-fks-a1', case when i % 2 = 0 then 'user' else 'assistant' end, 'm' || i)) = 4 as setup
  from generate_series(4, 7) i \gset
delete from public.ai_conversation_messages where conversation_id = 'pgtap-fks-a1' and seq = 6;
select public.append_message('pgtap-fks-a2', 'user', 'a2') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000031a1');
select public.fork_conversation('pgtap-fks-a1', 5) ->> 'conversation_id' as fork5 \gset
select results_eq(format($$ select seq, content, (metadata -> 'forked_from' ->> 'seq')::bigint
                              from public.ai_conversation_messages where conversation_id = %L order by seq $$, :'fork5'),
                  $$ values (4::bigint, 'm4', 4::bigint), (5, 'm5', 5) $$,
                  'a fork of a cleared-then-appended source keeps the seqs 4 and 5');
select is((public.get_conversation(:'fork5', 0) ->> 'last_seq')::integer, 5, 'the fork''s last_seq is at_seq');
select is((public.get_conversation(:'fork5', 0) ->> 'message_count')::integer, 2, 'it holds the two copies');
select is((public.append_message(:'fork5', 'user', 'edited') -> 'message' ->> 'seq')::integer, 6,
          'the fork''s next message gets at_seq + 1');

select public.fork_conversation('pgtap-fks-a1', 6) ->> 'conversation_id' as fork6 \gset
select results_eq(format($$ select seq from public.ai_conversation_messages where conversation_id = %L order by seq $$, :'fork6'),
                  $$ values (4::bigint), (5) $$, 'forked at a deleted message: the copies stop before the hole');
select is((public.append_message(:'fork6', 'user', 'x') -> 'message' ->> 'seq')::integer, 7,
          'and the fork still continues at at_seq + 1');
select public.fork_conversation('pgtap-fks-a1', 7) ->> 'conversation_id' as fork7 \gset
select results_eq(format($$ select seq from public.ai_conversation_messages where conversation_id = %L order by seq $$, :'fork7'),
                  $$ values (4::bigint), (5), (7) $$, 'a hole inside the range is kept as a hole');

select throws_ok($$ select private.copy_messages_for_fork('pgtap-fks-a1', 'pgtap-fks-a2', 5) $$, 'P0002', null,
                 'the copy helper refuses a fork that already holds messages');
select throws_ok($$ select private.copy_messages_for_fork('pgtap-fks-b1', 'pgtap-fks-a2', 1) $$, 'P0002', null,
                 'A cannot copy B''s messages with the helper');
select throws_ok($$ insert into public.ai_conversation_messages (conversation_id, seq, role, content)
                    values ('pgtap-fks-a2', 100, 'user', 'x') $$, '42501', null,
                 'A cannot name a seq (no column grant), fork setting or not');

select tests.authenticate_as_service();
select set_config('private.copying_into', '', true) is not null as setup \gset
insert into public.ai_conversation_messages (conversation_id, seq, role, content) values ('pgtap-fks-a2', 100, 'user', 'svc');
select is((select max(seq)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-fks-a2'), 2,
          'a service''s direct insert naming a seq still gets the next one');

select * from finish();
rollback;
