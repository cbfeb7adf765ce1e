-- The DESIGN's ordered append as one autocommit statement (lock the conversation row, take
-- the next seq, slide the expiry, insert). Run with session_replication_role=replica.
\set n random(:first, :last)
with c as (
  update public.ai_conversations
     set last_seq = last_seq + 1,
         message_count = message_count + 1,
         updated_at = now(),
         expires_at = greatest(expires_at, now() + make_interval(hours => ttl_hours))
   where conversation_id = 'conv-' || :n
     and expires_at > now()
  returning conversation_id, last_seq
)
insert into public.ai_conversation_messages (conversation_id, seq, role, content)
select c.conversation_id, c.last_seq, 'user', 'hello from pgbench: how long do you keep my conversations?'
  from c;
