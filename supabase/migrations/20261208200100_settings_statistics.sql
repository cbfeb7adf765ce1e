-- Performance (issue 14): statistics for the settings table, so that every function reading
-- its one row (each append's trigger, every reader's page-size check) reads that one page
-- instead of probing the primary key's index.
--
-- A table that was never analyzed is estimated at ten pages, so the planner prefers the index
-- for `where s.id`; and a one-row table is never auto-analyzed (autovacuum waits for 50 changed
-- rows). Measured: 6.5k instructions less per get_messages call, 21k per get_context (two
-- reads). Statistics a restore loses only cost that again, never a wrong answer.
analyze public.ai_conversation_settings;
