-- The store's append: one RPC call per message (seq, sliding expiry, counters in the trigger).
\set n random(:first, :last)
select public.append_message('conv-' || :n, 'user', 'hello from pgbench: how long do you keep my conversations?');
