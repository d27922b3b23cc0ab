-- Roles (named sets of action groups), their attachment to users, and the audit log.

create table role (
    name       text primary key check (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,62}$'),
    builtin    boolean not null default false,
    created_at timestamptz not null default now()
);

create table role_action_group (
    role_name    text not null references role (name) on delete cascade,
    action_group text not null check (action_group in
        ('INJECT_EXTERNAL_TASKS', 'VIEW_TASKS', 'RUN_INTERNAL_COMMANDS', 'MANAGE_TASKS', 'MANAGE_USERS')),
    primary key (role_name, action_group)
);

create table user_role (
    user_id   uuid not null references app_user (id) on delete cascade,
    role_name text not null references role (name) on delete cascade,
    primary key (user_id, role_name)
);

insert into role (name, builtin) values ('SuperUser', true), ('ExternalTasksCreator', true), ('TaskViewer', true);
insert into role_action_group (role_name, action_group) values
    ('SuperUser', 'INJECT_EXTERNAL_TASKS'), ('SuperUser', 'VIEW_TASKS'), ('SuperUser', 'RUN_INTERNAL_COMMANDS'),
    ('SuperUser', 'MANAGE_TASKS'), ('SuperUser', 'MANAGE_USERS'),
    ('ExternalTasksCreator', 'INJECT_EXTERNAL_TASKS'), ('ExternalTasksCreator', 'VIEW_TASKS'),
    ('TaskViewer', 'VIEW_TASKS');

-- Users that existed before roles were all administrators.
insert into user_role (user_id, role_name) select id, 'SuperUser' from app_user;

create table audit_event (
    id         bigserial primary key,
    at         timestamptz not null default now(),
    actor      uuid references app_user (id) on delete set null,
    actor_name text,
    action     text not null,
    target     text,
    address    text,
    success    boolean not null default true,
    detail     text
);
create index audit_event_at_idx on audit_event (at desc, id desc);
-- Sign-in throttling counts recent failures per user name and per address.
create index audit_failed_sign_in_target_idx on audit_event (target, at) where action = 'sign_in' and not success;
create index audit_failed_sign_in_address_idx on audit_event (address, at) where action = 'sign_in' and not success;
