-- One user's usage per day and model over the last week (RLS on).
begin;
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"role": "authenticated", "sub": "00000000-0000-4000-8000-0000000000aa"}', true);
select public.get_usage(null, current_date - 7, null, array['day', 'model']);
end;
