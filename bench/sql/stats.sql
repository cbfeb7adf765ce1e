-- The admin statistics (totals, expired awaiting cleanup, TTL) as the dashboard calls them.
select public.conversation_stats();
