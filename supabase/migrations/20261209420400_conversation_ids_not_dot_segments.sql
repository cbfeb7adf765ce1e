-- Issue 22 (attack round), item 11: the conversation ids "." and "..".
--
-- Both fit the id format ([A-Za-z0-9_.:@-]{1,255}) but no browser (and no URL library that
-- normalizes paths, RFC 3986 5.2.4) can address them: /conversations/../messages is
-- /messages. They are refused from now on, whoever creates the conversation (the service, an
-- import, a dashboard insert): 23514, the API's 422.
--
-- NOT VALID: the check applies to every insert and update from now on, and does not scan the
-- existing rows, so a database that already holds such a conversation upgrades (its row stays
-- readable, exportable and deletable; the id cannot be taken again). Validating would fail
-- there, and rewriting an id is not a migration's to decide (its messages reference it).
alter table public.ai_conversations
  add constraint ai_conversations_conversation_id_not_dot_segment
  check (conversation_id::text not in ('.', '..')) not valid;
comment on constraint ai_conversations_conversation_id_not_dot_segment on public.ai_conversations is
  'The ids "." and ".." are refused: URLs cannot address them (dot segments). Not valid: rows '
  'created before the rule keep their id.';
