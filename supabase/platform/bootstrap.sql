-- Platform bootstrap: what every Supabase database already has and plain PostgreSQL lacks.
--
-- Run before the migrations on the local stack (scripts/stack.sh up). Every statement
-- creates only what is missing, so running it against a real Supabase project (or twice)
-- changes nothing. Definitions follow Supabase's own (supabase/postgres init scripts).

-- API roles used by PostgREST and by the Postgres transport's security context.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
    alter role anon set statement_timeout = '3s';
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
    alter role authenticated set statement_timeout = '8s';
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
    alter role authenticator set statement_timeout = '8s';
    grant anon, authenticated, service_role to authenticator;
  end if;
end
$$;

-- The schemas Supabase ships.
do $$
begin
  if not exists (select 1 from pg_namespace where nspname = 'extensions') then
    create schema extensions;
    grant usage on schema extensions to postgres, anon, authenticated, service_role;
  end if;
  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
end
$$;

grant usage on schema public to anon, authenticated, service_role;

-- auth.uid(), auth.role(), auth.jwt(): read the claims PostgREST puts in request.jwt.claims.
do $$
begin
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
      $f$;
    comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim.role', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
        )::text
      $f$;
    comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';
  end if;
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
      language sql stable
      as $f$
        select coalesce(
          nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
      $f$;
  end if;
end
$$;

grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- auth.users: GoTrue's user table, minimal (the columns a migration may rely on: id, email and
-- the timestamps). A Supabase project has the full table; this creates one only where none exists.
do $$
begin
  if to_regclass('auth.users') is null then
    create table auth.users (
      id uuid primary key,
      email varchar(255),
      created_at timestamptz default now(),
      updated_at timestamptz default now()
    );
    comment on table auth.users is 'Auth: Stores user login data within a secure schema.';
  end if;
end
$$;

-- The publication Supabase Realtime reads postgres_changes from.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

-- Supabase Realtime's schema, as far as Broadcast from the database needs it: realtime.messages
-- (partitioned by day on inserted_at), realtime.topic(), realtime.send() and
-- realtime.broadcast_changes(), equivalent to the definitions of Realtime's own tenant migrations
-- (supabase/realtime, lib/realtime/tenants/repo/migrations). Created only where no realtime
-- schema exists: on a Supabase project, Realtime owns it and this block does nothing.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
  if exists (select 1 from pg_namespace where nspname = 'realtime') then
    return;
  end if;

  create schema realtime;
  -- The marker the partition upkeep below looks for: it never touches a schema Realtime manages.
  comment on schema realtime is
    'Supabase Realtime (Broadcast from the database), as created by the local platform bootstrap';
  grant usage on schema realtime to postgres, anon, authenticated, service_role;

  create table realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp without time zone not null default now(),
    inserted_at timestamp without time zone not null default now(),
    id uuid not null default gen_random_uuid(),
    binary_payload bytea,
    primary key (id, inserted_at),
    constraint messages_payload_exclusive check (payload is null or binary_payload is null) not valid
  ) partition by range (inserted_at);
  create index messages_inserted_at_topic_index on realtime.messages (inserted_at desc, topic)
    where extension = 'broadcast' and private is true;
  alter table realtime.messages enable row level security;
  grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;
  alter table realtime.messages owner to supabase_realtime_admin;

  -- The topic Realtime is authorising a client for (it sets realtime.topic before it runs the
  -- policies of realtime.messages); null outside such a check.
  create function realtime.topic() returns text
    language sql stable
    as $f$ select nullif(current_setting('realtime.topic', true), '')::text $f$;

  -- One Broadcast message from the database: a row of realtime.messages, which Realtime reads
  -- from the WAL and sends to the topic's subscribers. A failure (no partition for today, say)
  -- is a warning, never an error of the caller's transaction.
  create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
    returns void
    language plpgsql
    as $f$
    declare
      v_id uuid := gen_random_uuid();
    begin
      begin
        execute format('set local realtime.topic to %L', topic);
        insert into realtime.messages (id, payload, event, topic, private, extension)
        values (v_id,
                case when payload ? 'id' then payload else jsonb_set(payload, '{id}', to_jsonb(v_id)) end,
                event, topic, private, 'broadcast');
      exception when others then
        raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
      end;
    end
    $f$;

  -- A row change in the shape of Postgres Changes, sent with realtime.send; for row triggers.
  create function realtime.broadcast_changes(
    topic_name text, event_name text, operation text, table_name text, table_schema text,
    new record, old record, level text default 'ROW'
  ) returns void
    language plpgsql
    as $f$
    begin
      if level = 'STATEMENT' then
        raise exception 'function can only be triggered for each row, not for each statement';
      end if;
      if operation not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'Unexpected operation type: %', operation;
      end if;
      perform realtime.send(
        jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                           'table', table_name, 'schema', table_schema),
        event_name, topic_name);
    exception when others then
      raise exception 'Failed to process the row: %', sqlerrm;
    end
    $f$;

  alter function realtime.topic() owner to supabase_realtime_admin;
  alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
  alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
    owner to supabase_realtime_admin;
end
$$;

-- What Realtime's janitor does for its tenants, at every bootstrap of the local stack (there is
-- no Realtime server here): a partition of realtime.messages for each day from yesterday to three
-- days ahead, and none older than three days. Only for the schema this bootstrap created.
do $$
declare
  v_day date;
  v_partition text;
begin
  if obj_description('realtime'::regnamespace, 'pg_namespace') is distinct from
     'Supabase Realtime (Broadcast from the database), as created by the local platform bootstrap' then
    return;
  end if;
  for v_day in
    select d::date from generate_series((now() at time zone 'utc')::date - 1,
                                        (now() at time zone 'utc')::date + 3, interval '1 day') d
  loop
    v_partition := 'messages_' || to_char(v_day, 'YYYY_MM_DD');
    if to_regclass('realtime.' || v_partition) is null then
      execute format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
                     v_partition, v_day, v_day + 1);
      execute format('alter table realtime.%I owner to supabase_realtime_admin', v_partition);
    end if;
  end loop;
  for v_partition in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'realtime.messages'::regclass
       and to_date(substr(c.relname, 10), 'YYYY_MM_DD') < (now() at time zone 'utc')::date - 3
  loop
    execute format('drop table realtime.%I', v_partition);
  end loop;
end
$$;
