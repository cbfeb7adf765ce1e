-- Conversation storage, release 3, part 4: who may call the context functions.
--
-- The same pattern as release 2's one grant list (20261201100300): the default privileges keep
-- every new function closed; each entry here revokes everything, then grants what is listed.
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        -- the store: one RPC per operation, for users (under RLS) and the service
        ('public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean, integer)', 'authenticated, service_role'),
        ('public.append_message(text, text, text, jsonb, text, text, integer)', 'authenticated, service_role'),
        ('public.get_context(text, integer, integer)', 'authenticated, service_role'),
        ('public.get_summary_input(text, bigint, bigint)', 'authenticated, service_role'),
        ('public.append_summary(text, text, bigint, bigint, text, integer)', 'authenticated, service_role'),
        -- private helpers the store functions and the trigger call as the caller
        ('private.estimate_tokens(text)', 'authenticated, service_role'),
        ('private.reported_tokens(text, jsonb)', 'authenticated, service_role'),
        ('private.message_tokens(text, text, jsonb)', 'authenticated, service_role'),
        ('private.is_summary(text, jsonb)', 'authenticated, service_role'),
        ('private.context_window(text, bigint, integer, integer)', 'authenticated, service_role'),
        ('private.turn_key(text, text)', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;
