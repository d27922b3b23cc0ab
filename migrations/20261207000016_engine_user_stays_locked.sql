-- The engine's own user (`stepwise-engine`, owner of retention runs) was meant never to sign in, but
-- the administration calls let it be enabled, given a password, roles and API tokens — and then
-- anyone holding them acted as the engine. The service now refuses those changes; this locks the user
-- again where an earlier version let it be opened, and keeps the store from opening it.
update app_user set disabled = true, password_hash = '!'
 where id = '00000000-0000-7000-8000-000000000001';
delete from user_role where user_id = '00000000-0000-7000-8000-000000000001';
update access_token set revoked_at = now()
 where user_id = '00000000-0000-7000-8000-000000000001' and revoked_at is null;
alter table app_user add constraint app_user_engine_stays_locked
    check (id <> '00000000-0000-7000-8000-000000000001' or (disabled and password_hash = '!'));
