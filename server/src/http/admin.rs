//! Administration routes: users, roles, role assignment, API tokens, audit log (MANAGE_USERS).

use app::domain::{
    ApiToken, AuditEntry, NewApiToken, NewPassword, NewRole, NewUser, Role, RolePermissions, User,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated, ClientOrigin};
use super::jobs::created;
use super::AppState;

/// A list of items.
#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[utoipa::path(post, path = "/api/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = User), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, description = "The name is taken", body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    body: ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let user = state
        .engine
        .create_user(&caller, &origin, body.value)
        .await?;
    Ok(created(format!("/api/users/{}", user.id), &user))
}

#[utoipa::path(get, path = "/api/users", tag = "admin",
    responses((status = 200, body = Items<User>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Items<User>>, ApiError> {
    Ok(Json(Items {
        items: state.engine.list_users(&caller).await?,
    }))
}

#[utoipa::path(post, path = "/api/users/{user_id}/disable", tag = "admin", params(("user_id" = String, Path, description = "The user's id, or its user name")),
    responses((status = 200, body = User), (status = 400, description = "Neither a user id nor a user name", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "One cannot disable oneself, nor the engine's own user", body = Problem)))]
pub async fn disable_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<User>, ApiError> {
    let user_id = state.engine.user_by_id_or_name(&caller, &user).await?;
    Ok(Json(
        state
            .engine
            .set_user_disabled(&caller, &origin, user_id, true)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/users/{user_id}/enable", tag = "admin", params(("user_id" = String, Path, description = "The user's id, or its user name")),
    responses((status = 200, body = User), (status = 400, description = "Neither a user id nor a user name", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The engine's own user, which cannot be changed", body = Problem)))]
pub async fn enable_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<User>, ApiError> {
    let user_id = state.engine.user_by_id_or_name(&caller, &user).await?;
    Ok(Json(
        state
            .engine
            .set_user_disabled(&caller, &origin, user_id, false)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/users/{user_id}/password", tag = "admin", request_body = NewPassword,
    params(("user_id" = String, Path, description = "The user's id, or its user name")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The engine's own user, which cannot be changed", body = Problem)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(user): ApiPath<String>,
    body: ApiJson<NewPassword>,
) -> Result<Json<User>, ApiError> {
    let user_id = state.engine.user_by_id_or_name(&caller, &user).await?;
    Ok(Json(
        state
            .engine
            .reset_password(&caller, &origin, user_id, body.value.password)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/roles", tag = "admin",
    responses((status = 200, body = Items<Role>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_roles(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Items<Role>>, ApiError> {
    Ok(Json(Items {
        items: state.engine.list_roles(&caller).await?,
    }))
}

#[utoipa::path(post, path = "/api/roles", tag = "admin", request_body = NewRole,
    responses((status = 201, body = Role), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    body: ApiJson<NewRole>,
) -> Result<Response, ApiError> {
    let role = state
        .engine
        .create_role(&caller, &origin, body.value)
        .await?;
    Ok(created(format!("/api/roles/{}", role.name), &role))
}

#[utoipa::path(put, path = "/api/users/{user_id}/roles/{role_name}", tag = "admin",
    params(("user_id" = String, Path, description = "The user's id, or its user name"), ("role_name" = String, Path)),
    responses((status = 200, body = User), (status = 400, description = "Neither a user id nor a user name", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The engine's own user, which cannot be changed", body = Problem)))]
pub async fn attach_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath((user, role_name)): ApiPath<(String, String)>,
) -> Result<Json<User>, ApiError> {
    let user_id = state.engine.user_by_id_or_name(&caller, &user).await?;
    Ok(Json(
        state
            .engine
            .set_user_role(&caller, &origin, user_id, &role_name, true)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/users/{user_id}/roles/{role_name}", tag = "admin",
    params(("user_id" = String, Path, description = "The user's id, or its user name"), ("role_name" = String, Path)),
    responses((status = 200, body = User), (status = 400, description = "Neither a user id nor a user name", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The engine's own user, which cannot be changed", body = Problem)))]
pub async fn detach_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath((user, role_name)): ApiPath<(String, String)>,
) -> Result<Json<User>, ApiError> {
    let user_id = state.engine.user_by_id_or_name(&caller, &user).await?;
    Ok(Json(
        state
            .engine
            .set_user_role(&caller, &origin, user_id, &role_name, false)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/tokens", tag = "admin", request_body = NewApiToken,
    responses((status = 201, description = "The secret is in `token`, shown this once", body = ApiToken),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    body: ApiJson<NewApiToken>,
) -> Result<Response, ApiError> {
    let token = state
        .engine
        .create_api_token(&caller, &origin, body.value)
        .await?;
    Ok(created(format!("/api/tokens/{}", token.id), &token))
}

#[utoipa::path(get, path = "/api/tokens", tag = "admin",
    responses((status = 200, body = Items<ApiToken>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Items<ApiToken>>, ApiError> {
    Ok(Json(Items {
        items: state.engine.list_api_tokens(&caller).await?,
    }))
}

#[utoipa::path(delete, path = "/api/tokens/{token_id}", tag = "admin", params(("token_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(token_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .revoke_api_token(&caller, &origin, token_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this entry id.
    before: Option<i64>,
    /// 1..=500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Items<AuditEntry>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Items<AuditEntry>>, ApiError> {
    Ok(Json(Items {
        items: state
            .engine
            .list_audit(&caller, query.before, query.limit)
            .await?,
    }))
}

#[utoipa::path(put, path = "/api/roles/{role_name}", tag = "admin", request_body = RolePermissions,
    params(("role_name" = String, Path)),
    responses((status = 200, description = "Its holders have the new permissions at once", body = Role),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "A role shipped with Stepwise", body = Problem)))]
pub async fn change_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(role_name): ApiPath<String>,
    body: ApiJson<RolePermissions>,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(
        state
            .engine
            .change_role(&caller, &origin, &role_name, body.value.action_groups)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/roles/{role_name}", tag = "admin", params(("role_name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "A role shipped with Stepwise, or one given to users", body = Problem)))]
pub async fn delete_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ClientOrigin(origin): ClientOrigin,
    ApiPath(role_name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_role(&caller, &origin, &role_name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
