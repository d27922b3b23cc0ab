-- Internal commands, leases, process liveness, exports.

alter table job add column result text,
                add column timeout_seconds integer check (timeout_seconds between 1 and 604800),
                add column lease_expires_at timestamptz,
                add column process_id uuid;
alter table step add column result text;

create index job_lease_idx on job (lease_expires_at) where status = 'started' and lease_expires_at is not null;
create index job_process_idx on job (process_id) where status = 'started' and process_id is not null;

-- Each running server process, with a heartbeat; internal jobs of a process that stopped beating
-- become `unknown`.
create table engine_process (
    id           uuid primary key,
    started_at   timestamptz not null default now(),
    heartbeat_at timestamptz not null default now()
);

-- Files written by ExportJobs, downloadable by their owner (or MANAGE_TASKS).
create table export_file (
    id         uuid primary key,
    owner      uuid not null references app_user (id) on delete cascade,
    job_id     uuid,
    format     text not null check (format in ('jsonl', 'csv')),
    path       text not null,
    rows       bigint not null default 0,
    created_at timestamptz not null default now()
);

create or replace function job_json(j job) returns jsonb language sql stable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', j.id, 'description', j.description, 'status', j.status, 'is_external', j.is_external,
        'auto_cleared', j.auto_cleared, 'owner', j.owner,
        'owner_name', (select u.username from app_user u where u.id = j.owner),
        'correlation_id', j.correlation_id, 'start_time', j.start_time, 'end_time', j.end_time,
        'last_updated', j.last_updated, 'result', j.result, 'timeout_seconds', j.timeout_seconds))
$$;

create or replace function step_json(s step) returns jsonb language sql immutable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', s.id, 'job_id', s.job_id, 'parent_step_id', s.parent_step_id, 'number', s.number,
        'type', s.step_type, 'description', s.description, 'status', s.status, 'is_external', s.is_external,
        'progress', s.progress, 'start_time', s.start_time, 'end_time', s.end_time, 'result', s.result))
$$;

drop trigger job_updated on job;
create trigger job_updated after update on job for each row
    when (old.status is distinct from new.status or old.auto_cleared is distinct from new.auto_cleared
          or old.description is distinct from new.description or old.end_time is distinct from new.end_time
          or old.result is distinct from new.result)
    execute function job_event();

drop trigger step_updated on step;
create trigger step_updated after update on step for each row
    when (old.status is distinct from new.status or old.progress is distinct from new.progress
          or old.step_type is distinct from new.step_type or old.end_time is distinct from new.end_time
          or old.result is distinct from new.result)
    execute function step_event();

-- The engine's own user: owner of the jobs the engine starts by itself (retention). It cannot sign in.
insert into app_user (id, username, password_hash, disabled)
values ('00000000-0000-7000-8000-000000000001', 'stepwise-engine', '!', true)
on conflict do nothing;
