-- Users, access tokens, jobs, steps and idempotency keys.

create extension if not exists pg_trgm;

create table app_user (
    id            uuid primary key,
    username      text not null unique check (char_length(username) between 1 and 100),
    password_hash text not null,
    disabled      boolean not null default false,
    created_at    timestamptz not null default now()
);

-- Bearer tokens (short-lived, from the token endpoint), API tokens (long-lived, for plug-ins) and UI
-- sessions. Only a SHA-256 of the secret is kept.
create table access_token (
    id          uuid primary key,
    token_hash  bytea not null unique,
    user_id     uuid not null references app_user (id) on delete cascade,
    kind        text not null check (kind in ('bearer', 'api', 'session')),
    name        text,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
create index access_token_user_idx on access_token (user_id);

create table job (
    id             uuid primary key,
    description    text not null check (char_length(description) between 1 and 4000),
    status         text not null check (status in ('started', 'finished', 'failed', 'aborted', 'unknown')),
    is_external    boolean not null,
    auto_cleared   boolean not null default false,
    owner          uuid not null references app_user (id),
    correlation_id text check (correlation_id ~ '^[0-9A-Za-z_-]{1,50}$'),
    start_time     timestamptz not null default now(),
    end_time       timestamptz,
    last_updated   timestamptz not null default now(),
    -- Counters kept under the job's row lock: the next number for a top-level step, and the limit.
    root_count     integer not null default 0,
    step_count     integer not null default 0,
    check ((end_time is null) = (status not in ('finished', 'failed', 'aborted')))
);

-- Newest first, keyset (start_time, id): one index per list filter, each ending in the sort key.
create index job_start_idx       on job (start_time desc, id desc);
create index job_status_idx      on job (status, start_time desc, id desc);
create index job_external_idx    on job (is_external, start_time desc, id desc);
create index job_owner_idx       on job (owner, start_time desc, id desc);
create index job_correlation_idx on job (correlation_id, start_time desc, id desc) where correlation_id is not null;
create index job_description_trgm_idx on job using gin (description gin_trgm_ops);
-- Retention: ended auto-cleared jobs by end time.
create index job_auto_cleared_idx on job (end_time) where auto_cleared and end_time is not null;

create table step (
    id             uuid primary key,
    job_id         uuid not null references job (id) on delete cascade,
    parent_step_id uuid references step (id) on delete cascade,
    number         integer not null check (number >= 0),
    depth          integer not null check (depth between 1 and 32),
    step_type      text not null check (step_type in ('validating', 'executing', 'finalizing')),
    description    text not null check (char_length(description) between 1 and 4000),
    status         text not null check (status in ('started', 'finished', 'failed', 'aborted', 'unknown')),
    is_external    boolean not null,
    progress       smallint check (progress between 0 and 100),
    child_count    integer not null default 0,
    start_time     timestamptz not null default now(),
    end_time       timestamptz,
    check ((end_time is null) = (status not in ('finished', 'failed', 'aborted'))),
    -- Siblings have distinct numbers; the top level (null parent) counts as one parent.
    constraint step_sibling_number_key unique nulls not distinct (job_id, parent_step_id, number)
);
create index step_parent_idx  on step (parent_step_id) where parent_step_id is not null;
create index step_running_idx on step (job_id) where status = 'started';

-- `Idempotency-Key`: the first response to a creating request, replayed for 24 hours.
create table idempotency_key (
    owner       uuid not null references app_user (id) on delete cascade,
    key         text not null,
    fingerprint bytea not null,
    response    jsonb,
    created_at  timestamptz not null default now(),
    primary key (owner, key)
);
create index idempotency_key_created_idx on idempotency_key (created_at);
