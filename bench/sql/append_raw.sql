-- The raw-SQL ceiling of the DESIGN: insert one message and touch its conversation as two
-- statements in one transaction. Run with session_replication_role=replica so the table's
-- triggers stay out of it; the conversation row lock hands out the next seq instead.
\set n random(:first, :last)
begin;
update public.ai_conversations
   set last_seq = last_seq + 1,
       message_count = message_count + 1,
       updated_at = now(),
       expires_at = greatest(expires_at, now() + make_interval(hours => ttl_hours))
 where conversation_id = 'conv-' || :n
   and expires_at > now()
returning last_seq \gset
insert into public.ai_conversation_messages (conversation_id, seq, role, content)
values ('conv-' || :n, :last_seq, 'user', 'hello from pgbench: how long do you keep my conversations?');
end;
