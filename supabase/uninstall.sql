-- Uninstall: removes the conversation store from a database, and nothing else.
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f supabase/uninstall.sql
--   npx supabase migration repair --status reverted <each version in supabase/migrations/> --db-url ...
--
-- (or paste it into the SQL editor of the Supabase dashboard). It removes what the migrations
-- added (docs/deploying-next-to-an-app.md lists it): the store's pg_cron jobs and their run
-- history, its policies on realtime.messages, its trigger on auth.users, its tables and views
-- in public (their publication entry, indexes, triggers and policies go with them), its
-- functions, the private schema once nothing else is in it, btree_gin when nothing else uses
-- it, and the role settings it made (while they still hold the store's values). Default
-- privileges need nothing: the migrations leave them as they found them. It keeps pg_cron (a
-- platform feature other code may use) and the rows Realtime keeps in realtime.messages (they
-- go with their partition within three days). The migration history is the CLI's: mark the
-- store's versions reverted with `supabase migration repair`, as above.
--
-- One transaction, and every drop is RESTRICT: when something of yours depends on the store (a
-- view over ai_conversations, a foreign key to it, a function taking its row type), it stops,
-- names it, and changes nothing. Running it again on a database without the store does nothing.
begin;
set local client_min_messages = warning;  -- not the "does not exist, skipping" of every drop on a second run

-- pg_cron: the store's jobs, and the run history they left ---------------------------------------------
do $$
begin
  if to_regclass('cron.job') is null then
    return;
  end if;
  delete from cron.job_run_details d
   using cron.job j
   where d.jobid = j.jobid
     and j.jobname in ('cleanup-expired-conversations', 'prune-conversation-cron-history', 'roll-up-usage',
                       'maintain-turn-streams');
  perform cron.unschedule(j.jobid)
     from cron.job j
    where j.jobname in ('cleanup-expired-conversations', 'prune-conversation-cron-history', 'roll-up-usage',
                       'maintain-turn-streams');
end
$$;

-- On the platform's tables: the policies on realtime.messages, the trigger on auth.users -------------
do $$
begin
  if to_regclass('realtime.messages') is not null then
    drop policy if exists "ai_conversations: owners receive their live conversations" on realtime.messages;
    drop policy if exists "ai_conversations: only owners receive conversation topics" on realtime.messages;
    drop policy if exists "ai_conversations: anon receives no conversation topic" on realtime.messages;
    drop policy if exists "ai_conversations: clients send nothing on conversation topics" on realtime.messages;
    drop policy if exists "ai_conversations: clients change nothing on conversation topics" on realtime.messages;
  end if;
  if to_regclass('auth.users') is not null then
    drop trigger if exists ai_conversations_erase_deleted_user on auth.users;
  end if;
end
$$;

-- The store's own objects -----------------------------------------------------------------------------
-- Dropped in as many passes as their dependencies need (a function taking a table's row type
-- before the table, a function a table's check calls after it), each RESTRICT: a pass that can
-- drop nothing more means something outside the store depends on what is left.
do $$
declare
  v_objects text[] := array[
    'view public.ai_conversation_duration_stats',
    'view public.ai_conversation_legal_holds',
    'view public.ai_conversation_length_stats',
    'view public.ai_conversation_most_active',
    'view public.ai_conversation_peak_hours',
    'view public.ai_conversation_recent',
    'view public.ai_conversation_role_distribution',
    'view public.ai_conversation_titles',
    'view public.ai_conversation_user_activity',
    'view public.ai_feedback_by_model_day',
    'view public.ai_usage_by_day_model',
    'view public.ai_usage_by_user',
    'table private.conversation_totals',
    'table private.usage_rollup',
    'table public.ai_conversation_messages',
    'table public.ai_conversation_settings',
    'table public.ai_conversations',
    'table public.ai_erasures',
    'table public.ai_message_feedback',
    'table public.ai_model_prices',
    'table public.ai_turn_events',
    'table public.ai_turns',
    'table public.ai_usage_daily',
    'function private.after_conversations_change()',
    'function private.after_messages_delete()',
    'function private.announce_conversations_deleted()',
    'function private.append_turn_batch(uuid, integer, jsonb)',
    'function private.before_conversation_insert()',
    'function private.before_feedback_insert()',
    'function private.before_message_insert()',
    'function private.broadcast_deleted_conversations()',
    'function private.broadcast_deleted_messages()',
    'function private.broadcast_messages()',
    'function private.can_receive(text)',
    'function private.check_limit(text, integer, integer, integer)',
    'function private.check_messages(jsonb, text)',
    'function private.check_turn_object(jsonb, text)',
    'function private.context_window(text, bigint, integer, integer)',
    'function private.conversation_json(public.ai_conversations)',
    'function private.conversation_topic(uuid)',
    'function private.copy_messages_for_fork(text, text, bigint)',
    'function private.delete_expired_batch(integer)',
    'function private.delete_feedback_of_deleted_messages()',
    'function private.delete_slot()',
    'function private.erase_deleted_auth_user()',
    'function private.erase_user(uuid, text, integer)',
    'function private.erasure_lock_space()',
    'function private.estimate_tokens(text)',
    'function private.export_feedback_json(public.ai_message_feedback)',
    'function private.export_json(public.ai_conversations)',
    'function private.export_message_json(public.ai_conversation_messages)',
    'function private.export_message_text(public.ai_conversation_messages, json)',
    'function private.forbid_held_delete()',
    'function private.forbid_held_messages_delete()',
    'function private.forbid_message_update()',
    'function private.forbid_owner_change()',
    'function private.held_until()',
    'function private.html_escape(text)',
    'function private.import_refused(text, text, text)',
    'function private.invalid_limit(text, integer, integer)',
    'function private.is_derived_key(text)',
    'function private.is_own_live(uuid, timestamp with time zone, uuid)',
    'function private.is_owner(uuid, uuid)',
    'function private.is_summary(text, jsonb)',
    'function private.item_not_found(text, text)',
    'function private.item_uuid(text)',
    'function private.json_concat(json, json)',
    'function private.live_conversation(text)',
    'function private.maintain_turn_streams()',
    'function private.mark_conversation_rated()',
    'function private.message_tokens(text, text, jsonb)',
    'function private.metadata_fits(jsonb, integer)',
    'function private.metadata_too_large(jsonb, integer)',
    'function private.not_found(text)',
    'function private.prune_cron_history(interval)',
    'function private.prune_turn_events()',
    'function private.purge_expired_conversation(text)',
    'function private.rebuild_search_index()',
    'function private.recount_totals()',
    'function private.refuse_write_during_erasure(uuid)',
    'function private.reported_tokens(text, jsonb)',
    'function private.roll_up_usage()',
    'function private.scope_user(uuid, text)',
    'function private.search_hits(text, text, uuid, real, uuid, integer)',
    'function private.service_topic()',
    'function private.settings()',
    'function private.tags_are_valid(text[])',
    'function private.timestamp_in_range(timestamp with time zone)',
    'function private.title_from_content(text)',
    'function private.topic_conversation_row(text)',
    'function private.touch_conversation()',
    'function private.touch_settings()',
    'function private.turn_is_running(public.ai_turns)',
    'function private.turn_json(public.ai_turns)',
    'function private.turn_key(text, text)',
    'function private.turn_lease()',
    'function private.turn_not_found(text)',
    'function private.turn_stream_transition()',
    'function private.turn_uuid(text)',
    'function private.usage_tokens(jsonb, text)',
    'function private.wait_for_usage_rollup()',
    'function public.append_message(text, text, text, jsonb, text, text, integer)',
    'function public.append_messages(text, jsonb)',
    'function public.append_summary(text, text, bigint, bigint, text, integer)',
    'function public.append_turn_events(uuid, integer, jsonb)',
    'function public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean, integer)',
    'function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid, boolean, text)',
    'function public.cleanup_expired_conversations(integer)',
    'function public.clear_conversation(text)',
    'function public.context_fits(text, integer, integer, bigint, jsonb)',
    'function public.conversation_stats()',
    'function public.conversation_topic(text)',
    'function public.create_conversation(text, uuid, jsonb, integer)',
    'function public.delete_conversation(text)',
    'function public.delete_message(text, text)',
    'function public.delete_message_feedback(text, bigint)',
    'function public.delete_response(text)',
    'function public.erase_user_data(uuid, integer)',
    'function public.export_conversation(text)',
    'function public.export_conversation_page(text, bigint, integer, integer)',
    'function public.extend_conversation(text, integer)',
    'function public.fail_expired_turns(uuid)',
    'function public.finish_turn(uuid, jsonb, text, jsonb, jsonb, integer)',
    'function public.fork_conversation(text, bigint, text, text)',
    'function public.get_context(text, integer, integer)',
    'function public.get_conversation(text, integer, bigint)',
    'function public.get_message(text, text)',
    'function public.get_messages(text, integer, bigint)',
    'function public.get_response(text)',
    'function public.get_running_turn(text)',
    'function public.get_summary_input(text, bigint, bigint)',
    'function public.get_turn(text, integer, integer)',
    'function public.get_usage(uuid, date, date, text[])',
    'function public.import_conversation(jsonb)',
    'function public.list_conversations(uuid, integer, text, boolean, boolean, text[], jsonb)',
    'function public.list_erasures(uuid, integer)',
    'function public.list_messages(text, integer, text, text)',
    'function public.list_response_items(text, integer, text, text)',
    'function public.renew_turn_leases(uuid[])',
    'function public.search_messages(text, uuid, integer, text)',
    'function public.set_message_feedback(text, bigint, integer, text)',
    'function public.stop_turn(text)',
    'function public.update_conversation(text, jsonb)',
    'procedure private.cleanup_expired_conversations_job(integer, double precision)'
  ];
  v_left text[];
  v_object text;
  v_error text;
begin
  loop
    v_left := '{}';
    foreach v_object in array v_objects loop
      begin
        execute format('drop %s if exists %s restrict', split_part(v_object, ' ', 1),
                       substr(v_object, length(split_part(v_object, ' ', 1)) + 2));
      exception when dependent_objects_still_exist then
        v_left := v_left || v_object;
        v_error := sqlerrm;
      end;
    end loop;
    exit when cardinality(v_left) = 0;
    if cardinality(v_left) = cardinality(v_objects) then
      raise exception 'cannot remove the conversation store: % (% left)', v_error, cardinality(v_left)
        using errcode = 'dependent_objects_still_exist',
              hint = 'drop or change what depends on it first; nothing was removed';
    end if;
    v_objects := v_left;
  end loop;
end
$$;

-- The private schema, when the store was all it held ---------------------------------------------------
do $$
begin
  if to_regnamespace('private') is not null
     and not exists (select 1 from pg_depend d
                      where d.refclassid = 'pg_namespace'::regclass and d.refobjid = to_regnamespace('private')) then
    drop schema private;
  end if;
end
$$;

-- btree_gin (the search index's), when nothing else uses it -------------------------------------------
do $$
begin
  drop extension if exists btree_gin restrict;
exception when dependent_objects_still_exist then
  null;  -- something else uses it: it stays
end
$$;

-- The role settings 20261206200000_role_timeouts.sql made, while they still hold its values -----------
do $$
declare
  v_setting record;
begin
  for v_setting in
    select r.rolname, split_part(c.setting, '=', 1) as name
      from pg_db_role_setting s
      join pg_roles r on r.oid = s.setrole
     cross join lateral unnest(s.setconfig) c(setting)
     where s.setdatabase = 0
       and (r.rolname, c.setting) in (('service_role', 'statement_timeout=30s'), ('service_role', 'lock_timeout=1s'),
                                      ('authenticated', 'lock_timeout=1s'), ('anon', 'lock_timeout=1s'))
  loop
    execute format('alter role %I reset %s', v_setting.rolname, v_setting.name);
  end loop;
end
$$;

commit;
