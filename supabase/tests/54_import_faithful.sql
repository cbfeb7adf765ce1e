-- Rule: export and import are a faithful copy (issue 22, item 3).
--
-- The export carries title, tags, pinned, archived, legal_hold, last_seq and, on each rated
-- message, the ratings its exporter may read (RLS: a user its own, the service all); the import
-- restores all of it: seqs (holes included) and ids, the title even when null, updated_at, the
-- legal hold, the ratings. Timestamps are checked like any write's (22023, nothing stored).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(17);

-- A cleared conversation (1-3 gone) whose summary covers [4, 5], with a hole (seq 7 deleted).
select public.create_conversation('pgtap-faithful', '7f1e0000-0000-4000-8000-0000000000fa', '{"k": 1}', 48) is not null as setup \gset
select count(public.append_message('pgtap-faithful', 'user', 'early ' || n)) = 3 as setup from generate_series(1, 3) n \gset
select public.clear_conversation('pgtap-faithful') is not null as setup \gset
select count(public.append_message('pgtap-faithful', r, c)) = 2 as setup
  from (values ('user', 'four'), ('assistant', 'five')) v(r, c) \gset
select public.append_summary('pgtap-faithful', 'four and five', 4, 5) is not null as setup \gset
select count(public.append_message('pgtap-faithful', 'user', 'm' || n)) = 2 as setup from generate_series(7, 8) n \gset
delete from public.ai_conversation_messages where conversation_id = 'pgtap-faithful' and seq = 7;
select public.update_conversation('pgtap-faithful', '{"title": null, "tags": ["a", "b"], "pinned": true, "archived": true}') is not null as setup \gset
select public.set_message_feedback('pgtap-faithful', 5, 1, 'service says yes') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000fa');
select public.set_message_feedback('pgtap-faithful', 5, -1, 'owner says no') is not null as setup \gset
select is(jsonb_array_length(public.export_conversation('pgtap-faithful')::jsonb #> '{messages,1,feedback}'), 1,
          'a user''s export carries its own rating only');
select tests.clear_authentication();
update public.ai_conversations set legal_hold = true where conversation_id = 'pgtap-faithful';

create temp table exported on commit drop as select public.export_conversation('pgtap-faithful')::jsonb as doc;
grant select on exported to service_role;
create temp table stored on commit drop as
  select (select to_jsonb(c) - 'id' - 'tokens_appended' from public.ai_conversations c where c.conversation_id = 'pgtap-faithful') as conversation,
         (select jsonb_agg(to_jsonb(m) - 'tokens_before' order by m.seq) from public.ai_conversation_messages m
           where m.conversation_id = 'pgtap-faithful') as messages,
         (select jsonb_agg(to_jsonb(f) - 'id' order by f.seq, f.user_id nulls first) from public.ai_message_feedback f
           where f.conversation_id = 'pgtap-faithful') as feedback;

select is((select array[doc ->> 'title', doc ->> 'tags', doc ->> 'pinned', doc ->> 'archived', doc ->> 'legal_hold', doc ->> 'last_seq']
             from exported),
          array[null, '["a", "b"]', 'true', 'true', 'true', '8'],
          'the export carries title (null), tags, pinned, archived, legal_hold and last_seq');
select is((select array_agg((m ->> 'seq')::int order by n) from exported, jsonb_array_elements(doc -> 'messages') with ordinality x(m, n)),
          array[4, 5, 6, 8], 'and every message with its seq, holes included');
select is((select jsonb_array_length(doc #> '{messages,1,feedback}') from exported), 2,
          'the service''s export carries every rating of a rated message');
select is((select count(*)::int from exported, jsonb_array_elements(doc -> 'messages') m where m ? 'feedback'), 1,
          'and no feedback key on a message nobody rated');

-- The round trip.
update public.ai_conversations set legal_hold = false where conversation_id = 'pgtap-faithful';
select public.delete_conversation('pgtap-faithful') is not null as setup \gset
select tests.authenticate_as_service();
select lives_ok($$ select public.import_conversation(doc) from exported $$,
                'a conversation whose summary covers messages after a clear imports');
select tests.clear_authentication();
select is(public.export_conversation('pgtap-faithful')::jsonb, (select doc from exported),
          'exporting the import gives the same document, timestamps and ids included');
select is((select to_jsonb(c) - 'id' - 'tokens_appended' from public.ai_conversations c where c.conversation_id = 'pgtap-faithful'),
          (select conversation from stored), 'the conversation row is the same (but its running token sum)');
select is((select jsonb_agg(to_jsonb(m) - 'tokens_before' order by m.seq) from public.ai_conversation_messages m
            where m.conversation_id = 'pgtap-faithful'),
          (select messages from stored), 'the messages are the same rows: ids, seqs, keys, timestamps, token counts');
select is((select jsonb_agg(to_jsonb(f) - 'id' order by f.seq, f.user_id nulls first) from public.ai_message_feedback f
            where f.conversation_id = 'pgtap-faithful'),
          (select feedback from stored), 'the ratings are the same');
select is((select expires_at from public.ai_conversations where conversation_id = 'pgtap-faithful'), private.held_until(),
          'a held conversation comes back held, never expiring');
select is(public.append_message('pgtap-faithful', 'user', 'next')::jsonb #>> '{message,seq}', '9',
          'the next message continues after last_seq, not after the last message kept');

-- Timestamps are checked like any write's.
select tests.authenticate_as_service();
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-faithful-2", "created_at": "9000-01-01T00:00:00Z"}') $$,
                 '22023', null, 'a created_at in the future is refused');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-faithful-2", "expires_at": "9000-01-01T00:00:00Z"}') $$,
                 '22023', null, 'an expires_at past max_ttl_hours is refused');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-faithful-2", "created_at": "2026-01-02T00:00:00Z",
                                                          "expires_at": "2026-01-01T00:00:00Z"}') $$,
                 '22023', null, 'an expires_at before created_at is refused');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-faithful-2",
                      "messages": [{"seq": 1, "role": "user", "content": "x", "created_at": "9000-01-01T00:00:00Z"}]}') $$,
                 '22023', null, 'a message created in the future is refused');
select is_empty($$ select 1 from public.ai_conversations where conversation_id = 'pgtap-faithful-2' $$,
                'and nothing of a refused import is stored');

select * from finish();
rollback;
