-- Conversation storage, release 2, part 4: function privileges in one place.
--
-- New functions are closed by default: nobody but their owner may execute them until they are
-- listed below. PostgreSQL grants EXECUTE to PUBLIC by a global default, which a per-schema
-- default cannot take away (per-schema defaults only add to the global ones), so the revoke is
-- global, for the functions this role creates, and the extensions schema gets PUBLIC back so
-- extensions installed later (pgtap, say) work as usual. A hosted Supabase project also grants
-- EXECUTE in public to anon and authenticated per schema: revoked here too.
alter default privileges revoke execute on functions from public;
alter default privileges in schema extensions grant execute on functions to public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
alter default privileges in schema private revoke execute on functions from anon, authenticated;

-- The list below is the only grant of EXECUTE: a function needs an entry here to be callable by
-- the API roles, and each entry first revokes everything (so the helpers created earlier in this
-- release, under the old default, end up closed too). Trigger functions need none (firing a
-- trigger checks no privilege on its function).
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        -- the store: one RPC per operation, for users (under RLS) and the service
        ('public.create_conversation(text, uuid, jsonb, integer)', 'authenticated, service_role'),
        ('public.append_message(text, text, text, jsonb, text)', 'authenticated, service_role'),
        ('public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean)', 'authenticated, service_role'),
        ('public.get_messages(text, integer, bigint)', 'authenticated, service_role'),
        ('public.get_conversation(text, integer, bigint)', 'authenticated, service_role'),
        ('public.list_conversations(uuid, integer, text)', 'authenticated, service_role'),
        ('public.extend_conversation(text, integer)', 'authenticated, service_role'),
        ('public.clear_conversation(text)', 'authenticated, service_role'),
        ('public.delete_conversation(text)', 'authenticated, service_role'),
        ('public.export_conversation(text)', 'authenticated, service_role'),
        -- admin: the service only
        ('public.conversation_stats()', 'service_role'),
        ('public.cleanup_expired_conversations(integer)', 'service_role'),
        ('public.import_conversation(jsonb)', 'service_role'),
        ('private.delete_expired_batch(integer)', 'service_role'),
        -- private helpers the store functions and policies call as the caller
        ('private.settings()', 'service_role, authenticated'),
        ('private.conversation_json(public.ai_conversations)', 'authenticated, service_role'),
        ('private.json_concat(json, json)', 'authenticated, service_role'),
        ('private.live_conversation(text)', 'authenticated, service_role'),
        ('private.purge_expired_conversation(text)', 'authenticated, service_role'),
        ('private.not_found(text)', 'authenticated, service_role'),
        ('private.invalid_limit(text, integer, integer)', 'authenticated, service_role'),
        ('private.check_limit(text, integer, integer, integer)', 'authenticated, service_role'),
        ('private.is_owner(uuid, uuid)', 'authenticated, service_role'),
        ('private.is_own_live(uuid, timestamp with time zone, uuid)', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;

