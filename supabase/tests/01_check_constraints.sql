-- Rule: every check rejects bad input with its documented SQLSTATE, never a silent truncation.
--
--   23514 check_violation         role, empty content, metadata not an object, conversation_id
--                                 format, ttl range, empty idempotency key, settings ranges
--   23502 not_null_violation      missing role or content
--   22001 string_data_right_truncation  conversation_id or idempotency key over 255 characters
--   22023 invalid_parameter_value content or metadata over the configured size, TTL over the maximum
--   22021 / 22P05                 NUL characters (text / JSON)
--   42501 insufficient_privilege  a stored message is changed (append-only)
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(44);

select lives_ok(
  $$ select public.create_conversation('pgtap-chk-1') $$,
  'setup: a conversation to append to'
);

-- Messages: role -------------------------------------------------------------------------------
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'bot', 'hello') $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_role_check"',
  'a role outside user/assistant/system/tool is rejected (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'User', 'hello') $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_role_check"',
  'roles are case-sensitive (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', null, 'hello') $$,
  '23502', null,
  'a missing role is rejected (23502)'
);

-- Messages: content ----------------------------------------------------------------------------
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', '') $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_content_not_empty"',
  'empty content is rejected (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', null) $$,
  '23502', null,
  'missing content is rejected (23502)'
);

-- Messages: metadata ---------------------------------------------------------------------------
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '[1, 2]'::jsonb) $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_metadata_object"',
  'message metadata that is an array is rejected (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '"text"'::jsonb) $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_metadata_object"',
  'message metadata that is a string is rejected (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', 'null'::jsonb) $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_metadata_object"',
  'message metadata that is JSON null is rejected (23514)'
);

-- Messages: idempotency key --------------------------------------------------------------------
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '{}', '') $$,
  '23514', 'new row for relation "ai_conversation_messages" violates check constraint "ai_conversation_messages_idempotency_key_not_empty"',
  'an empty idempotency key is rejected (23514)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '{}', repeat('k', 256)) $$,
  '22001', null,
  'an idempotency key over 255 characters is rejected, not truncated (22001)'
);

-- Conversations: conversation_id ---------------------------------------------------------------
select throws_ok(
  $$ select public.create_conversation(repeat('x', 256)) $$,
  '22001', null,
  'a conversation_id over 255 characters is rejected, not truncated (22001)'
);
select lives_ok(
  $$ select public.create_conversation(repeat('x', 254) || 'y') $$,
  'a conversation_id of exactly 255 characters is accepted'
);
select throws_ok(
  $$ select public.create_conversation('') $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_conversation_id_format"',
  'an empty conversation_id is rejected (23514)'
);
select throws_ok(
  $$ select public.create_conversation('has space') $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_conversation_id_format"',
  'a conversation_id with a space is rejected (23514)'
);
select throws_ok(
  $$ select public.create_conversation('a/b') $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_conversation_id_format"',
  'a conversation_id with a slash is rejected (23514)'
);
select throws_ok(
  $$ select public.create_conversation('caf' || chr(233)) $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_conversation_id_format"',
  'a conversation_id with a non-ASCII letter is rejected (23514)'
);
select lives_ok(
  $$ select public.create_conversation('Pgtap_chk-2.x:y@z') $$,
  'letters, digits and _ . : @ - are accepted in a conversation_id'
);

-- Conversations: metadata ----------------------------------------------------------------------
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-3', null, '[]'::jsonb) $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_metadata_object"',
  'conversation metadata that is an array is rejected (23514)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-3', null, '42'::jsonb) $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_metadata_object"',
  'conversation metadata that is a number is rejected (23514)'
);

-- Conversations: ttl --------------------------------------------------------------------------
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-3', null, '{}', 0) $$,
  '22023', null,
  'create_conversation rejects ttl_hours 0 (22023)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-3', null, '{}', -5) $$,
  '22023', null,
  'create_conversation rejects a negative ttl_hours (22023)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-3', null, '{}', (select max_ttl_hours + 1 from public.ai_conversation_settings)) $$,
  '22023', null,
  'create_conversation rejects ttl_hours above max_ttl_hours (22023)'
);
select throws_ok(
  $$ insert into public.ai_conversations (conversation_id, ttl_hours) values ('pgtap-chk-3', 0) $$,
  '23514', 'new row for relation "ai_conversations" violates check constraint "ai_conversations_ttl_hours_range"',
  'a direct insert with ttl_hours 0 hits the table check (23514)'
);

-- Counters ------------------------------------------------------------------------------------
select throws_ok(
  $$ update public.ai_conversations set message_count = -1 where conversation_id = 'pgtap-chk-1' $$,
  '23514', null,
  'message_count may not become negative (23514)'
);
select throws_ok(
  $$ update public.ai_conversations set last_seq = -1 where conversation_id = 'pgtap-chk-1' $$,
  '23514', null,
  'last_seq may not become negative (23514)'
);
select throws_ok(
  $$ update public.ai_conversations set expires_at = now() + interval '1 hour'
                                                    + make_interval(hours => (select max_ttl_hours from public.ai_conversation_settings))
      where conversation_id = 'pgtap-chk-1' $$,
  '22023', null,
  'expires_at may not be moved beyond max_ttl_hours from now (22023)'
);

-- Sizes: lower the limits inside this transaction ------------------------------------------------
update public.ai_conversation_settings set max_content_chars = 10, max_metadata_bytes = 40;

select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', repeat('a', 11)) $$,
  '22023', 'content is 11 characters; the limit is 10',
  'content over max_content_chars is rejected (22023)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', repeat(chr(233), 11)) $$,
  '22023', 'content is 11 characters; the limit is 10',
  'the content limit counts characters, not bytes (22023)'
);
select lives_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', repeat(chr(233), 10)) $$,
  'content of exactly max_content_chars characters is accepted'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', jsonb_build_object('k', repeat('m', 40))) $$,
  '22023', null,
  'message metadata over max_metadata_bytes is rejected (22023)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-chk-4', null, jsonb_build_object('k', repeat('m', 40))) $$,
  '22023', null,
  'conversation metadata over max_metadata_bytes is rejected (22023)'
);
select lives_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '{"model": "m"}') $$,
  'small metadata is accepted'
);

-- NUL characters ------------------------------------------------------------------------------
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', convert_from('\x610062'::bytea, 'UTF8')) $$,
  '22021', null,
  'text with a NUL byte cannot even be built (22021), so it never reaches a row'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', 'hi', '{"k": "a\u0000b"}'::jsonb) $$,
  '22P05', null,
  'metadata with \u0000 is rejected (22P05)'
);
select throws_ok(
  $$ select public.append_message('pgtap-chk-1', 'user', '{"c": "a\u0000b"}'::json ->> 'c') $$,
  '22P05', null,
  'content taken from JSON with \u0000 (as PostgREST passes arguments) is rejected (22P05)'
);

-- Settings ------------------------------------------------------------------------------------
select throws_ok(
  $$ update public.ai_conversation_settings set ttl_hours = 0 $$,
  '23514', null,
  'settings.ttl_hours must be at least 1 (23514)'
);
select throws_ok(
  $$ update public.ai_conversation_settings set max_page_size = 0 $$,
  '23514', null,
  'settings.max_page_size must be at least 1 (23514)'
);
select throws_ok(
  $$ update public.ai_conversation_settings set max_content_chars = 0 $$,
  '23514', null,
  'settings.max_content_chars must be at least 1 (23514)'
);
select throws_ok(
  $$ insert into public.ai_conversation_settings (id) values (false) $$,
  '23514', null,
  'a second settings row cannot be added (23514)'
);
select throws_ok(
  $$ insert into public.ai_conversation_settings (id) values (true) $$,
  '23505', null,
  'the single settings row cannot be duplicated (23505)'
);

-- Append-only messages ---------------------------------------------------------------------------
select throws_ok(
  $$ update public.ai_conversation_messages set content = 'changed' where conversation_id = 'pgtap-chk-1' $$,
  '42501', 'messages are append-only',
  'a stored message cannot be changed, even by the owner (42501)'
);

-- No failed attempt left a trace: counters match the two accepted messages, seq is gapless.
select results_eq(
  $$ select message_count, last_seq from public.ai_conversations where conversation_id = 'pgtap-chk-1' $$,
  $$ values (2, 2::bigint) $$,
  'rejected appends neither counted nor consumed a sequence number'
);
select results_eq(
  $$ select seq from public.ai_conversation_messages where conversation_id = 'pgtap-chk-1' order by seq $$,
  $$ values (1::bigint), (2::bigint) $$,
  'the accepted messages are numbered 1 and 2'
);

select * from finish();
rollback;
