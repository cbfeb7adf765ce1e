-- Rule: metadata size, one definition for conversations and messages.
--
-- Metadata is limited by the octet length of its JSON text (private.metadata_fits), on insert
-- and update of a conversation and on every append: 22023 above max_metadata_bytes. The binary
-- size (pg_column_size) is not the rule: numbers such as 1e308 are a few bytes in jsonb and 309
-- characters of text.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(11);

select public.create_conversation('pgtap-meta-1') is not null as setup \gset

-- 2,500 keys of 1e308: ~800 kB of JSON text, a small jsonb value (the defect's probe).
create temp table probe on commit drop as
  select jsonb_object_agg('k' || i, 1e308::numeric) as doc from generate_series(1, 2500) i;
select ok((select octet_length(doc::text) > 700000 and pg_column_size(doc) < 65536 from probe),
          'the probe is over 700 kB of JSON text but under 64 kB in binary');

select throws_ok(
  $$ select public.append_message('pgtap-meta-1', 'user', 'hi', (select doc from probe)) $$,
  '22023', null,
  'message metadata of 800 kB of JSON text is rejected, whatever its binary size (22023)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-meta-2', null, (select doc from probe)) $$,
  '22023', null,
  'conversation metadata of 800 kB of JSON text is rejected (22023)'
);
select throws_ok(
  $$ update public.ai_conversations set metadata = (select doc from probe) where conversation_id = 'pgtap-meta-1' $$,
  '22023', null,
  'a direct update of a conversation''s metadata is held to the same limit (22023)'
);

-- Exactly at the limit, and one byte over, for both: the same definition.
update public.ai_conversation_settings set max_metadata_bytes = 20;
select is(octet_length('{"k": "0123456789"}'), 19, 'setup: a 19-byte document');
select lives_ok($$ select public.append_message('pgtap-meta-1', 'user', 'hi', '{"k": "01234567890"}') $$,
                'message metadata of exactly max_metadata_bytes (20) is accepted');
select throws_ok($$ select public.append_message('pgtap-meta-1', 'user', 'hi', '{"k": "012345678901"}') $$,
                 '22023', 'metadata is 21 bytes; the limit is 20',
                 'message metadata one byte over is rejected, the size counted in bytes of JSON text');
select lives_ok($$ select public.create_conversation('pgtap-meta-3', null, '{"k": "01234567890"}') $$,
                'conversation metadata of exactly max_metadata_bytes is accepted');
select throws_ok($$ select public.create_conversation('pgtap-meta-4', null, '{"k": "012345678901"}') $$,
                 '22023', 'metadata is 21 bytes; the limit is 20',
                 'conversation metadata one byte over is rejected with the same message');
select throws_ok($$ select public.append_message('pgtap-meta-1', 'user', 'hi', jsonb_build_object('k', repeat(chr(233), 8))) $$,
                 '22023', 'metadata is 25 bytes; the limit is 20',
                 'bytes, not characters: a 17-character document with 8 two-byte characters is 25 bytes');

-- The rule is inlined where the append uses it: no function call on the hot path.
select unalike(tests.plan($$ select private.metadata_fits('{}'::jsonb, 10) $$), '%metadata_fits%',
              'private.metadata_fits is inlined by the planner');

select * from finish();
rollback;
