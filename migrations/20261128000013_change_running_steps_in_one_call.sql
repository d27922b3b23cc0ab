-- The group commit of changes to running steps (app/src/service/change_batch.rs): ends, as before
-- (migration end_running_steps_in_one_call), and now progress reports too, which a plug-in sends
-- far more often. One call takes both kinds, so a job's ends and reports share its calls.
--
-- A request is an end when its status is given, else a progress report (its progress). The call
-- takes only the common case: a running step without sub-steps, in the named job, the caller's to
-- change, and not already changed earlier in the same call. Every other request comes back
-- unanswered (a null id) and is then written alone by the rules of `end_step` / `set_progress`
-- (steps.rs), which also give any refusal its words; a second change of one step in a call is
-- written alone after this one's commit, so requests to one step apply in their order.
create function change_running_steps(
    req_job uuid[], req_step uuid[], req_user uuid[], req_any boolean[], req_own boolean[],
    req_status text[], req_type text[], req_progress smallint[])
returns table (i integer, id uuid, job_id uuid, parent_step_id uuid, number integer,
               step_type text, description text, status text, is_external boolean,
               progress smallint, start_time timestamptz, end_time timestamptz, result text)
language plpgsql
-- As add_started_steps: the same statements at every call, each reaching its rows by key.
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
    n integer := cardinality(req_job);
    j_id uuid[]; j_owner uuid[];
    s_id uuid[]; s_job uuid[]; s_status text[]; s_children integer[]; s_type text[];
    s_changed boolean[];
    r_change boolean[] := array_fill(false, array[n]);
    r_type text[] := array_fill(null::text, array[n]);
    k integer;
    p integer;
begin
    -- Locked in id order, as every writer of a job locks it before its steps: no deadlock.
    select coalesce(array_agg(l.id order by l.id), '{}'), array_agg(l.owner order by l.id)
      into j_id, j_owner
      from (select x.id, x.owner from job x where x.id = any(req_job) order by x.id for update) l;
    select coalesce(array_agg(s.id), '{}'), array_agg(s.job_id), array_agg(s.status),
           array_agg(s.child_count), array_agg(s.step_type), array_agg(false)
      into s_id, s_job, s_status, s_children, s_type, s_changed
      from step s where s.id = any(req_step);

    for r in 1 .. n loop
        k := array_position(j_id, req_job[r]);
        p := array_position(s_id, req_step[r]);
        if k is not null and (req_any[r] or (req_own[r] and j_owner[k] = req_user[r]))
           and p is not null and s_job[p] = req_job[r] and s_status[p] = 'started'
           and s_children[p] = 0 and not s_changed[p] then
            r_change[r] := true;
            if req_status[r] is not null then
                r_type[r] := coalesce(req_type[r], s_type[p]);
            end if;
            s_changed[p] := true;
        end if;
    end loop;

    update job x set last_updated = now(),
           lease_expires_at = now() + make_interval(secs => x.timeout_seconds)
      from (select distinct q.job from unnest(req_job, r_change) as q(job, changes) where q.changes) c
     where x.id = c.job;
    -- The steps (their triggers journal the events and move the jobs' progress sums), read back
    -- in the requests' order; an unanswered request has no row of its own.
    return query
    with req as (
        select * from unnest(req_step, req_status, r_type, req_progress, r_change)
                 with ordinality as q(step, status, step_type, progress, changes, i)
    ), u as (
        update step x
           set status = coalesce(q.status, x.status),
               step_type = coalesce(q.step_type, x.step_type),
               end_time = case when q.status is null then x.end_time else now() end,
               progress = case when q.status is null then q.progress else x.progress end
          from req q
         where x.id = q.step and q.changes
        returning x.*
    )
    select q.i::integer, u.id, u.job_id, u.parent_step_id, u.number, u.step_type, u.description,
           u.status, u.is_external, u.progress, u.start_time, u.end_time, u.result
      from req q left join u on q.changes and u.id = q.step
     order by q.i;
end
$$;

drop function end_running_steps(uuid[], uuid[], uuid[], boolean[], boolean[], text[], text[]);
