-- The raw select encoded as the JSON array an API returns (PostgREST also builds it in SQL):
-- the ceiling for a read whose answer is JSON.
\set n random(:first, :last)
select coalesce(json_agg(h order by h.seq), '[]'::json)
  from (select * from public.ai_conversation_messages m
         where m.conversation_id = 'conv-' || :n
         order by m.seq desc
         limit 10) h;
