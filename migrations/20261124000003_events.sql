-- The event journal. Triggers append an event for every change to a job or step, in the changing
-- transaction. Writers leave `seq` empty; a sequencer (one at a time, under an advisory lock) numbers
-- committed events in order, so a reader that follows `seq` never skips an event whose transaction
-- committed after a later-numbered one.

create table event (
    id          bigint generated always as identity primary key,
    seq         bigint unique,
    at          timestamptz not null default clock_timestamp(),
    kind        text not null,
    job_id      uuid not null,
    is_external boolean not null,
    data        jsonb not null
);
-- The last number given: numbers only grow, even after old events are forgotten.
create table event_counter (
    only_row boolean primary key default true check (only_row),
    last     bigint not null
);
insert into event_counter (last) values (0);

create index event_unsequenced_idx on event (id) where seq is null;
create index event_job_idx on event (job_id, seq);
create index event_at_idx on event (at);

create function job_json(j job) returns jsonb language sql stable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', j.id, 'description', j.description, 'status', j.status, 'is_external', j.is_external,
        'auto_cleared', j.auto_cleared, 'owner', j.owner,
        'owner_name', (select u.username from app_user u where u.id = j.owner),
        'correlation_id', j.correlation_id, 'start_time', j.start_time, 'end_time', j.end_time,
        'last_updated', j.last_updated))
$$;

create function step_json(s step) returns jsonb language sql immutable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', s.id, 'job_id', s.job_id, 'parent_step_id', s.parent_step_id, 'number', s.number,
        'type', s.step_type, 'description', s.description, 'status', s.status, 'is_external', s.is_external,
        'progress', s.progress, 'start_time', s.start_time, 'end_time', s.end_time))
$$;

create function job_event() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into event (kind, job_id, is_external, data) values ('job.created', new.id, new.is_external, job_json(new));
    elsif tg_op = 'UPDATE' then
        insert into event (kind, job_id, is_external, data) values ('job.updated', new.id, new.is_external, job_json(new));
    else
        insert into event (kind, job_id, is_external, data)
        values ('job.purged', old.id, old.is_external, jsonb_build_object('id', old.id));
    end if;
    perform pg_notify('stepwise_events_pending', '');
    return null;
end
$$;

create trigger job_changed after insert or delete on job for each row execute function job_event();
-- Only changes a viewer sees: not the bookkeeping columns (last_updated, counters).
create trigger job_updated after update on job for each row
    when (old.status is distinct from new.status or old.auto_cleared is distinct from new.auto_cleared
          or old.description is distinct from new.description or old.end_time is distinct from new.end_time)
    execute function job_event();

create function step_event() returns trigger language plpgsql as $$
begin
    insert into event (kind, job_id, is_external, data)
    values (case when tg_op = 'INSERT' then 'step.created' else 'step.updated' end,
            new.job_id, (select j.is_external from job j where j.id = new.job_id), step_json(new));
    perform pg_notify('stepwise_events_pending', '');
    return null;
end
$$;

create trigger step_changed after insert on step for each row execute function step_event();
create trigger step_updated after update on step for each row
    when (old.status is distinct from new.status or old.progress is distinct from new.progress
          or old.step_type is distinct from new.step_type or old.end_time is distinct from new.end_time)
    execute function step_event();
