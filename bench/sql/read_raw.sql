-- The raw-SQL ceiling: the same 10 rows straight from the (conversation_id, seq) index.
\set n random(:first, :last)
select * from public.ai_conversation_messages
 where conversation_id = 'conv-' || :n
 order by seq desc
 limit 10;
