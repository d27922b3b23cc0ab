-- A step's events carry the progress the API shows for it: its own, else — once one of its
-- sub-steps tells — the mean of its sub-steps' values (the roll-up the step keeps in `kids_score`,
-- `kids_informative` and `child_count`, migration `step_progress_rolled_up_on_write`). They carried
-- its own progress only, so a parent without one was `null` in every event while a read said 50.
-- A parent whose shown progress moves (a sub-step reported, ended or was added) now gets an event
-- of its own too, in the same transaction, before its sub-step's: the roll-up's statement trigger
-- (`step_rollup_updated`) fires before this one and its update of the parents comes back here.
--
-- A step that failed or was aborted shows its own progress only, never a roll-up: an aborted step
-- whose sub-steps had all ended (the abort ends the running ones) showed 100 %, as if its work were
-- done. (In its parent's roll-up it still counts 100: it is no longer work to do.)
--
-- One definition of the figure for the reads (rows.rs) and the events: a SQL function the planner
-- inlines.

create function step_shown_progress(status text, progress smallint, kids_score bigint,
                                    kids_informative integer, child_count integer)
returns smallint language sql immutable parallel safe as $$
    select coalesce(progress,
                    case when kids_informative > 0 and child_count > 0
                              and status not in ('failed', 'aborted')
                         then (kids_score / child_count)::smallint end)
$$;

create or replace function step_events() returns trigger language plpgsql as $$
declare
    changed uuid[];
    -- The number before this statement's first event; null when the sequencer numbers them.
    base bigint;
    written bigint;
begin
    if tg_op = 'UPDATE' then
        -- Only changes a viewer sees: not the bookkeeping columns (counters, sums), unless they
        -- move the progress shown.
        changed := array(
            select s.id from new_steps s join old_steps o on o.id = s.id
             where o.status is distinct from s.status
                or step_shown_progress(o.status, o.progress, o.kids_score, o.kids_informative, o.child_count)
                   is distinct from
                   step_shown_progress(s.status, s.progress, s.kids_score, s.kids_informative, s.child_count)
                or o.step_type is distinct from s.step_type or o.end_time is distinct from s.end_time
                or o.result is distinct from s.result);
        if cardinality(changed) = 0 then
            return null;
        end if;
    end if;
    if current_setting('stepwise.number_events', true) = 'on' then
        -- The sequencer's lock (events.rs), then the committed events before ours, then ours.
        perform pg_advisory_xact_lock(7203461002);
        perform number_pending_events(null);
        written := case when tg_op = 'INSERT' then (select count(*) from new_steps)
                        else cardinality(changed) end;
        update event_counter set last = last + written returning last - written into base;
    end if;
    insert into event (seq, kind, job_id, is_external, data)
    select base + row_number() over (order by s.id),
           case when tg_op = 'INSERT' then 'step.created' else 'step.updated' end,
           s.job_id, j.is_external, jsonb_strip_nulls(jsonb_build_object(
               'id', s.id, 'job_id', s.job_id, 'parent_step_id', s.parent_step_id, 'number', s.number,
               'type', s.step_type, 'description', s.description, 'status', s.status,
               'is_external', s.is_external,
               'progress', step_shown_progress(s.status, s.progress, s.kids_score, s.kids_informative,
                                               s.child_count),
               'start_time', s.start_time, 'end_time', s.end_time, 'result', s.result))
      from new_steps s join job j on j.id = s.job_id
     where tg_op = 'INSERT' or s.id in (select unnest(changed));
    return null;
end
$$;
