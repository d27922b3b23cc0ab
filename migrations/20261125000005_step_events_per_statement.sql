-- Journal triggers without NOTIFY, and step events per statement.
--
-- NOTIFY makes every committing transaction that used it take one database-wide lock until its
-- commit is durable, so writers that notified committed one at a time. Now the server process that
-- writes wakes its own sequencer directly, and the sequencer polls as a fallback (see events.rs).
--
-- Step events are journalled per statement instead of per row: a statement that writes many steps
-- (the group commit of new steps, bulk ends) journals them in one insert. The per-row trigger cost
-- about 50 µs a step, mostly calling step_json once per row; this costs about 13.
-- The event data is what step_json built; step_json, now unused, goes.

create or replace function job_event() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into event (kind, job_id, is_external, data) values ('job.created', new.id, new.is_external, job_json(new));
    elsif tg_op = 'UPDATE' then
        insert into event (kind, job_id, is_external, data) values ('job.updated', new.id, new.is_external, job_json(new));
    else
        insert into event (kind, job_id, is_external, data)
        values ('job.purged', old.id, old.is_external, jsonb_build_object('id', old.id));
    end if;
    return null;
end
$$;

create function step_events() returns trigger language plpgsql as $$
declare
    changed uuid[];
begin
    if tg_op = 'UPDATE' then
        -- Only changes a viewer sees: not the bookkeeping columns (counters).
        changed := array(
            select s.id from new_steps s join old_steps o on o.id = s.id
             where o.status is distinct from s.status or o.progress is distinct from s.progress
                or o.step_type is distinct from s.step_type or o.end_time is distinct from s.end_time
                or o.result is distinct from s.result);
        if cardinality(changed) = 0 then
            return null;
        end if;
    end if;
    insert into event (kind, job_id, is_external, data)
    select case when tg_op = 'INSERT' then 'step.created' else 'step.updated' end,
           s.job_id, j.is_external, jsonb_strip_nulls(jsonb_build_object(
               'id', s.id, 'job_id', s.job_id, 'parent_step_id', s.parent_step_id, 'number', s.number,
               'type', s.step_type, 'description', s.description, 'status', s.status,
               'is_external', s.is_external, 'progress', s.progress, 'start_time', s.start_time,
               'end_time', s.end_time, 'result', s.result))
      from new_steps s join job j on j.id = s.job_id
     where tg_op = 'INSERT' or s.id in (select unnest(changed));
    return null;
end
$$;

drop trigger step_changed on step;
drop trigger step_updated on step;
drop function step_event();
drop function step_json(step);
create trigger step_created after insert on step referencing new table as new_steps
    for each statement execute function step_events();
create trigger step_updated after update on step referencing old table as old_steps new table as new_steps
    for each statement execute function step_events();

-- Retention finds its cut by walking the sequence from the oldest event instead (events.rs), which
-- reads only what it deletes; one index fewer to write for every event, twice (insert, numbering).
drop index event_at_idx;
