-- Rule: every write of a user's rows holds the user's erasure lock; an erasure takes it
-- exclusively (issue 22, item 6).
--
-- The lock is a transaction-level advisory lock (private.erasure_lock_space(), hashtext(user_id)):
-- held shared by a conversation's insert (its owner), a message's insert (its conversation's
-- owner) and a rating's insert (the rater) until the transaction ends, so erase_user, which
-- takes it exclusively before reading anything, waits for the writes in flight and sees them.
-- A write never waits for it (it only tries: 55P03 while an erasure runs). A message's insert
-- (the owner's lock, whoever appends) and what all of it looks like across sessions are tested
-- in tests/attack/test_erasure.py: within one transaction the conversation's insert already
-- holds its owner's lock. Anonymous rows take none.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(7);

create function pg_temp.erasure_lock(p_user uuid) returns text language sql as $$
  select string_agg(l.mode, ',' order by l.mode) from pg_locks l
   where l.locktype = 'advisory' and l.pid = pg_backend_pid() and l.objsubid = 2
     and l.classid::bigint = private.erasure_lock_space() & 4294967295
     and l.objid::bigint = hashtext(p_user::text)::bigint & 4294967295
$$;

select has_function('private', 'erasure_lock_space', 'private.erasure_lock_space() exists');
select is(pg_temp.erasure_lock('7f1e0000-0000-4000-8000-0000000000e1'), null, 'no lock before any write');

select tests.authenticate_as_service();
select public.create_conversation(null, '7f1e0000-0000-4000-8000-0000000000e1') ->> 'conversation_id' as cid \gset
select tests.clear_authentication();
select is(pg_temp.erasure_lock('7f1e0000-0000-4000-8000-0000000000e1'), 'ShareLock',
          'creating a conversation for a user holds the user''s erasure lock, shared');
select is(pg_temp.erasure_lock('7f1e0000-0000-4000-8000-0000000000e2'), null, 'and no other user''s');

-- A rating: the rater's lock.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000e3');
select public.create_conversation() ->> 'conversation_id' as rated \gset
select public.append_message(:'rated', 'user', 'rate me') is not null as setup \gset
select public.set_message_feedback(:'rated', 1, 1) is not null as setup \gset
select tests.clear_authentication();
select is(pg_temp.erasure_lock('7f1e0000-0000-4000-8000-0000000000e3'), 'ShareLock',
          'a rating holds the rater''s erasure lock, shared');

-- The erasure takes it exclusively (the same session's shared lock does not conflict with it).
select tests.authenticate_as_service();
select public.erase_user_data('7f1e0000-0000-4000-8000-0000000000e3') is not null as setup \gset
select tests.clear_authentication();
select is(pg_temp.erasure_lock('7f1e0000-0000-4000-8000-0000000000e3'), 'ExclusiveLock,ShareLock',
          'an erasure holds the user''s erasure lock exclusively');

-- Anonymous rows take none.
create temp table held on commit drop as
  select count(*) as n from pg_locks l
   where l.locktype = 'advisory' and l.pid = pg_backend_pid()
     and l.classid::bigint = private.erasure_lock_space() & 4294967295;
select public.create_conversation('pgtap-erasure-lock-anon') is not null as setup \gset
select public.append_message('pgtap-erasure-lock-anon', 'user', 'hi') is not null as setup \gset
select is((select count(*) from pg_locks l where l.locktype = 'advisory' and l.pid = pg_backend_pid()
             and l.classid::bigint = private.erasure_lock_space() & 4294967295),
          (select n from held),
          'an anonymous conversation and its messages take no erasure lock');

select * from finish();
rollback;
