-- Event streams bound to a conversation's row (issue 22, item 1): a deletion reaches the live feed.
-- Every statement that deletes conversations (a delete, the hourly cleanup, an erasure) writes one
-- transactional logical decoding message, prefix 'ai_conversations.deleted', content the JSON array
-- of the rows it removed ([{"row_id", "conversation_id"}]). The local feed (wal2json) carries it in
-- commit order, before anything a later conversation of the same id stores, so a stream of the
-- removed row ends (`gone`) before the id can be reused under it. One message per statement, not per
-- row: a cleanup batch of 1,000 conversations costs one WAL record. Without a decoding client the
-- record is only WAL; on a database without wal_level=logical it is written and never read.

create function private.announce_conversations_deleted()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  perform pg_logical_emit_message(
    true,
    'ai_conversations.deleted',
    (select json_agg(json_build_object('row_id', o.id, 'conversation_id', o.conversation_id))::text
       from old_rows o));
  return null;
end
$$;
comment on function private.announce_conversations_deleted() is
  'Tells logical decoding clients (the API''s live feed) which conversation rows a statement deleted: '
  'one transactional message, prefix ai_conversations.deleted, a JSON array of {row_id, conversation_id}.';
revoke all on function private.announce_conversations_deleted() from public;

create trigger announce_conversations_deleted after delete on public.ai_conversations
  referencing old table as old_rows
  for each statement execute function private.announce_conversations_deleted();
