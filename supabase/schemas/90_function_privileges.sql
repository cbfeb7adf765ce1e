-- Who may execute what: the one list of EXECUTE privileges, every function of the store in it.
--
-- No default privilege closes new functions (00_extensions_and_schemas.sql), so PostgreSQL's
-- own default applies to each as it is created: EXECUTE for PUBLIC. Each entry here first
-- revokes everything, then grants what it lists; an entry without roles leaves the function to
-- its owner: the trigger functions (firing a trigger checks no privilege on its function), and
-- private.prune_cron_history(), private.maintain_turn_streams() and the procedure
-- private.cleanup_expired_conversations_job() (pg_cron runs them as postgres). Routines, so the
-- procedure is one entry like the others. pgTAP 62 checks that no function of the store is left
-- to PUBLIC.
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        -- the store: one RPC per operation, for users (under RLS) and the service
        ('public.create_conversation(text, uuid, jsonb, integer)', 'authenticated, service_role'),
        ('public.append_message(text, text, text, jsonb, text, text, integer)', 'authenticated, service_role'),
        ('public.append_messages(text, jsonb)', 'authenticated, service_role'),
        ('public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean, integer)', 'authenticated, service_role'),
        ('public.get_messages(text, integer, bigint)', 'authenticated, service_role'),
        ('public.get_conversation(text, integer, bigint)', 'authenticated, service_role'),
        ('public.get_message(text, text)', 'authenticated, service_role'),
        ('public.list_messages(text, integer, text, text)', 'authenticated, service_role'),
        ('public.list_conversations(uuid, integer, text, boolean, boolean, text[], jsonb)', 'authenticated, service_role'),
        ('public.update_conversation(text, jsonb)', 'authenticated, service_role'),
        ('public.extend_conversation(text, integer)', 'authenticated, service_role'),
        ('public.clear_conversation(text)', 'authenticated, service_role'),
        ('public.delete_conversation(text)', 'authenticated, service_role'),
        ('public.delete_message(text, text)', 'authenticated, service_role'),
        ('public.export_conversation(text)', 'authenticated, service_role'),
        ('public.export_conversation_page(text, bigint, integer, integer)', 'authenticated, service_role'),
        ('public.get_context(text, integer, integer)', 'authenticated, service_role'),
        ('public.context_fits(text, integer, integer, bigint, jsonb)', 'authenticated, service_role'),
        ('public.get_summary_input(text, bigint, bigint)', 'authenticated, service_role'),
        ('public.append_summary(text, text, bigint, bigint, text, integer)', 'authenticated, service_role'),
        ('public.get_response(text)', 'authenticated, service_role'),
        ('public.delete_response(text)', 'authenticated, service_role'),
        ('public.search_messages(text, uuid, integer, text)', 'authenticated, service_role'),
        ('public.fork_conversation(text, bigint, text, text)', 'authenticated, service_role'),
        ('public.set_message_feedback(text, bigint, integer, text)', 'authenticated, service_role'),
        ('public.delete_message_feedback(text, bigint)', 'authenticated, service_role'),
        ('public.get_usage(uuid, date, date, text[])', 'authenticated, service_role'),
        ('public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid, boolean, text)', 'authenticated, service_role'),
        ('public.get_running_turn(text)', 'authenticated, service_role'),
        ('public.finish_turn(uuid, jsonb, text, jsonb, jsonb, integer)', 'authenticated, service_role'),
        ('public.list_response_items(text, integer, text, text)', 'authenticated, service_role'),
        ('public.stop_turn(text)', 'authenticated, service_role'),
        ('public.get_turn(text, integer, integer)', 'authenticated, service_role'),
        -- the API's turn runners: the service only
        ('public.append_turn_events(uuid, integer, jsonb)', 'service_role'),
        ('public.renew_turn_leases(uuid[])', 'service_role'),
        ('public.fail_expired_turns(uuid)', 'service_role'),
        -- admin: the service only
        ('public.conversation_stats()', 'service_role'),
        ('public.cleanup_expired_conversations(integer)', 'service_role'),
        ('public.import_conversation(jsonb)', 'service_role'),
        ('public.erase_user_data(uuid, integer)', 'service_role'),
        ('public.list_erasures(uuid, integer)', 'service_role'),
        ('private.delete_expired_batch(integer)', 'service_role'),
        ('private.erase_user(uuid, text, integer)', 'service_role'),
        ('private.roll_up_usage()', 'service_role'),
        -- private helpers the store functions, policies, checks and triggers call as the caller
        ('private.settings()', 'service_role, authenticated'),
        ('private.not_found(text)', 'authenticated, service_role'),
        ('private.invalid_limit(text, integer, integer)', 'authenticated, service_role'),
        ('private.check_limit(text, integer, integer, integer)', 'authenticated, service_role'),
        ('private.is_owner(uuid, uuid)', 'authenticated, service_role'),
        ('private.is_own_live(uuid, timestamp with time zone, uuid)', 'authenticated, service_role'),
        ('private.scope_user(uuid, text)', 'authenticated, service_role'),
        ('private.timestamp_in_range(timestamp with time zone)', 'authenticated, service_role'),
        ('private.metadata_fits(jsonb, integer)', 'authenticated, service_role'),
        ('private.metadata_too_large(jsonb, integer)', 'authenticated, service_role'),
        ('private.tags_are_valid(text[])', 'authenticated, service_role'),
        ('private.json_concat(json, json)', 'authenticated, service_role'),
        ('private.estimate_tokens(text)', 'authenticated, service_role'),
        ('private.reported_tokens(text, jsonb)', 'authenticated, service_role'),
        ('private.message_tokens(text, text, jsonb)', 'authenticated, service_role'),
        ('private.is_summary(text, jsonb)', 'authenticated, service_role'),
        ('private.conversation_json(public.ai_conversations)', 'authenticated, service_role'),
        ('private.live_conversation(text)', 'authenticated, service_role'),
        ('private.purge_expired_conversation(text)', 'authenticated, service_role'),
        ('private.export_json(public.ai_conversations)', 'authenticated, service_role'),
        ('private.export_message_json(public.ai_conversation_messages)', 'authenticated, service_role'),
        ('private.context_window(text, bigint, integer, integer)', 'authenticated, service_role'),
        ('private.turn_key(text, text)', 'authenticated, service_role'),
        ('private.item_not_found(text, text)', 'authenticated, service_role'),
        ('private.item_uuid(text)', 'authenticated, service_role'),
        ('private.title_from_content(text)', 'authenticated, service_role'),
        ('private.search_hits(text, text, uuid, real, uuid, integer)', 'authenticated, service_role'),
        ('private.copy_messages_for_fork(text, text, bigint)', 'authenticated, service_role'),
        ('private.usage_tokens(jsonb, text)', 'authenticated, service_role'),
        ('private.held_until()', 'authenticated, service_role'),
        ('private.turn_uuid(text)', 'authenticated, service_role'),
        ('private.turn_json(public.ai_turns)', 'authenticated, service_role'),
        ('private.turn_not_found(text)', 'authenticated, service_role'),
        ('private.check_messages(jsonb, text)', 'authenticated, service_role'),
        ('private.check_turn_object(jsonb, text)', 'authenticated, service_role'),
        ('private.turn_lease()', 'authenticated, service_role'),
        ('private.turn_is_running(public.ai_turns)', 'authenticated, service_role'),
        ('private.append_turn_batch(uuid, integer, jsonb)', 'authenticated, service_role'),
        ('private.erasure_lock_space()', 'authenticated, service_role'),
        ('private.refuse_write_during_erasure(uuid)', 'authenticated, service_role'),
        ('private.export_message_text(public.ai_conversation_messages, json)', 'authenticated, service_role'),
        ('private.export_feedback_json(public.ai_message_feedback)', 'authenticated, service_role'),
        ('private.html_escape(text)', 'authenticated, service_role'),
        -- a security definer helper erase_user calls as the service
        ('private.wait_for_usage_rollup()', 'service_role'),
        ('private.import_refused(text, text, text)', 'service_role'),
        -- Broadcast from the database (66_broadcast.sql): clients ask for their conversation's
        -- topic; the realtime.messages policies call the helpers as the client
        ('public.conversation_topic(text)', 'authenticated, service_role'),
        ('private.conversation_topic(uuid)', 'authenticated, service_role'),
        ('private.topic_conversation_row(text)', 'authenticated, service_role'),
        ('private.can_receive(text)', 'authenticated, service_role'),
        -- their owner's only: pg_cron's jobs, the triggers and what only they call
        ('private.cleanup_expired_conversations_job(integer, double precision)', null),
        ('private.prune_cron_history(interval)', null),
        ('private.service_topic()', null),
        ('private.touch_settings()', null),
        ('private.delete_slot()', null),
        ('private.touch_conversation()', null),
        ('private.before_conversation_insert()', null),
        ('private.before_message_insert()', null),
        ('private.forbid_message_update()', null),
        ('private.forbid_owner_change()', null),
        ('private.after_messages_delete()', null),
        ('private.after_conversations_change()', null),
        ('private.recount_totals()', null),
        ('private.announce_conversations_deleted()', null),
        ('private.rebuild_search_index()', null),
        ('private.delete_feedback_of_deleted_messages()', null),
        ('private.mark_conversation_rated()', null),
        ('private.forbid_held_delete()', null),
        ('private.forbid_held_messages_delete()', null),
        ('private.erase_deleted_auth_user()', null),
        ('private.broadcast_messages()', null),
        ('private.broadcast_deleted_messages()', null),
        ('private.broadcast_deleted_conversations()', null),
        ('private.before_feedback_insert()', null),
        ('private.is_derived_key(text)', null),
        ('private.maintain_turn_streams()', null),
        ('private.prune_turn_events()', null),
        ('private.turn_stream_transition()', null)
      ) g(fn, roles)
  loop
    execute format('revoke all on routine %s from public, anon, authenticated, service_role', v_grant.fn);
    if v_grant.roles is not null then
      execute format('grant execute on routine %s to %s', v_grant.fn, v_grant.roles);
    end if;
  end loop;
end
$$;
