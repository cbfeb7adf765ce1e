-- Conversation storage, release 2, part 2: the authenticated policies on conversations and
-- messages, rewritten on the ownership helpers (same names, roles, commands and meaning).
--
-- The message policies keep their own exists (...) over ai_conversations with the predicate
-- spelled through private.is_own_live(), rather than relying on the conversations' select
-- policy alone (RLS does apply inside a policy's sub-select): any permissive select policy
-- added to ai_conversations later (sharing, say) would otherwise silently widen who may read,
-- insert and delete messages. Both forms plan the same way: an index scan on
-- ai_conversations.conversation_id per message, with (select auth.uid()) an InitPlan evaluated
-- once per statement.

drop policy "authenticated selects own live conversations" on public.ai_conversations;
create policy "authenticated selects own live conversations" on public.ai_conversations
  for select to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())));

drop policy "authenticated inserts own conversations" on public.ai_conversations;
create policy "authenticated inserts own conversations" on public.ai_conversations
  for insert to authenticated
  with check (private.is_owner(user_id, (select auth.uid())));

drop policy "authenticated updates own live conversations" on public.ai_conversations;
create policy "authenticated updates own live conversations" on public.ai_conversations
  for update to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())))
  with check (private.is_owner(user_id, (select auth.uid())));

drop policy "authenticated deletes own live conversations" on public.ai_conversations;
create policy "authenticated deletes own live conversations" on public.ai_conversations
  for delete to authenticated
  using (private.is_own_live(user_id, expires_at, (select auth.uid())));

drop policy "authenticated selects messages of own live conversations" on public.ai_conversation_messages;
create policy "authenticated selects messages of own live conversations" on public.ai_conversation_messages
  for select to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

drop policy "authenticated inserts messages into own live conversations" on public.ai_conversation_messages;
create policy "authenticated inserts messages into own live conversations" on public.ai_conversation_messages
  for insert to authenticated
  with check (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

drop policy "authenticated deletes messages of own live conversations" on public.ai_conversation_messages;
create policy "authenticated deletes messages of own live conversations" on public.ai_conversation_messages
  for delete to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_conversation_messages.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
