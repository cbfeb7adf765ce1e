-- The store's history read: the newest 10 messages of a conversation, oldest first, as JSON.
\set n random(:first, :last)
select public.get_messages('conv-' || :n, 10);
