-- Every message carries a token count, and summaries are messages.
--
-- tokens is set by the insert trigger whoever writes the row (40_append.sql): the count the
-- provider reported when the metadata carries one (metadata.tokens as a number, as the seed
-- stores it, or the reply's metadata.tokens.completion, as /chat stores it), else an estimate
-- computed here. tokens_before is the running sum of the tokens of the conversation's earlier
-- messages (summaries excluded: they stand beside the history, not in it), kept on the
-- conversation row (tokens_appended) under the lock the append already takes. It makes "the
-- newest messages that fit in N tokens" one range condition, tokens_before >= total - N, on one
-- index (50_context_window.sql).
--
-- The estimate, chosen by measurement against o200k_base and cl100k_base (bench/tokens.py):
-- a quarter token per character of single-byte text, and about one per CJK character. The
-- bytes a character takes beyond the first tell the two apart without a regular expression:
-- a CJK character is 3 bytes (2 extra), so chars / 4 + extra * 3 / 8 gives 1 per CJK
-- character and 1/4 per ASCII one, in two O(1)/O(n) length calls.
create function private.estimate_tokens(p_text text)
returns integer
language sql
immutable
begin atomic
  select ceil((2 * char_length(p_text) + 3 * (octet_length(p_text) - char_length(p_text))) / 8.0)::integer;
end;
comment on function private.estimate_tokens(text) is
  'Estimated BPE tokens of a text: characters / 4, plus 3/8 per byte beyond the first of '
  'multi-byte characters (so a CJK character counts about 1). Inlined by the planner.';

-- Written with coalesce and boolean arithmetic, not CASE: see private.check_limit().
create function private.reported_tokens(p_role text, p_metadata jsonb)
returns integer
language sql
stable
begin atomic
  select floor(coalesce(
           jsonb_path_query_first(p_metadata,
             'strict $.tokens ? (@.type() == "number" && @ >= 0 && @ <= 1000000000)', '{}', true),
           jsonb_path_query_first(p_metadata,
             'strict $.tokens.completion ? (@.type() == "number" && @ >= 0 && @ <= 1000000000 && $role == "assistant")',
             jsonb_build_object('role', p_role), true))::numeric)::integer;
end;
comment on function private.reported_tokens(text, jsonb) is
  'The token count a provider reported, as the metadata carries it: tokens as a number (the seed''s '
  'shape, and a summary''s), or an assistant reply''s tokens.completion; null when there is none or '
  'it is not a count (outside 0..1e9). Inlined by the planner.';

create function private.message_tokens(p_role text, p_content text, p_metadata jsonb)
returns integer
language sql
stable
begin atomic
  -- At least 1: then tokens_before strictly grows with seq (summaries aside), and orders a
  -- conversation's messages exactly as seq does.
  select greatest(1, coalesce(
           private.reported_tokens(p_role, p_metadata),
           private.estimate_tokens(p_content)
             -- a tool result is sent with the call it answers, rebuilt from its args
             + (p_role = 'tool')::integer
               * coalesce(private.estimate_tokens((p_metadata -> 'args')::text), 0)));
end;
comment on function private.message_tokens(text, text, jsonb) is
  'A message''s token count: the reported one if any, else the estimate of its content (and, for a '
  'tool result, of the call''s arguments), at least 1. Stable, not immutable: jsonb_build_object '
  'is. Inlined by the planner.';

-- A summary is an ordinary system message (metadata kind "summary", covers [first_seq,
-- last_seq]); raw messages are never changed or removed, so every read and export still shows
-- everything.
create function private.is_summary(p_role text, p_metadata jsonb)
returns boolean
language sql
immutable
begin atomic
  select p_role = 'system' and p_metadata @> '{"kind": "summary"}';
end;
comment on function private.is_summary(text, jsonb) is
  'A summary message: role system, metadata.kind "summary". Inlined by the planner.';
