-- The group commit of ends (app/src/service/end_batch.rs): concurrent requests to end a running step
-- that has no sub-steps, without `force` and without failing the job, end in one call that, being a
-- statement of its own, commits. The call takes only that common case: a request it cannot end
-- so — no such job or step, not the caller's job, a step already ended or with sub-steps, a second
-- end of a step in the same call — comes back unanswered and is then ended alone by the rules of
-- `end_step` (steps.rs), which also give any refusal its words. So the rules live in one place.
create function end_running_steps(
    req_job uuid[], req_step uuid[], req_user uuid[], req_any boolean[], req_own boolean[],
    req_status text[], req_type text[])
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
    r_end boolean[] := array_fill(false, array[n]);
    r_type text[] := array_fill(null::text, array[n]);
    k integer;
    p integer;
begin
    -- Locked in id order, as every writer of a job locks it before its steps: no deadlock.
    select coalesce(array_agg(l.id order by l.id), '{}'), array_agg(l.owner order by l.id)
      into j_id, j_owner
      from (select x.id, x.owner from job x where x.id = any(req_job) order by x.id for update) l;
    select coalesce(array_agg(s.id), '{}'), array_agg(s.job_id), array_agg(s.status),
           array_agg(s.child_count), array_agg(s.step_type)
      into s_id, s_job, s_status, s_children, s_type
      from step s where s.id = any(req_step);

    for r in 1 .. n loop
        k := array_position(j_id, req_job[r]);
        p := array_position(s_id, req_step[r]);
        if k is not null and (req_any[r] or (req_own[r] and j_owner[k] = req_user[r]))
           and p is not null and s_job[p] = req_job[r] and s_status[p] = 'started'
           and s_children[p] = 0 then
            r_end[r] := true;
            r_type[r] := coalesce(req_type[r], s_type[p]);
            -- Another request to end it in this call is answered alone, after this one's commit.
            s_status[p] := req_status[r];
        end if;
    end loop;

    update job x set last_updated = now(),
           lease_expires_at = now() + make_interval(secs => x.timeout_seconds)
      from (select distinct q.job from unnest(req_job, r_end) as q(job, ends) where q.ends) c
     where x.id = c.job;
    -- The steps (their triggers journal the events and move the jobs' progress sums), read back
    -- in the requests' order; an unanswered request has no row of its own.
    return query
    with req as (
        select * from unnest(req_step, req_status, r_type, r_end)
                 with ordinality as q(step, status, step_type, ends, i)
    ), u as (
        update step x set status = q.status, step_type = q.step_type, end_time = now()
          from req q
         where x.id = q.step and q.ends
        returning x.*
    )
    select q.i::integer, u.id, u.job_id, u.parent_step_id, u.number, u.step_type, u.description,
           u.status, u.is_external, u.progress, u.start_time, u.end_time, u.result
      from req q left join u on q.ends and u.id = q.step
     order by q.i;
end
$$;
