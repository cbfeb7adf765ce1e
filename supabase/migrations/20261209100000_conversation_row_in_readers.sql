-- Event streams bound to a conversation's row (issue 22, item 1). A conversation id is reused once
-- its conversation is deleted or expires, so the id string alone cannot tell a live stream that the
-- conversation it authorised is gone and another, perhaps another user's, took its place. The
-- readers' JSON now names the row (`row_id`, ai_conversations.id): the API binds a subscription to
-- it and ends the stream when the row it authorised is no longer the one behind the id.
-- Additive: clients that decode the conversation ignore the new key (the API does not show it).

create or replace function private.conversation_json(c public.ai_conversations)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'conversation_id', c.conversation_id,
    'row_id', c.id,
    'user_id', c.user_id,
    'title', c.title,
    'metadata', c.metadata,
    'archived', c.archived,
    'pinned', c.pinned,
    'tags', c.tags,
    'legal_hold', c.legal_hold,
    'ttl_hours', c.ttl_hours,
    'message_count', c.message_count,
    'last_seq', c.last_seq,
    'created_at', c.created_at,
    'updated_at', c.updated_at,
    'expires_at', c.expires_at);
end;
comment on function private.conversation_json(public.ai_conversations) is
  'A conversation as the store''s readers answer it; row_id names the row (ids are reused after '
  'deletion or expiry), so a live stream can tell its conversation from a later one of the same id.';
