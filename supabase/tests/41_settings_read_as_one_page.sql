-- Rule: the settings row is read as the one page it is. The table is analyzed by its migration
-- (20261208200100): without statistics the planner takes it for ten pages and probes the key's
-- index on every read (every append's trigger, every page-size check).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(2);

select ok((select c.reltuples = 1 from pg_class c where c.oid = 'public.ai_conversation_settings'::regclass),
          'the settings table has statistics: one row');
select matches(tests.plan('select s.max_page_size from public.ai_conversation_settings s where s.id'),
               'Seq Scan on public.ai_conversation_settings',
               'reading the settings row is a scan of its page, not an index probe');

select * from finish();
rollback;
