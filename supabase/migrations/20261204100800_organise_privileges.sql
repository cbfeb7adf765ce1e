-- Organising and governing a history, part 5: execute privileges of the functions added by the
-- migrations 20261204100000..100700, in one list, in the style of release 2's
-- (20261201100300_function_privileges.sql; its list is a DO block, so this is a second one
-- rather than an edit of a released file). Functions are closed by default (release 2's default
-- privileges); each entry revokes everything, then grants. Trigger functions need none.
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        -- the store: one RPC per operation, for users (under RLS) and the service
        ('public.update_conversation(text, jsonb)', 'authenticated, service_role'),
        ('public.list_conversations(uuid, integer, text, boolean, boolean, text[], jsonb)', 'authenticated, service_role'),
        ('public.search_messages(text, uuid, integer, text)', 'authenticated, service_role'),
        ('public.fork_conversation(text, bigint, text, text)', 'authenticated, service_role'),
        ('public.set_message_feedback(text, bigint, integer, text)', 'authenticated, service_role'),
        ('public.delete_message_feedback(text, bigint)', 'authenticated, service_role'),
        ('public.get_usage(uuid, date, date, text[])', 'authenticated, service_role'),
        -- admin: the service only
        ('public.erase_user_data(uuid, integer)', 'service_role'),
        ('public.list_erasures(uuid, integer)', 'service_role'),
        ('private.erase_user(uuid, text, integer)', 'service_role'),
        ('private.roll_up_usage()', 'service_role'),
        ('private.search_hits(text, text, uuid, real, uuid, integer)', 'authenticated, service_role'),
        -- private helpers the store functions, policies and checks call as the caller
        ('private.scope_user(uuid, text)', 'authenticated, service_role'),
        ('private.tags_are_valid(text[])', 'authenticated, service_role'),
        ('private.title_from_content(text)', 'authenticated, service_role'),
        ('private.usage_tokens(jsonb, text)', 'authenticated, service_role'),
        ('private.held_until()', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;
