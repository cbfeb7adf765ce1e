-- Conversation storage, release 3, part 7: execute grants of this release's functions, in the
-- style of the one grant list (..._function_privileges.sql of release 2): closed by default,
-- each entry revokes everything, then grants.
-- private.prune_cron_history() is not listed: the pg_cron job runs it as postgres, and no API
-- role may (it stays closed, the default).
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        -- the store
        ('public.export_conversation_page(text, bigint, integer, integer)', 'authenticated, service_role'),
        -- private helpers the store functions, triggers and check constraints call as the caller
        ('private.timestamp_in_range(timestamp with time zone)', 'authenticated, service_role'),
        ('private.metadata_fits(jsonb, integer)', 'authenticated, service_role'),
        ('private.metadata_too_large(jsonb, integer)', 'authenticated, service_role'),
        ('private.export_json(public.ai_conversations)', 'authenticated, service_role'),
        ('private.export_message_json(public.ai_conversation_messages)', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;
