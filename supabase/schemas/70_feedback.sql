-- Feedback: a rating (+1 or -1, with an optional comment) per user per message, replaceable and
-- withdrawable, under the same ownership rule as the messages. The message readers return the
-- caller's own rating with each message (42_conversations.sql); the dashboard's ratings by model
-- and day: ai_feedback_by_model_day (85_dashboard_views.sql).

create table public.ai_message_feedback (
  id uuid primary key default gen_random_uuid(),
  conversation_id varchar(255) not null,
  seq bigint not null,
  user_id uuid,
  rating smallint not null constraint ai_message_feedback_rating_check check (rating in (-1, 1)),
  comment text constraint ai_message_feedback_comment_length check (char_length(comment) between 1 and 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint ai_message_feedback_one_per_user unique nulls not distinct (conversation_id, seq, user_id)
);
comment on table public.ai_message_feedback is
  'Ratings of messages: one per user per message (the service''s own, user_id null, counts as one '
  'rater). Removed with their message (a statement-level trigger on message deletes, not a foreign '
  'key: a cascade would cost cleanup one lookup per deleted message).';
comment on column public.ai_message_feedback.id is 'Internal id.';
comment on column public.ai_message_feedback.conversation_id is 'The rated message''s conversation (with seq: the message).';
comment on column public.ai_message_feedback.seq is 'The rated message''s seq.';
comment on column public.ai_message_feedback.user_id is 'Who rated: the calling user; null for the service.';
comment on column public.ai_message_feedback.rating is '+1 (thumbs up) or -1 (thumbs down).';
comment on column public.ai_message_feedback.comment is 'Optional free text, 1 to 2000 characters.';
comment on column public.ai_message_feedback.created_at is 'When the rater first rated this message.';
comment on column public.ai_message_feedback.updated_at is 'When the rating was last replaced.';

alter table public.ai_message_feedback enable row level security;
create policy "service_role manages feedback" on public.ai_message_feedback
  for all to service_role using (true) with check (true);
create policy "authenticated selects own feedback" on public.ai_message_feedback
  for select to authenticated
  using (private.is_owner(user_id, (select auth.uid())) and exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_message_feedback.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated rates messages of own live conversations" on public.ai_message_feedback
  for insert to authenticated
  with check (private.is_owner(user_id, (select auth.uid())) and exists (
    select 1 from public.ai_conversation_messages m
      join public.ai_conversations c on c.conversation_id = m.conversation_id
     where m.conversation_id = ai_message_feedback.conversation_id and m.seq = ai_message_feedback.seq
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated updates own feedback" on public.ai_message_feedback
  for update to authenticated
  using (private.is_owner(user_id, (select auth.uid())) and exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_message_feedback.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))))
  with check (private.is_owner(user_id, (select auth.uid())));
create policy "authenticated deletes own feedback" on public.ai_message_feedback
  for delete to authenticated
  using (private.is_owner(user_id, (select auth.uid())) and exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_message_feedback.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

revoke all on public.ai_message_feedback from public, anon, authenticated, service_role;
grant select, insert, update, delete on public.ai_message_feedback to service_role;
grant select, delete on public.ai_message_feedback to authenticated;
grant insert (conversation_id, seq, user_id, rating, comment) on public.ai_message_feedback to authenticated;
grant update (rating, comment, updated_at) on public.ai_message_feedback to authenticated;

-- Rate, withdraw ----------------------------------------------------------------------------------
create function public.set_message_feedback(
  p_conversation_id text,
  p_seq bigint,
  p_rating integer,
  p_comment text default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_message public.ai_conversation_messages;
  v_feedback public.ai_message_feedback;
begin
  if p_rating is null or p_rating not in (-1, 1) then
    raise exception 'rating must be 1 or -1' using errcode = '22023';
  end if;
  select m.* into v_message
    from public.ai_conversation_messages m
    join public.ai_conversations c on c.conversation_id = m.conversation_id and c.expires_at > now()
   where m.conversation_id = p_conversation_id and m.seq = p_seq;
  if not found then
    raise exception 'message % of conversation % not found', p_seq, p_conversation_id using errcode = 'P0002';
  end if;
  insert into public.ai_message_feedback as f (conversation_id, seq, user_id, rating, comment)
  values (p_conversation_id, p_seq, auth.uid(), p_rating, nullif(p_comment, ''))
  on conflict on constraint ai_message_feedback_one_per_user
  do update set rating = excluded.rating, comment = excluded.comment, updated_at = now()
  returning f.* into v_feedback;
  return json_build_object('message', v_message, 'feedback', json_build_object(
    'rating', v_feedback.rating, 'comment', v_feedback.comment, 'user_id', v_feedback.user_id,
    'created_at', v_feedback.created_at, 'updated_at', v_feedback.updated_at));
end
$$;
comment on function public.set_message_feedback(text, bigint, integer, text) is
  'Rates message p_seq of a live conversation as the caller (+1 or -1, optional comment), replacing '
  'the caller''s earlier rating; returns the message with the feedback. P0002 when the message is '
  'not one the caller may read.';

create function public.delete_message_feedback(p_conversation_id text, p_seq bigint)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_deleted integer;
begin
  if not exists (
    select 1 from public.ai_conversation_messages m
      join public.ai_conversations c on c.conversation_id = m.conversation_id and c.expires_at > now()
     where m.conversation_id = p_conversation_id and m.seq = p_seq) then
    raise exception 'message % of conversation % not found', p_seq, p_conversation_id using errcode = 'P0002';
  end if;
  delete from public.ai_message_feedback f
   where f.conversation_id = p_conversation_id and f.seq = p_seq and f.user_id is not distinct from auth.uid();
  get diagnostics v_deleted = row_count;
  return json_build_object('conversation_id', p_conversation_id, 'seq', p_seq, 'deleted', v_deleted > 0);
end
$$;
comment on function public.delete_message_feedback(text, bigint) is
  'Withdraws the caller''s rating of message p_seq (deleted = false when there was none).';

-- The first rating flags its conversation (ai_conversations.rated): the message readers join
-- ratings only then. Security definer: the rater (a user) may not update the conversation row;
-- the flag is set once.
create function private.mark_conversation_rated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.ai_conversations c set rated = true
   where c.conversation_id = new.conversation_id and not c.rated;
  return null;
end
$$;
comment on function private.mark_conversation_rated() is
  'Sets ai_conversations.rated on a conversation''s first rating.';
create trigger mark_conversation_rated after insert on public.ai_message_feedback
  for each row execute function private.mark_conversation_rated();

-- Ratings go with their message. Per statement, by conversation (an index probe each), so a
-- cleanup batch pays one small delete, not one lookup per message. Security definer: a user
-- clearing its own conversation also removes the service's ratings of those messages.
create function private.delete_feedback_of_deleted_messages()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.ai_message_feedback f
   using (select distinct o.conversation_id from old_rows o) d
   where f.conversation_id = d.conversation_id
     and not exists (select 1 from public.ai_conversation_messages m
                      where m.conversation_id = f.conversation_id and m.seq = f.seq);
  return null;
end
$$;
comment on function private.delete_feedback_of_deleted_messages() is
  'Removes the ratings of messages deleted by the statement (clear, cleanup, erasure, delete).';
create trigger delete_feedback_of_deleted_messages after delete on public.ai_conversation_messages
  referencing old table as old_rows
  for each statement execute function private.delete_feedback_of_deleted_messages();

create function private.before_feedback_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.user_id is not null
     and not pg_try_advisory_xact_lock_shared(private.erasure_lock_space(), hashtext(new.user_id::text)) then
    perform private.refuse_write_during_erasure(new.user_id);
  end if;
  return new;
end
$$;
comment on function private.before_feedback_insert() is
  'Takes the rater''s erasure lock (shared, until commit; 55P03 while an erasure of the rater runs).';
create trigger before_feedback_insert before insert on public.ai_message_feedback
  for each row execute function private.before_feedback_insert();

-- A rating in the export shape (44_export_import.sql reads it; here, after the table).
create function private.export_feedback_json(f public.ai_message_feedback)
returns json
language sql
stable
begin atomic
  select json_build_object('user_id', f.user_id, 'rating', f.rating, 'comment', f.comment,
                           'created_at', f.created_at, 'updated_at', f.updated_at);
end;
comment on function private.export_feedback_json(public.ai_message_feedback) is
  'A rating in the export shape (what import_conversation() reads). Inlined by the planner.';
