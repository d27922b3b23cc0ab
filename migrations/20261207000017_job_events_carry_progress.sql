-- A job's events carry its progress as the REST API gives it at that moment (100 once finished, none
-- once failed or aborted, else the mean kept on the job over its top-level steps), so an event's job
-- is the job as read. Only the job's own changes make job events: its steps' progress reaches a
-- subscriber through their step events. The rule is the one in `rows::JOB_COLUMNS`; change both or
-- neither.
create or replace function job_json(j job) returns jsonb language sql stable as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', j.id, 'description', j.description, 'status', j.status, 'is_external', j.is_external,
        'auto_cleared', j.auto_cleared, 'owner', j.owner,
        'owner_name', (select u.username from app_user u where u.id = j.owner),
        'correlation_id', j.correlation_id, 'start_time', j.start_time, 'end_time', j.end_time,
        'last_updated', j.last_updated, 'result', j.result, 'timeout_seconds', j.timeout_seconds,
        'progress', case when j.status = 'finished' then 100
                         when j.status in ('failed', 'aborted') then null
                         when j.root_informative > 0 and j.root_count > 0
                             then j.root_score / j.root_count end))
$$;
