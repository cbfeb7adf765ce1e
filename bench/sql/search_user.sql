-- Full-text search as one user (RLS on, as PostgREST runs it): a random word of the bench
-- vocabulary, first page of 20 hits.
\set w random(0, 9999)
begin;
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"role": "authenticated", "sub": "00000000-0000-4000-8000-0000000000aa"}', true);
select public.search_messages('w' || :w, null, 20);
end;
