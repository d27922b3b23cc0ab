//! Administration: users, roles, role assignment, API tokens, the audit log. All need MANAGE_USERS
//! and are audited.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::{self, Origin, Record};
use super::commands::ENGINE_USER;
use super::users::{hash_password, hashing, new_secret, parse_groups};
use super::{Caller, Engine, Result, ServiceError};
use crate::domain::{
    check_password, check_username, ActionGroup, ApiToken, AuditEntry, NewApiToken, NewRole,
    NewUser, Role, User,
};

/// Most users, roles, tokens or audit entries one list answers.
const ADMIN_LIST_LIMIT: i64 = 1000;

const USER_COLUMNS: &str = "u.id, u.username, u.disabled, u.created_at,
    array(select ur.role_name from user_role ur where ur.user_id = u.id order by 1) as roles";

type TokenRow = (
    Uuid,
    Option<String>,
    Uuid,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

type UserRow = (Uuid, String, bool, DateTime<Utc>, Vec<String>);

fn user((id, username, disabled, created_at, roles): UserRow) -> User {
    User {
        id,
        username,
        disabled,
        roles,
        created_at,
        builtin: id == ENGINE_USER,
    }
}

/// What refusing a change to the engine's own user says.
const ENGINE_USER_LOCKED: &str = "stepwise-engine is the engine's own user: it owns the jobs the \
    engine starts by itself and nobody signs in as it, so it cannot be enabled or disabled, nor be \
    given a password, roles or API tokens";

/// The engine's own user is not an account anyone may open (see [`ENGINE_USER_LOCKED`]).
fn not_the_engine(user_id: Uuid) -> Result<()> {
    if user_id == ENGINE_USER {
        return Err(ServiceError::conflict(ENGINE_USER_LOCKED));
    }
    Ok(())
}

/// A role's permissions, written; their names, for the audit log.
async fn write_role_groups(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    role_name: &str,
    groups: &[ActionGroup],
) -> Result<Vec<&'static str>> {
    let names: Vec<&'static str> = groups.iter().map(|g| g.as_str()).collect();
    sqlx::query(
        "insert into role_action_group (role_name, action_group) select $1, unnest($2::text[])",
    )
    .bind(role_name)
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    Ok(names)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

impl Engine {
    pub async fn create_user(
        &self,
        caller: &Caller,
        origin: &Origin,
        input: NewUser,
    ) -> Result<User> {
        caller.require(ActionGroup::ManageUsers)?;
        let username = check_username(&input.username)
            .map_err(|m| ServiceError::invalid("username", m))?
            .to_owned();
        check_password(&input.password).map_err(|m| ServiceError::invalid("password", m))?;
        let password = input.password;
        let hash = hashing(move || hash_password(&password)).await??;
        let mut tx = self.pool.begin().await?;
        let id = Uuid::now_v7();
        let inserted =
            sqlx::query("insert into app_user (id, username, password_hash) values ($1, $2, $3)")
                .bind(id)
                .bind(&username)
                .bind(hash)
                .execute(&mut *tx)
                .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                ServiceError::conflict(format!("a user named {username} already exists"))
            } else {
                e.into()
            });
        }
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "user_created",
                target: Some(username),
                success: true,
                detail: None,
            },
        )
        .await?;
        let created = self.user_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn user_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: Uuid,
    ) -> Result<User> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from app_user u where u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(user)
            .ok_or_else(|| ServiceError::NotFound(format!("user {id} not found")))
    }

    /// One user, as a job's owner link leads to it: one's own, or anyone's for a caller with
    /// VIEW_TASKS (which already shows every job's owner by name) or MANAGE_USERS.
    pub async fn get_user(&self, caller: &Caller, user_id: Uuid) -> Result<User> {
        if caller.user_id != user_id
            && !caller.can(ActionGroup::ViewTasks)
            && !caller.can(ActionGroup::ManageUsers)
        {
            return Err(ServiceError::Forbidden(
                "you may read your own user; another's needs the VIEW_TASKS or MANAGE_USERS \
                 permission, which none of your roles grants"
                    .into(),
            ));
        }
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from app_user u where u.id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let mut found = row
            .map(user)
            .ok_or_else(|| ServiceError::NotFound(format!("user {user_id} not found")))?;
        if caller.user_id != user_id && !caller.can(ActionGroup::ManageUsers) {
            // Who holds which role is for those who manage users.
            found.roles.clear();
        }
        Ok(found)
    }

    /// The user an administration path names, by id or by user name (`bob`, or oVirt's
    /// `bob@internal`): a script knows its users by name. Needs MANAGE_USERS, as every operation on
    /// such a path does, so that nobody else learns which names exist. An id is taken as it is (the
    /// operation says when there is no such user); a name nobody has is a 404, and text that can be
    /// neither (`bob smith`) a 400 naming `user_id`.
    pub async fn user_by_id_or_name(&self, caller: &Caller, raw: &str) -> Result<Uuid> {
        caller.require(ActionGroup::ManageUsers)?;
        if let Ok(id) = Uuid::parse_str(raw) {
            return Ok(id);
        }
        let cannot_be = |_| {
            ServiceError::invalid(
                "user_id",
                "is neither a user id (a UUID) nor a user name (letters, digits, '.', '_' or '-')",
            )
        };
        self.user_named(raw, cannot_be).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "there is no user named {}",
                super::users::local_name(raw)
            ))
        })
    }

    /// The id of the user a name names (`bob`, or oVirt's `bob@internal`), `None` when nobody has
    /// it; text that cannot be a user name is `cannot_be`'s refusal (given `check_username`'s words),
    /// and is never looked up.
    async fn user_named(
        &self,
        raw: &str,
        cannot_be: impl FnOnce(String) -> ServiceError,
    ) -> Result<Option<Uuid>> {
        let name = check_username(super::users::local_name(raw)).map_err(cannot_be)?;
        Ok(
            sqlx::query_scalar("select id from app_user where username = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn list_users(&self, caller: &Caller) -> Result<Vec<User>> {
        caller.require(ActionGroup::ManageUsers)?;
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from app_user u order by u.username limit $1"
        ))
        .bind(ADMIN_LIST_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// Disable or re-enable a user; a disabled user's tokens and sessions stop working at once.
    pub async fn set_user_disabled(
        &self,
        caller: &Caller,
        origin: &Origin,
        user_id: Uuid,
        disabled: bool,
    ) -> Result<User> {
        caller.require(ActionGroup::ManageUsers)?;
        not_the_engine(user_id)?;
        if disabled && user_id == caller.user_id {
            return Err(ServiceError::conflict("you cannot disable yourself"));
        }
        let mut tx = self.pool.begin().await?;
        let name: Option<String> = sqlx::query_scalar(
            "update app_user set disabled = $2 where id = $1 returning username",
        )
        .bind(user_id)
        .bind(disabled)
        .fetch_optional(&mut *tx)
        .await?;
        let name =
            name.ok_or_else(|| ServiceError::NotFound(format!("user {user_id} not found")))?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: if disabled {
                    "user_disabled"
                } else {
                    "user_enabled"
                },
                target: Some(name),
                success: true,
                detail: None,
            },
        )
        .await?;
        let changed = self.user_in(&mut tx, user_id).await?;
        tx.commit().await?;
        self.auth_cache.clear();
        Ok(changed)
    }

    pub async fn reset_password(
        &self,
        caller: &Caller,
        origin: &Origin,
        user_id: Uuid,
        password: String,
    ) -> Result<User> {
        caller.require(ActionGroup::ManageUsers)?;
        not_the_engine(user_id)?;
        check_password(&password).map_err(|m| ServiceError::invalid("password", m))?;
        self.write_password(caller, origin, user_id, password, "password_reset")
            .await
    }

    /// A signed-in user's own new password. The current one must be given, and is checked as a
    /// sign-in is (throttled, audited): a session left open on someone's desk is not enough to
    /// take the account over.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        origin: &Origin,
        current_password: &str,
        new_password: String,
    ) -> Result<User> {
        check_password(&new_password).map_err(|m| ServiceError::invalid("new_password", m))?;
        match self
            .sign_in(&caller.username, current_password, origin)
            .await
        {
            Err(ServiceError::Unauthorized(_)) => {
                return Err(ServiceError::invalid(
                    "current_password",
                    "is not your current password",
                ))
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.write_password(
            caller,
            origin,
            caller.user_id,
            new_password,
            "password_changed",
        )
        .await
    }

    /// Store a user's new password and audit it as `action`; tokens and sessions stay.
    async fn write_password(
        &self,
        caller: &Caller,
        origin: &Origin,
        user_id: Uuid,
        password: String,
        action: &'static str,
    ) -> Result<User> {
        let hash = hashing(move || hash_password(&password)).await??;
        let mut tx = self.pool.begin().await?;
        let name: Option<String> = sqlx::query_scalar(
            "update app_user set password_hash = $2 where id = $1 returning username",
        )
        .bind(user_id)
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await?;
        let name =
            name.ok_or_else(|| ServiceError::NotFound(format!("user {user_id} not found")))?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action,
                target: Some(name),
                success: true,
                detail: None,
            },
        )
        .await?;
        let changed = self.user_in(&mut tx, user_id).await?;
        tx.commit().await?;
        self.auth_cache.clear();
        Ok(changed)
    }

    pub async fn list_roles(&self, caller: &Caller) -> Result<Vec<Role>> {
        caller.require(ActionGroup::ManageUsers)?;
        let rows: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
            "select r.name, r.builtin,
                    array(select g.action_group from role_action_group g where g.role_name = r.name order by 1)
               from role r order by r.builtin desc, r.name limit $1",
        )
        .bind(ADMIN_LIST_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, builtin, groups)| Role {
                name,
                builtin,
                action_groups: parse_groups(&groups),
            })
            .collect())
    }

    pub async fn create_role(
        &self,
        caller: &Caller,
        origin: &Origin,
        input: NewRole,
    ) -> Result<Role> {
        caller.require(ActionGroup::ManageUsers)?;
        let valid_name = !input.name.is_empty()
            && input.name.len() <= 63
            && input.name.starts_with(|c: char| c.is_ascii_alphabetic())
            && input
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(ServiceError::invalid(
                "name",
                "must start with a letter and hold at most 63 letters, digits, '_' or '-'",
            ));
        }
        let mut groups = input.action_groups;
        groups.sort();
        groups.dedup();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query("insert into role (name) values ($1)")
            .bind(&input.name)
            .execute(&mut *tx)
            .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                ServiceError::conflict(format!("a role named {} already exists", input.name))
            } else {
                e.into()
            });
        }
        let names = write_role_groups(&mut tx, &input.name, &groups).await?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "role_created",
                target: Some(input.name.clone()),
                success: true,
                detail: Some(names.join(",")),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Role {
            name: input.name,
            action_groups: groups,
            builtin: false,
        })
    }

    /// Attach (`attach = true`) or detach a role. Both are idempotent.
    pub async fn set_user_role(
        &self,
        caller: &Caller,
        origin: &Origin,
        user_id: Uuid,
        role_name: &str,
        attach: bool,
    ) -> Result<User> {
        caller.require(ActionGroup::ManageUsers)?;
        if role_name.contains('\0') {
            // No role can have such a name (nor can the store hold it).
            return Err(ServiceError::NotFound(format!(
                "role {} not found",
                role_name.escape_debug()
            )));
        }
        not_the_engine(user_id)?;
        let mut tx = self.pool.begin().await?;
        let target: Option<String> =
            sqlx::query_scalar("select username from app_user where id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let target =
            target.ok_or_else(|| ServiceError::NotFound(format!("user {user_id} not found")))?;
        // Held until commit: a concurrent deletion of the role waits for this, and then sees the
        // new holder (or this waits for the deletion, and then finds no role).
        let role: Option<i32> =
            sqlx::query_scalar("select 1 from role where name = $1 for key share")
                .bind(role_name)
                .fetch_optional(&mut *tx)
                .await?;
        if role.is_none() {
            return Err(ServiceError::NotFound(format!(
                "role {role_name} not found"
            )));
        }
        if attach {
            sqlx::query(
                "insert into user_role (user_id, role_name) values ($1, $2) on conflict do nothing",
            )
            .bind(user_id)
            .bind(role_name)
            .execute(&mut *tx)
            .await?;
        } else {
            if user_id == caller.user_id && role_name == crate::domain::SUPER_USER {
                return Err(ServiceError::conflict(
                    "you cannot take the SuperUser role from yourself",
                ));
            }
            sqlx::query("delete from user_role where user_id = $1 and role_name = $2")
                .bind(user_id)
                .bind(role_name)
                .execute(&mut *tx)
                .await?;
        }
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: if attach {
                    "role_attached"
                } else {
                    "role_detached"
                },
                target: Some(target),
                success: true,
                detail: Some(role_name.to_owned()),
            },
        )
        .await?;
        let changed = self.user_in(&mut tx, user_id).await?;
        tx.commit().await?;
        self.auth_cache.clear();
        Ok(changed)
    }

    /// A long-lived API token for a plug-in; the secret is in this answer only.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        origin: &Origin,
        input: NewApiToken,
    ) -> Result<ApiToken> {
        caller.require(ActionGroup::ManageUsers)?;
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ServiceError::invalid("name", "must be 1 to 200 characters"));
        }
        super::jobs::no_nul("name", &name)?;
        let user_id = match (input.user_id, input.username.as_deref()) {
            (id, None) => id.unwrap_or(caller.user_id),
            (id, Some(raw)) => {
                let cannot_be = |message| {
                    ServiceError::invalid("username", format!("is not a user name: it {message}"))
                };
                let named = self.user_named(raw, cannot_be).await?.ok_or_else(|| {
                    ServiceError::invalid(
                        "username",
                        format!("there is no user named {}", super::users::local_name(raw)),
                    )
                })?;
                if id.is_some_and(|id| id != named) {
                    return Err(ServiceError::invalid(
                        "username",
                        "names another user than `user_id`; give one of them",
                    ));
                }
                named
            }
        };
        if user_id == ENGINE_USER {
            return Err(ServiceError::invalid("user_id", ENGINE_USER_LOCKED));
        }
        let (secret, hash) = new_secret();
        let mut tx = self.pool.begin().await?;
        let username: Option<String> =
            sqlx::query_scalar("select username from app_user where id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let username = username
            .ok_or_else(|| ServiceError::invalid("user_id", format!("user {user_id} not found")))?;
        let id = Uuid::now_v7();
        let created_at: DateTime<Utc> = sqlx::query_scalar(
            "insert into access_token (id, token_hash, user_id, kind, name) values ($1, $2, $3, 'api', $4)
             returning created_at",
        )
        .bind(id)
        .bind(hash)
        .bind(user_id)
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "token_created",
                target: Some(username.clone()),
                success: true,
                detail: Some(format!("{id} {name}")),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(ApiToken {
            id,
            name,
            user_id,
            username,
            created_at,
            revoked_at: None,
            token: Some(secret),
        })
    }

    pub async fn list_api_tokens(&self, caller: &Caller) -> Result<Vec<ApiToken>> {
        caller.require(ActionGroup::ManageUsers)?;
        let rows: Vec<TokenRow> = sqlx::query_as(
            "select t.id, t.name, t.user_id, u.username, t.created_at, t.revoked_at
                   from access_token t join app_user u on u.id = t.user_id
                  where t.kind = 'api' order by t.created_at desc limit $1",
        )
        .bind(ADMIN_LIST_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, user_id, username, created_at, revoked_at)| ApiToken {
                    id,
                    name: name.unwrap_or_default(),
                    user_id,
                    username,
                    created_at,
                    revoked_at,
                    token: None,
                },
            )
            .collect())
    }

    /// Revoke an API token: refused from the next request on.
    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        origin: &Origin,
        token_id: Uuid,
    ) -> Result<()> {
        caller.require(ActionGroup::ManageUsers)?;
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "update access_token t set revoked_at = coalesce(t.revoked_at, now())
               from app_user u where u.id = t.user_id and t.id = $1 and t.kind = 'api'
             returning u.username, t.name",
        )
        .bind(token_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (username, name) =
            row.ok_or_else(|| ServiceError::NotFound(format!("API token {token_id} not found")))?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "token_revoked",
                target: Some(username),
                success: true,
                detail: Some(format!("{token_id} {}", name.unwrap_or_default())),
            },
        )
        .await?;
        tx.commit().await?;
        self.auth_cache.clear();
        Ok(())
    }

    /// The newest audit entries, older than `before` (an entry id) when given.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        caller.require(ActionGroup::ManageUsers)?;
        let limit = limit.unwrap_or(100);
        if !(1..=crate::domain::limits::MAX_PAGE_SIZE).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        type Row = (
            i64,
            DateTime<Utc>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            bool,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "select id, at, actor_name, action, target, address, success, detail from audit_event
              where ($1::bigint is null or id < $1) order by id desc limit $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at, actor, action, target, address, success, detail)| AuditEntry {
                    id,
                    at,
                    actor,
                    action,
                    target,
                    address,
                    success,
                    detail,
                },
            )
            .collect())
    }
}

/// Changing and deleting roles: only those an administrator made; the shipped ones are fixed.
impl Engine {
    /// Give a role made here a new set of permissions (`MANAGE_USERS`). Its holders have them at once.
    pub async fn change_role(
        &self,
        caller: &Caller,
        origin: &Origin,
        role_name: &str,
        action_groups: Vec<ActionGroup>,
    ) -> Result<Role> {
        caller.require(ActionGroup::ManageUsers)?;
        let mut groups = action_groups;
        groups.sort();
        groups.dedup();
        let mut tx = self.pool.begin().await?;
        self.custom_role_for_update(&mut tx, role_name, "changed")
            .await?;
        sqlx::query("delete from role_action_group where role_name = $1")
            .bind(role_name)
            .execute(&mut *tx)
            .await?;
        let names = write_role_groups(&mut tx, role_name, &groups).await?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "role_changed",
                target: Some(role_name.to_owned()),
                success: true,
                detail: Some(names.join(",")),
            },
        )
        .await?;
        tx.commit().await?;
        // Tokens checked within the last moments carry the old permissions: forget them.
        self.auth_cache.clear();
        Ok(Role {
            name: role_name.to_owned(),
            action_groups: groups,
            builtin: false,
        })
    }

    /// Delete a role made here that nobody holds (`MANAGE_USERS`).
    pub async fn delete_role(
        &self,
        caller: &Caller,
        origin: &Origin,
        role_name: &str,
    ) -> Result<()> {
        caller.require(ActionGroup::ManageUsers)?;
        let mut tx = self.pool.begin().await?;
        self.custom_role_for_update(&mut tx, role_name, "deleted")
            .await?;
        // The first five holders by name, and how many there are in all.
        let holders: Vec<(String, i64)> = sqlx::query_as(
            "select u.username, count(*) over () from user_role ur join app_user u on u.id = ur.user_id
              where ur.role_name = $1 order by u.username limit 5",
        )
        .bind(role_name)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(&(_, count)) = holders.first() {
            let shown = holders
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let more = if count > 5 {
                format!(" and {} more", count - 5)
            } else {
                String::new()
            };
            let users = if count == 1 {
                "1 user".to_owned()
            } else {
                format!("{count} users")
            };
            return Err(ServiceError::conflict(format!(
                "role {role_name} is given to {users} ({shown}{more}); take it from them first"
            )));
        }
        sqlx::query("delete from role where name = $1")
            .bind(role_name)
            .execute(&mut *tx)
            .await?;
        audit::write(
            &mut *tx,
            origin,
            Record {
                actor: Some(caller),
                action: "role_deleted",
                target: Some(role_name.to_owned()),
                success: true,
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lock a role made here against concurrent changes; 404 when there is none, 409 when shipped.
    async fn custom_role_for_update(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        role_name: &str,
        what: &str,
    ) -> Result<()> {
        let not_found =
            || ServiceError::NotFound(format!("role {} not found", role_name.escape_debug()));
        if role_name.contains('\0') {
            // No role can have such a name (nor can the store hold it).
            return Err(not_found());
        }
        let builtin: Option<bool> =
            sqlx::query_scalar("select builtin from role where name = $1 for update")
                .bind(role_name)
                .fetch_optional(&mut **tx)
                .await?;
        match builtin {
            None => Err(not_found()),
            Some(true) => Err(ServiceError::conflict(format!(
                "role {role_name} is shipped with Stepwise and cannot be {what}; make a role of your own"
            ))),
            Some(false) => Ok(()),
        }
    }
}
