-- Who may read and write the conversations, their messages and the totals.
--
-- service_role: everything. authenticated: only its own, unexpired conversations and their
-- messages; never a conversation without a user. anon: nothing. Supabase no longer grants
-- new tables to the API roles by default, so every grant is explicit here.
--
-- The user policies are written on the ownership helpers (20_rule_helpers.sql), inlined by the
-- planner, with (select auth.uid()) an InitPlan evaluated once per statement. The message
-- policies keep their own exists (...) over ai_conversations with the predicate spelled through
-- private.is_own_live(), rather than relying on the conversations' select policy alone (RLS
-- does apply inside a policy's sub-select): any permissive select policy added to
-- ai_conversations later (sharing, say) would otherwise silently widen who may read, insert and
-- delete messages. Both forms plan the same way: an index scan on
-- ai_conversations.conversation_id per message.

alter table public.ai_conversations enable row level security;
alter table public.ai_conversation_messages enable row level security;
alter table private.conversation_totals enable row level security;

-- ai_conversations ------------------------------------------------------------------------
create policy "service_role selects conversations" on public.ai_conversations
  for select to service_role using (true);
create policy "service_role inserts conversations" on public.ai_conversations
  for insert to service_role with check (true);
create policy "service_role updates conversations" on public.ai_conversations
  for update to service_role using (true) with check (true);
create policy "service_role deletes conversations" on public.ai_conversations
  for delete to service_role using (true);
create policy "authenticated selects own live conversations" on public.ai_conversations
  for select to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())));
create policy "authenticated inserts own conversations" on public.ai_conversations
  for insert to authenticated
  with check (private.is_owner(user_id, (select auth.uid())));
create policy "authenticated updates own live conversations" on public.ai_conversations
  for update to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())))
  with check (private.is_owner(user_id, (select auth.uid())));
create policy "authenticated deletes own live conversations" on public.ai_conversations
  for delete to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())));

-- ai_conversation_messages ----------------------------------------------------------------
create policy "service_role selects messages" on public.ai_conversation_messages
  for select to service_role using (true);
create policy "service_role inserts messages" on public.ai_conversation_messages
  for insert to service_role with check (true);
create policy "service_role deletes messages" on public.ai_conversation_messages
  for delete to service_role using (true);
create policy "authenticated selects messages of own live conversations" on public.ai_conversation_messages
  for select to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated inserts messages into own live conversations" on public.ai_conversation_messages
  for insert to authenticated
  with check (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated deletes messages of own live conversations" on public.ai_conversation_messages
  for delete to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

-- private.conversation_totals: read by statistics (service_role), written by triggers.
create policy "service_role reads totals" on private.conversation_totals
  for select to service_role using (true);

-- Privileges: columns the rules own (ids, counters, seq, tokens, user_id, legal_hold, rated) are
-- not writable by users.
revoke all on public.ai_conversations, public.ai_conversation_messages
  from public, anon, authenticated, service_role;

grant select, insert, update, delete on public.ai_conversations to service_role;
grant select, insert, delete on public.ai_conversation_messages to service_role;

grant select, delete on public.ai_conversations to authenticated;
grant insert (conversation_id, user_id, metadata, ttl_hours, title) on public.ai_conversations to authenticated;
grant update (metadata, expires_at, title, archived, pinned, tags) on public.ai_conversations to authenticated;
grant select, delete on public.ai_conversation_messages to authenticated;
grant insert (conversation_id, role, content, metadata, idempotency_key)
  on public.ai_conversation_messages to authenticated;

revoke all on private.conversation_totals from public;
grant select on private.conversation_totals to service_role;
