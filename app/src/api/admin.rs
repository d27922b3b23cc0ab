//! Administration for the UI: users, roles, tokens, audit log.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

use super::AppError;
use crate::domain::{ActionGroup, ApiToken, AuditEntry, Role, User};

#[server(prefix = "/sfn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.list_users(&caller).await?)
}

#[server(prefix = "/sfn", endpoint = "create_user", input = Json)]
pub async fn create_user(username: String, password: String) -> Result<User, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .create_user(
            &caller,
            &origin,
            crate::domain::NewUser { username, password },
        )
        .await?)
}

#[server(prefix = "/sfn", endpoint = "set_user_disabled", input = Json)]
pub async fn set_user_disabled(user_id: Uuid, disabled: bool) -> Result<User, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .set_user_disabled(&caller, &origin, user_id, disabled)
        .await?)
}

/// Give a user a new password (`MANAGE_USERS`); their sessions and tokens stay.
#[server(prefix = "/sfn", endpoint = "reset_password", input = Json)]
pub async fn reset_password(user_id: Uuid, password: String) -> Result<User, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .reset_password(&caller, &origin, user_id, password)
        .await?)
}

#[server(prefix = "/sfn", endpoint = "set_user_role", input = Json)]
pub async fn set_user_role(user_id: Uuid, role: String, attach: bool) -> Result<User, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .set_user_role(&caller, &origin, user_id, &role, attach)
        .await?)
}

#[server(prefix = "/sfn", endpoint = "list_roles")]
pub async fn list_roles() -> Result<Vec<Role>, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.list_roles(&caller).await?)
}

#[server(prefix = "/sfn", endpoint = "create_role", input = Json)]
pub async fn create_role(name: String, action_groups: Vec<ActionGroup>) -> Result<Role, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .create_role(
            &caller,
            &origin,
            crate::domain::NewRole {
                name,
                action_groups,
            },
        )
        .await?)
}

#[server(prefix = "/sfn", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.list_api_tokens(&caller).await?)
}

#[server(prefix = "/sfn", endpoint = "create_token", input = Json)]
pub async fn create_token(name: String, user_id: Option<Uuid>) -> Result<ApiToken, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .create_api_token(
            &caller,
            &origin,
            crate::domain::NewApiToken {
                name,
                user_id,
                username: None,
            },
        )
        .await?)
}

#[server(prefix = "/sfn", endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(token_id: Uuid) -> Result<(), AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine.revoke_api_token(&caller, &origin, token_id).await?)
}

#[server(prefix = "/sfn", endpoint = "list_audit", input = Json)]
pub async fn list_audit(before: Option<i64>) -> Result<Vec<AuditEntry>, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.list_audit(&caller, before, Some(100)).await?)
}

/// The retention settings in force (`VIEW_TASKS`).
#[server(prefix = "/sfn", endpoint = "retention_settings")]
pub async fn retention_settings() -> Result<crate::domain::Retention, AppError> {
    let (engine, caller) = super::context::caller()?;
    Ok(engine.retention(&caller).await?)
}

/// How long events, audit records and exports are kept (any signed-in user, as capabilities).
#[server(prefix = "/sfn", endpoint = "kept_for")]
pub async fn kept_for() -> Result<crate::domain::KeptFor, AppError> {
    super::context::caller()?;
    Ok(super::context::request()?.kept_for)
}

/// Store new retention settings for every server process (`MANAGE_TASKS`).
#[server(prefix = "/sfn", endpoint = "set_retention_settings", input = Json)]
pub async fn set_retention_settings(
    finished_minutes: i32,
    unsuccessful_minutes: i32,
    interval_seconds: i32,
) -> Result<crate::domain::Retention, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    let input = crate::domain::RetentionInput {
        finished_minutes,
        unsuccessful_minutes,
        interval_seconds,
    };
    Ok(engine.set_retention(&caller, &origin, input).await?)
}

/// Back to each server process's configured retention (`MANAGE_TASKS`).
#[server(prefix = "/sfn", endpoint = "reset_retention_settings")]
pub async fn reset_retention_settings() -> Result<crate::domain::Retention, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine.reset_retention(&caller, &origin).await?)
}

/// Give a role made here new permissions (`MANAGE_USERS`).
#[server(prefix = "/sfn", endpoint = "change_role", input = Json)]
pub async fn change_role(name: String, action_groups: Vec<ActionGroup>) -> Result<Role, AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine
        .change_role(&caller, &origin, &name, action_groups)
        .await?)
}

/// Delete a role made here that nobody holds (`MANAGE_USERS`).
#[server(prefix = "/sfn", endpoint = "delete_role", input = Json)]
pub async fn delete_role(name: String) -> Result<(), AppError> {
    let (engine, caller) = super::context::caller()?;
    let origin = super::context::request()?.origin;
    Ok(engine.delete_role(&caller, &origin, &name).await?)
}
