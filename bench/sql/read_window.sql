-- The token-budgeted history read: the context window of 400 tokens of a conversation (its
-- newest 10 messages here: 38-token questions, 42-token answers), as JSON, with what it left out.
\set n random(:first, :last)
select public.get_context('conv-' || :n, 400, 10);
