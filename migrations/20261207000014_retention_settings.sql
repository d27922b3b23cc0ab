-- Retention settings an administrator changed at run time (MANAGE_TASKS): one row at most, read by
-- every server process before each retention pass. No row: each process uses its own configuration
-- (STEPWISE_RETENTION_* flags or environment).
create table retention_setting (
    singleton boolean primary key default true check (singleton),
    finished_minutes integer not null check (finished_minutes between 0 and 525600),
    unsuccessful_minutes integer not null check (unsuccessful_minutes between 0 and 525600),
    interval_seconds integer not null check (interval_seconds between 1 and 86400),
    updated_at timestamptz not null default now(),
    updated_by text not null
);
