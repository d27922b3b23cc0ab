-- A job's progress is the mean over its top-level steps of 100 for an ended step and its own progress
-- (or 0) for a running one, shown once any of them has ended or reported progress. Lists computed it
-- for every row by reading all the job's top-level steps: a first page of 50 jobs of 30,000 steps
-- each took 1.5 s, and a job may hold 100,000. Now the job keeps the two sums the mean needs, kept
-- by the step table's statement triggers in the writing transaction (every writer of a job's steps
-- holds the job's row lock already), and a list reads them from the job row.
--
--   root_score        sum over top-level steps of (100 if ended, else coalesce(progress, 0))
--   root_informative  how many top-level steps have ended or reported progress
--
-- The mean's divisor is `root_count`: top-level steps are numbered 0, 1, 2, ... and only ever
-- removed with their job, so it is their number.

alter table job add column root_score bigint not null default 0,
                add column root_informative integer not null default 0;

update job j set root_score = s.score, root_informative = s.informative
  from (select t.job_id,
               sum(case when t.status in ('finished', 'failed', 'aborted') then 100
                        else coalesce(t.progress, 0) end) as score,
               count(*) filter (where t.status in ('finished', 'failed', 'aborted')
                                   or t.progress is not null) as informative
          from step t where t.parent_step_id is null group by t.job_id) s
 where j.id = s.job_id and (s.score <> 0 or s.informative <> 0);

-- A new top-level step moves the sums only when it is added already ended or with progress (an add
-- with a terminal status, one step at a time): a row trigger whose condition PostgreSQL checks without
-- calling it, so the group commit of new running steps pays nothing.
create function step_rollup_created() returns trigger language plpgsql as $$
begin
    update job set root_score = root_score
                       + case when new.status in ('finished', 'failed', 'aborted') then 100
                              else coalesce(new.progress, 0) end,
                   root_informative = root_informative + 1
     where id = new.job_id;
    return null;
end
$$;

create trigger step_rollup_created after insert on step for each row
    when (new.parent_step_id is null
          and (new.status in ('finished', 'failed', 'aborted') or new.progress is not null))
    execute function step_rollup_created();

-- Changes come one step at a time (progress, an end) or many in one statement (a job's end closing
-- its running steps, the staleness sweep): per statement, one update per job.
create function step_rollup_updated() returns trigger language plpgsql as $$
begin
    update job j set root_score = j.root_score + d.score,
                     root_informative = j.root_informative + d.informative
      from (select s.job_id,
                   sum((case when s.status in ('finished', 'failed', 'aborted') then 100
                             else coalesce(s.progress, 0) end)
                     - (case when o.status in ('finished', 'failed', 'aborted') then 100
                             else coalesce(o.progress, 0) end)) as score,
                   sum((s.status in ('finished', 'failed', 'aborted') or s.progress is not null)::integer
                     - (o.status in ('finished', 'failed', 'aborted') or o.progress is not null)::integer)
                     as informative
              from new_steps s join old_steps o on o.id = s.id
             where s.parent_step_id is null
               and (s.status is distinct from o.status or s.progress is distinct from o.progress)
             group by s.job_id) d
     where j.id = d.job_id and (d.score <> 0 or d.informative <> 0);
    return null;
end
$$;

create trigger step_rollup_updated after update on step
    referencing old table as old_steps new table as new_steps
    for each statement execute function step_rollup_updated();

-- The group commit of new steps (migration add_started_steps_in_one_call), unchanged but for one
-- thing: it updates parent steps' counters only when a request in the batch went under a parent.
create or replace function add_started_steps(
    req_job uuid[], req_parent uuid[], req_user uuid[], req_any boolean[], req_own boolean[],
    req_id uuid[], req_type text[], req_description text[], req_external boolean[],
    max_steps integer, max_depth integer, number_own_events boolean)
returns table (i integer, outcome text, state text, owner uuid,
               id uuid, job_id uuid, parent_step_id uuid, number integer, step_type text,
               description text, status text, is_external boolean, progress smallint,
               start_time timestamptz, end_time timestamptz, result text)
language plpgsql
-- The statements are the same at every call, only the arrays' lengths differ: plan them once.
set plan_cache_mode = force_generic_plan
-- Every statement reaches its few rows by key. A plan made while a table is small (a new database)
-- would otherwise scan it whole, and keep doing so as it grows.
set enable_seqscan = off
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
    n integer := cardinality(req_job);
    -- The locked jobs and the parents, as parallel arrays with running counters.
    j_id uuid[]; j_status text[]; j_owner uuid[]; j_steps integer[]; j_roots integer[];
    j_touched boolean[];
    p_id uuid[]; p_job uuid[]; p_status text[]; p_depth integer[]; p_children integer[];
    p_touched boolean[];
    -- Per request: the outcome, and where an accepted step goes.
    r_outcome text[] := array_fill(null::text, array[n]);
    r_state text[] := array_fill(null::text, array[n]);
    r_owner uuid[] := array_fill(null::uuid, array[n]);
    r_number integer[] := array_fill(null::integer, array[n]);
    r_depth integer[] := array_fill(null::integer, array[n]);
    k integer;
    p integer;
begin
    if number_own_events then
        -- The step trigger numbers the events it writes (migration writers_number_their_step_events).
        perform set_config('stepwise.number_events', 'on', true);
    end if;
    -- Locked in id order, as every writer of a job locks it before its steps: no deadlock.
    select coalesce(array_agg(l.id order by l.id), '{}'), array_agg(l.status order by l.id),
           array_agg(l.owner order by l.id), array_agg(l.step_count order by l.id),
           array_agg(l.root_count order by l.id), array_agg(false)
      into j_id, j_status, j_owner, j_steps, j_roots, j_touched
      from (select x.id, x.status, x.owner, x.step_count, x.root_count from job x
             where x.id = any(req_job) order by x.id for update) l;
    select coalesce(array_agg(s.id), '{}'), array_agg(s.job_id), array_agg(s.status),
           array_agg(s.depth), array_agg(s.child_count), array_agg(false)
      into p_id, p_job, p_status, p_depth, p_children, p_touched
      from step s where s.id = any(req_parent);

    for r in 1 .. n loop
        k := array_position(j_id, req_job[r]);
        if k is null then
            r_outcome[r] := 'job_missing';
        elsif not req_any[r] and not (req_own[r] and j_owner[k] = req_user[r]) then
            r_outcome[r] := 'forbidden';
            r_owner[r] := j_owner[k];
        elsif j_status[k] in ('finished', 'failed', 'aborted') then
            r_outcome[r] := 'job_ended';
            r_state[r] := j_status[k];
        elsif j_steps[k] >= max_steps then
            r_outcome[r] := 'job_full';
        elsif req_parent[r] is null then
            r_outcome[r] := 'created';
            r_number[r] := j_roots[k];
            r_depth[r] := 1;
            j_roots[k] := j_roots[k] + 1;
            j_steps[k] := j_steps[k] + 1;
            j_touched[k] := true;
        else
            p := array_position(p_id, req_parent[r]);
            if p is null then
                r_outcome[r] := 'parent_missing';
            elsif p_job[p] <> req_job[r] then
                r_outcome[r] := 'parent_elsewhere';
            elsif p_status[p] in ('finished', 'failed', 'aborted') then
                r_outcome[r] := 'parent_ended';
                r_state[r] := p_status[p];
            elsif p_depth[p] >= max_depth then
                r_outcome[r] := 'too_deep';
            else
                r_outcome[r] := 'created';
                r_number[r] := p_children[p];
                r_depth[r] := p_depth[p] + 1;
                p_children[p] := p_children[p] + 1;
                p_touched[p] := true;
                j_steps[k] := j_steps[k] + 1;
                j_touched[k] := true;
            end if;
        end if;
    end loop;

    update job x set step_count = c.steps, root_count = c.roots, last_updated = now(),
           lease_expires_at = now() + make_interval(secs => x.timeout_seconds)
      from unnest(j_id, j_steps, j_roots, j_touched) as c(id, steps, roots, touched)
     where x.id = c.id and c.touched;
    -- Only when some request went under a parent: the statement would otherwise still run the step
    -- table's update triggers for nothing.
    if true = any(p_touched) then
        update step x set child_count = c.children
          from unnest(p_id, p_children, p_touched) as c(id, children, touched)
         where x.id = c.id and c.touched;
    end if;
    -- The steps (their trigger journals the events), read back with every request's outcome.
    return query
    with req as (
        select * from unnest(req_job, req_parent, req_id, req_type, req_description, req_external,
                             r_outcome, r_state, r_owner, r_number, r_depth)
                 with ordinality as q(job_id, parent_id, id, step_type, description, is_external,
                                      outcome, state, owner, number, depth, i)
    ), s as (
        insert into step (id, job_id, parent_step_id, number, depth, step_type, description,
                          status, is_external)
        select q.id, q.job_id, q.parent_id, q.number, q.depth, q.step_type, q.description,
               'started', q.is_external
          from req q where q.outcome = 'created'
        returning *
    )
    select q.i::integer, q.outcome, q.state, q.owner, s.id, s.job_id, s.parent_step_id, s.number,
           s.step_type, s.description, s.status, s.is_external, s.progress, s.start_time,
           s.end_time, s.result
      from req q left join s on s.id = q.id
     order by q.i;
end
$$;
