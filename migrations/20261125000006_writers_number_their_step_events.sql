-- A writer may number its own step events as it writes them, instead of leaving them to the
-- sequencer. The group commit of new steps does (it sets `stepwise.number_events` to `on` for its
-- transaction): numbering afterwards rewrote every event row, its JSON and its index entries, which
-- cost more than writing the step and its event together.
--
-- A numbering writer takes the sequencer's lock, numbers every committed event still without a
-- number first (so an event never gets a lower number than one committed before it was written),
-- then its own, and keeps the lock until it commits. So numbers still become visible in order: no
-- reader following `seq` can see a number while a lower one is still to come. Other writers leave
-- `seq` empty, and the sequencer numbers their events as before.

-- Number committed events that have none, in the order they were written, at most `max_events`
-- (null: all). The caller holds the sequencer's lock. Returns the highest number given. PL/pgSQL
-- rather than SQL: its plans are kept for the session, where a SQL function's query would be parsed
-- and planned again at every call.
create function number_pending_events(max_events bigint) returns bigint language plpgsql
    -- Walk the unnumbered-events index in order, whatever the statistics say: a bitmap scan visits
    -- every entry of an event numbered since the last vacuum and never marks them dead, and a
    -- sequential scan (chosen while a new journal has no statistics yet) reads every event.
    set enable_bitmapscan = off
    set enable_seqscan = off
as $$
declare
    head bigint;
begin
    -- A writer numbering its own (no limit) usually finds nothing waiting; the sequencer (a limit)
    -- looked before it took the lock.
    if max_events is null and not exists (select from event where seq is null) then
        return null;
    end if;
    with pending as (select id, row_number() over (order by id) as n
                       from event where seq is null order by id limit max_events),
         counter as (update event_counter set last = last + (select count(*) from pending)
                     returning last - (select count(*) from pending) as base),
         numbered as (update event e set seq = counter.base + pending.n
                        from pending, counter where e.id = pending.id
                      returning e.seq)
    select max(seq) into head from numbered;
    return head;
end
$$;

create or replace function step_events() returns trigger language plpgsql as $$
declare
    changed uuid[];
    -- The number before this statement's first event; null when the sequencer numbers them.
    base bigint;
    written bigint;
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
               'is_external', s.is_external, 'progress', s.progress, 'start_time', s.start_time,
               'end_time', s.end_time, 'result', s.result))
      from new_steps s join job j on j.id = s.job_id
     where tg_op = 'INSERT' or s.id in (select unnest(changed));
    return null;
end
$$;
