-- One user's listing filtered by a tag (RLS on).
begin;
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"role": "authenticated", "sub": "00000000-0000-4000-8000-0000000000aa"}', true);
select public.list_conversations(p_limit => 20, p_tags => array['t7']);
end;
