-- A job's progress in lists is the mean over its top-level steps of 100 for an ended one and, for a
-- running one, its own progress or 0 — while the detail rolls the whole tree up: a running top-level
-- step without progress of its own counts the mean of its sub-steps (the same rule, all the way down).
-- A job whose first step had ended and whose second had half its disks copied showed 33 % in the list
-- and 51 % on its page. Now every step keeps the two sums its own roll-up needs, as the job keeps them
-- for its top-level steps (migration `job_progress_kept_on_the_job`), moved in the writing transaction:
--
--   kids_score        sum over its sub-steps of their value
--   kids_informative  how many of its sub-steps are informative
--
-- A step's value is 100 once ended; else its own progress; else, once a sub-step is informative, the
-- mean of its sub-steps' values (`kids_score / child_count`, whole numbers as the tree's roll-up
-- divides); else 0. It is informative when ended, with progress, or with an informative sub-step.
-- The job keeps the same two sums over its top-level steps, so a list's figure is the detail's.
--
-- A change moves the sums of the changed steps' parents (or jobs), whose update moves their parents'
-- in turn (the same statement trigger, one level up each time; at most 32 levels). Adding a running
-- step without progress under a parent changes only the parent's `child_count`: the mean's divisor,
-- so it moves the parent's value only once one of its sub-steps is informative.

alter table step add column kids_score bigint not null default 0,
                 add column kids_informative integer not null default 0;

create function step_value(status text, progress smallint, kids_score bigint,
                           kids_informative integer, child_count integer)
returns bigint language sql immutable parallel safe as $$
    select case when status in ('finished', 'failed', 'aborted') then 100
                when progress is not null then progress
                when kids_informative > 0 and child_count > 0 then kids_score / child_count
                else 0 end
$$;

create function step_informative(status text, progress smallint, kids_informative integer)
returns integer language sql immutable parallel safe as $$
    select (status in ('finished', 'failed', 'aborted') or progress is not null
            or kids_informative > 0)::integer
$$;

-- The sums as they stand, deepest parents first, with the old triggers gone.
drop trigger step_rollup_created on step;
drop trigger step_rollup_updated on step;

do $$
declare
    d integer;
begin
    for d in reverse 31..1 loop
        update step p set kids_score = c.score, kids_informative = c.informative
          from (select s.parent_step_id,
                       sum(step_value(s.status, s.progress, s.kids_score, s.kids_informative,
                                      s.child_count)) as score,
                       sum(step_informative(s.status, s.progress, s.kids_informative)) as informative
                  from step s
                 where s.depth = d + 1
                 group by s.parent_step_id) c
         where p.id = c.parent_step_id and p.depth = d
           and (c.score <> 0 or c.informative <> 0);
    end loop;
end
$$;

update job j set root_score = t.score, root_informative = t.informative
  from (select s.job_id,
               sum(step_value(s.status, s.progress, s.kids_score, s.kids_informative,
                              s.child_count)) as score,
               sum(step_informative(s.status, s.progress, s.kids_informative)) as informative
          from step s
         where s.parent_step_id is null
         group by s.job_id
        having bool_or(s.kids_informative > 0)) t
 where j.id = t.job_id
   and (j.root_score, j.root_informative) is distinct from (t.score, t.informative);

-- A new step is informative only when added already ended or with progress (an add with a terminal
-- status, one step at a time): a row trigger whose condition PostgreSQL checks without calling it, so
-- the group commit of new running steps pays nothing here.
create or replace function step_rollup_created() returns trigger language plpgsql as $$
begin
    if new.parent_step_id is null then
        update job set root_score = root_score
                           + step_value(new.status, new.progress, 0, 0, 0),
                       root_informative = root_informative + 1
         where id = new.job_id;
    else
        update step set kids_score = kids_score + step_value(new.status, new.progress, 0, 0, 0),
                        kids_informative = kids_informative + 1
         where id = new.parent_step_id;
    end if;
    return null;
end
$$;

create trigger step_rollup_created after insert on step for each row
    when (new.status in ('finished', 'failed', 'aborted') or new.progress is not null)
    execute function step_rollup_created();

-- Changes come one step at a time (progress, an end, a parent's counters) or many in one statement (a
-- job's end closing its running steps, the staleness sweep, a batch): per statement, one update of
-- each job and of each parent step whose sums moved. The parents' update comes back here for theirs.
create or replace function step_rollup_updated() returns trigger language plpgsql as $$
begin
    -- A statement trigger fires for a statement that changed no row too: the parents' update below
    -- ends the climb that way.
    if not exists (select from new_steps) then
        return null;
    end if;
    update job j set root_score = j.root_score + t.score,
                     root_informative = j.root_informative + t.informative
      from (select s.job_id,
                   sum(step_value(s.status, s.progress, s.kids_score, s.kids_informative, s.child_count)
                     - step_value(o.status, o.progress, o.kids_score, o.kids_informative, o.child_count))
                     as score,
                   sum(step_informative(s.status, s.progress, s.kids_informative)
                     - step_informative(o.status, o.progress, o.kids_informative)) as informative
              from new_steps s join old_steps o on o.id = s.id
             where s.parent_step_id is null
             group by s.job_id) t
     where j.id = t.job_id and (t.score <> 0 or t.informative <> 0);
    if exists (select from new_steps s where s.parent_step_id is not null) then
        update step p set kids_score = p.kids_score + t.score,
                          kids_informative = p.kids_informative + t.informative
          from (select s.parent_step_id,
                       sum(step_value(s.status, s.progress, s.kids_score, s.kids_informative,
                                      s.child_count)
                         - step_value(o.status, o.progress, o.kids_score, o.kids_informative,
                                      o.child_count)) as score,
                       sum(step_informative(s.status, s.progress, s.kids_informative)
                         - step_informative(o.status, o.progress, o.kids_informative)) as informative
                  from new_steps s join old_steps o on o.id = s.id
                 where s.parent_step_id is not null
                 group by s.parent_step_id) t
         where p.id = t.parent_step_id and (t.score <> 0 or t.informative <> 0);
    end if;
    return null;
end
$$;

create trigger step_rollup_updated after update on step
    referencing old table as old_steps new table as new_steps
    for each statement execute function step_rollup_updated();
