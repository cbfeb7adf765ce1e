-- What GET /conversations/{id}?limit=10 calls: the conversation with its newest 10 messages
-- (oldest first) and the cursor of the page before, as JSON.
\set n random(:first, :last)
select public.get_conversation('conv-' || :n, 10);
