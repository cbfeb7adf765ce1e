-- Erasure (GDPR). The service erases every conversation and message of a user, in bounded
-- batches, and an erasure record says who asked, when and how many rows went (no content);
-- conversations under legal hold are kept and counted. Deleting the user from auth.users (every
-- Supabase project has it; the local bootstrap creates a minimal one) erases their
-- conversations the same way.

create table public.ai_erasures (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  requested_by text not null,
  requested_at timestamptz not null default now(),
  finished_at timestamptz not null default clock_timestamp(),
  conversations_removed integer not null,
  messages_removed bigint not null,
  feedback_removed bigint not null,
  conversations_kept integer not null,
  kept_reason text
);
comment on table public.ai_erasures is
  'One row per erasure of a user''s data: whose, who asked (the caller''s role and JWT sub, or '
  '"auth.users delete"), when, how many rows were removed and how many conversations were kept and '
  'why (legal hold). Never any content.';
comment on column public.ai_erasures.id is 'The erasure record''s id.';
comment on column public.ai_erasures.user_id is 'Whose data was erased.';
comment on column public.ai_erasures.requested_by is 'Who asked: the caller''s role and JWT sub, or "auth.users delete".';
comment on column public.ai_erasures.requested_at is 'When the erasure was asked for (its transaction''s start).';
comment on column public.ai_erasures.finished_at is 'When the erasure finished.';
comment on column public.ai_erasures.conversations_removed is 'Conversations deleted.';
comment on column public.ai_erasures.messages_removed is 'Messages deleted with them.';
comment on column public.ai_erasures.feedback_removed is 'Ratings the user gave elsewhere that were deleted.';
comment on column public.ai_erasures.conversations_kept is 'Conversations of the user kept (under legal hold).';
comment on column public.ai_erasures.kept_reason is 'Why conversations were kept (legal hold), null when none were.';
create index ai_erasures_recent_idx on public.ai_erasures (requested_at, id);
create index ai_erasures_user_idx on public.ai_erasures (user_id, requested_at);

alter table public.ai_erasures enable row level security;
create policy "service_role reads erasures" on public.ai_erasures
  for select to service_role using (true);
create policy "service_role records erasures" on public.ai_erasures
  for insert to service_role with check (true);
revoke all on public.ai_erasures from public, anon, authenticated, service_role;
grant select, insert on public.ai_erasures to service_role;

create function private.erase_user(p_user_id uuid, p_requested_by text, p_batch_size integer)
returns public.ai_erasures
language plpgsql
set search_path = ''
as $$
declare
  v_ids text[];
  v_n integer;
  v_conversations integer := 0;
  v_messages bigint := 0;
  v_feedback bigint := 0;
  v_kept integer;
  v_row public.ai_erasures;
begin
  if p_user_id is null then
    raise exception 'user_id is required' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    raise exception 'batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  -- Waits for every write of the user in flight (they hold it shared until they commit) and
  -- refuses new ones until this transaction ends; the statements below see what they wrote.
  perform pg_advisory_xact_lock(private.erasure_lock_space(), hashtext(p_user_id::text));
  -- The user's ratings outside their own conversations (given through the service).
  delete from public.ai_message_feedback f
   where f.user_id = p_user_id
     and not exists (select 1 from public.ai_conversations c
                      where c.conversation_id = f.conversation_id and c.legal_hold);
  get diagnostics v_n = row_count;
  v_feedback := v_n;
  loop
    select array_agg(b.conversation_id) into v_ids
      from (select c.conversation_id from public.ai_conversations c
             where c.user_id = p_user_id and not c.legal_hold
             limit p_batch_size
               for update) b;
    exit when v_ids is null;
    delete from public.ai_conversation_messages m where m.conversation_id = any (v_ids);
    get diagnostics v_n = row_count;
    v_messages := v_messages + v_n;
    delete from public.ai_conversations c where c.conversation_id = any (v_ids);
    get diagnostics v_n = row_count;
    v_conversations := v_conversations + v_n;
  end loop;
  -- The usage ledger is about the user too (counts, no content): it goes as well, once a roll-up
  -- in progress (which may have read the user's messages) has written what it read.
  perform private.wait_for_usage_rollup();
  delete from public.ai_usage_daily u where u.user_id = p_user_id;
  select count(*) into v_kept from public.ai_conversations c where c.user_id = p_user_id and c.legal_hold;
  insert into public.ai_erasures (user_id, requested_by, conversations_removed, messages_removed,
                                  feedback_removed, conversations_kept, kept_reason)
  values (p_user_id, p_requested_by, v_conversations, v_messages, v_feedback, v_kept,
          case when v_kept > 0 then 'legal hold' end)
  returning * into v_row;
  return v_row;
end
$$;
comment on function private.erase_user(uuid, text, integer) is
  'Deletes a user''s conversations (not those under legal hold), their messages and the user''s '
  'ratings, p_batch_size conversations per statement, and records the erasure. Takes the user''s '
  'erasure lock first: the user''s writes in flight are waited for and erased, new ones refused '
  'until it ends.';

create function public.erase_user_data(p_user_id uuid, p_batch_size integer default 500)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if auth.role() in ('anon', 'authenticated') then
    raise exception 'only the service may erase a user''s data' using errcode = '42501';
  end if;
  return to_json(private.erase_user(
    p_user_id,
    coalesce(auth.role(), session_user::text) || coalesce(' ' || (auth.jwt() ->> 'sub'), ''),
    p_batch_size));
end
$$;
comment on function public.erase_user_data(uuid, integer) is
  'Erases every conversation and message of p_user_id (service only), keeping conversations under '
  'legal hold; returns the erasure record.';

create function public.list_erasures(p_user_id uuid default null, p_limit integer default 50)
returns json
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(json_agg(e order by e.requested_at desc, e.id desc), '[]'::json)
    from (select * from public.ai_erasures x
           where p_user_id is null or x.user_id = p_user_id
           order by x.requested_at desc, x.id desc
           limit least(greatest(p_limit, 1), 1000)) e
$$;
comment on function public.list_erasures(uuid, integer) is
  'The newest erasure records (all, or one user''s), at most 1000; service only.';

-- auth.users ------------------------------------------------------------------------------------
-- Security definer: GoTrue deletes users as its own role (supabase_auth_admin), which holds no
-- privilege on the conversation tables. The trigger is on a table of Supabase's auth schema,
-- which Supabase's schema diff leaves alone: its migration (20261204100700_erasure.sql) is what
-- creates it on a project.
create function private.erase_deleted_auth_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.erase_user(old.id, 'auth.users delete', 500);
  return null;
end
$$;
comment on function private.erase_deleted_auth_user() is
  'Erases the conversations of a user deleted from auth.users (legal holds kept, erasure recorded).';
create trigger ai_conversations_erase_deleted_user after delete on auth.users
  for each row execute function private.erase_deleted_auth_user();
