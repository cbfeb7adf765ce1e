-- Rule: export and import.
--
-- export_conversation returns one conversation with all its messages in the export shape
-- (conversation_id, user_id, created_at, updated_at, expires_at, ttl_hours, metadata, title, tags,
-- pinned, archived, legal_hold, last_seq, messages); import_conversation restores such a document
-- under its conversation_id: messages in seq order with the same seq (issue 22: no longer
-- renumbered 1..n; 54_import_faithful covers the rest), role, content, metadata, idempotency key
-- and created_at.
-- Importing over a live conversation is a clash (23505); a malformed document is 22023, or the
-- class 22/23 error of the value that cannot be stored. import is for service_role only.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(32);

-- Setup (as postgres): a conversation whose messages span 20 minutes -----------------------------------
select public.create_conversation('pgtap-exp-1', '7f1e0000-0000-4000-8000-0000000000e1', '{"title": "export me"}', 6) is not null as setup \gset
insert into public.ai_conversation_messages (conversation_id, role, content, metadata, idempotency_key, created_at)
values ('pgtap-exp-1', 'system', 'be brief', '{}', null, now() - interval '20 minutes'),
       ('pgtap-exp-1', 'user', 'what is 2+2?', '{"client": "web"}', 'turn-1', now() - interval '15 minutes'),
       ('pgtap-exp-1', 'tool', '{"result": 4}', '{"tool_calls": [{"name": "calc", "args": {"x": 2}}]}', null, now() - interval '10 minutes'),
       ('pgtap-exp-1', 'assistant', '4', '{"model": "m-1", "tokens": 3, "duration_ms": 120}', null, now());
-- created_at is the conversation's own; put it in the past as an older export would have it
update public.ai_conversations set created_at = now() - interval '1 hour' where conversation_id = 'pgtap-exp-1';

select tests.authenticate_as_service();

create temp table exported on commit drop as
  select public.export_conversation('pgtap-exp-1')::jsonb as doc;

-- Shape ----------------------------------------------------------------------------------------------
select results_eq(
  $$ select k from exported, jsonb_object_keys(doc) k order by 1 $$,
  $$ values ('archived'), ('conversation_id'), ('created_at'), ('expires_at'), ('last_seq'), ('legal_hold'),
            ('messages'), ('metadata'), ('pinned'), ('tags'), ('title'), ('ttl_hours'), ('updated_at'), ('user_id') $$,
  'the export has the keys conversation_id, created_at, updated_at, expires_at, ttl_hours, metadata, messages, '
  'user_id, and (issue 22) title, tags, pinned, archived, legal_hold, last_seq'
);
select results_eq(
  $$ select doc ->> 'conversation_id', doc ->> 'user_id', doc -> 'metadata', (doc ->> 'ttl_hours')::integer,
            (doc ->> 'created_at')::timestamptz from exported $$,
  $$ values ('pgtap-exp-1', '7f1e0000-0000-4000-8000-0000000000e1', '{"title": "export me"}'::jsonb, 6,
             now() - interval '1 hour') $$,
  'the export carries the conversation''s id, owner, metadata, ttl and created_at'
);
select results_eq(
  $$ select distinct k from exported, jsonb_array_elements(doc -> 'messages') m, jsonb_object_keys(m) k order by 1 $$,
  $$ values ('content'), ('created_at'), ('id'), ('idempotency_key'), ('metadata'), ('role'), ('seq') $$,
  'each exported message has id, seq, role, content, metadata, idempotency_key, created_at'
);
select results_eq(
  $$ select (m ->> 'seq')::bigint, m ->> 'role', m ->> 'content', m -> 'metadata', m ->> 'idempotency_key',
            (m ->> 'created_at')::timestamptz
       from exported, jsonb_array_elements(doc -> 'messages') with ordinality x(m, n) order by n $$,
  $$ select seq, role, content, metadata, idempotency_key::text, created_at
       from public.ai_conversation_messages where conversation_id = 'pgtap-exp-1' order by seq $$,
  'the exported messages are the stored ones, in seq order'
);
select is(
  (select jsonb_typeof(doc -> 'messages') || ':' || jsonb_array_length(doc -> 'messages') from exported),
  'array:4',
  'messages is an array of the 4 messages'
);
select throws_ok($$ select public.export_conversation('pgtap-exp-missing') $$, 'P0002', null,
                 'export of an unknown conversation is P0002');
select public.create_conversation('pgtap-exp-empty') is not null as setup \gset
select is(
  public.export_conversation('pgtap-exp-empty')::jsonb -> 'messages',
  '[]'::jsonb,
  'an empty conversation exports messages as []'
);

-- Import under a new id --------------------------------------------------------------------------------
select is(
  public.import_conversation((select jsonb_set(doc, '{conversation_id}', '"pgtap-exp-2"') from exported))::jsonb ->> 'message_count',
  '4',
  'the export imports under a new id, with its 4 messages'
);
select results_eq(
  $$ select seq, role, content, metadata, idempotency_key, created_at
       from public.ai_conversation_messages where conversation_id = 'pgtap-exp-2' order by seq $$,
  $$ select seq, role, content, metadata, idempotency_key, created_at
       from public.ai_conversation_messages where conversation_id = 'pgtap-exp-1' order by seq $$,
  'the imported messages equal the originals: same order, role, content, metadata, key and created_at'
);
select results_eq(
  $$ select user_id, metadata, ttl_hours, created_at, message_count, last_seq, expires_at >= now() + interval '6 hours'
       from public.ai_conversations where conversation_id = 'pgtap-exp-2' $$,
  $$ select user_id, metadata, ttl_hours, created_at, message_count, last_seq, true
       from public.ai_conversations where conversation_id = 'pgtap-exp-1' $$,
  'the imported conversation has the same owner, metadata, ttl, created_at and counters, and is live'
);
select is(
  (select jsonb_set(doc, '{conversation_id}', '"pgtap-exp-1"') - 'updated_at' - 'expires_at'
     from (select public.export_conversation('pgtap-exp-2')::jsonb as doc) e)
    #- '{messages,0,id}' #- '{messages,1,id}' #- '{messages,2,id}' #- '{messages,3,id}',
  (select doc - 'updated_at' - 'expires_at' from exported)
    #- '{messages,0,id}' #- '{messages,1,id}' #- '{messages,2,id}' #- '{messages,3,id}',
  'exporting the import gives the original export back (but for ids and timestamps the import renews)'
);
select is(
  public.append_message('pgtap-exp-2', 'user', 'what is 2+2?', '{}', 'turn-1')::jsonb ->> 'replayed',
  'true',
  'idempotency keys survive the import'
);

-- Order and seqs ------------------------------------------------------------------------------------
select lives_ok(
  $$ select public.import_conversation(jsonb_build_object(
       'conversation_id', 'pgtap-exp-3',
       'messages', jsonb_build_array(
         jsonb_build_object('seq', 30, 'role', 'assistant', 'content', 'third'),
         jsonb_build_object('seq', 10, 'role', 'user', 'content', 'first'),
         jsonb_build_object('seq', 20, 'role', 'assistant', 'content', 'second')))) $$,
  'import of messages listed out of order, with gaps in seq'
);
select results_eq(
  $$ select seq, content from public.ai_conversation_messages where conversation_id = 'pgtap-exp-3' order by seq $$,
  $$ values (10::bigint, 'first'), (20::bigint, 'second'), (30::bigint, 'third') $$,
  'messages are restored in seq order, keeping their seqs and the holes between them'
);
select results_eq(
  $$ select user_id, metadata, ttl_hours, expires_at
       from public.ai_conversations where conversation_id = 'pgtap-exp-3' $$,
  $$ select null::uuid, '{}'::jsonb, s.ttl_hours, now() + make_interval(hours => s.ttl_hours)
       from public.ai_conversation_settings s $$,
  'a minimal document gets no owner, empty metadata and the default ttl'
);
select lives_ok(
  $$ select public.import_conversation('{"conversation_id": "pgtap-exp-4", "expires_at": "2001-01-01T00:00:00Z", "ttl_hours": 2}') $$,
  'import of a document whose expires_at is long past'
);
select results_eq(
  $$ select expires_at from public.ai_conversations where conversation_id = 'pgtap-exp-4' $$,
  $$ values (now() + interval '2 hours') $$,
  'a restored conversation never comes back expired: it lives ttl_hours from now'
);

-- Clashes --------------------------------------------------------------------------------------------
select throws_ok(
  $$ select public.import_conversation(doc) from exported $$,
  '23505', 'conversation pgtap-exp-1 already exists',
  'importing over a live conversation is refused (23505)'
);
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-exp-1' $$,
  $$ values (4) $$,
  'the live conversation is untouched by the refused import'
);
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-exp-1';
select lives_ok(
  $$ select public.import_conversation(doc) from exported $$,
  'importing over an expired conversation replaces it'
);
select results_eq(
  $$ select message_count, expires_at > now() from public.ai_conversations where conversation_id = 'pgtap-exp-1' $$,
  $$ values (4, true) $$,
  'the replaced conversation is live again with its 4 messages'
);

-- Malformed documents ------------------------------------------------------------------------------
select throws_ok($$ select public.import_conversation('[]') $$, '22023', null, 'an export that is not an object is rejected (22023)');
select throws_ok($$ select public.import_conversation('"pgtap-exp-5"') $$, '22023', null, 'an export that is a string is rejected (22023)');
select throws_ok($$ select public.import_conversation('{"messages": []}') $$, '22023', null, 'an export without conversation_id is rejected (22023)');
select throws_ok($$ select public.import_conversation('{"conversation_id": 5}') $$, '22023', null, 'a numeric conversation_id is rejected (22023)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-exp-5", "messages": {}}') $$, '22023', null,
                 'messages that are not an array are rejected (22023)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-exp-5", "messages": ["hi"]}') $$, '22023', null,
                 'a message that is not an object is rejected (22023)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-exp-5", "messages": [{"role": "user"}]}') $$, '23502', null,
                 'a message without content is rejected (23502)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-exp-5", "messages": [{"role": "bot", "content": "x"}]}') $$, '23514', null,
                 'a message with a bad role is rejected (23514)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-exp-5", "user_id": "not-a-uuid"}') $$, '22P02', null,
                 'a user_id that is not a uuid is rejected (22P02)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "bad id"}') $$, '23514', null,
                 'a conversation_id of the wrong format is rejected (23514)');
select is_empty(
  $$ select 1 from public.ai_conversations where conversation_id in ('pgtap-exp-5', 'bad id') $$,
  'no rejected import left a conversation behind'
);

select * from finish();
rollback;
