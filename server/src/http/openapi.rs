//! `GET /api/openapi.json`: the native API, generated from the code.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, commands, error, jobs, meta, steps};

#[derive(OpenApi)]
#[openapi(
    info(title = "Stepwise", description = "Jobs and steps for plug-ins: the native REST API."),
    paths(
        auth::token,
        meta::capabilities,
        crate::events::stream,
        commands::run, commands::download, commands::heartbeat,
        jobs::add, jobs::list, jobs::get, jobs::end, jobs::clear,
        steps::add, steps::list, steps::get, steps::end, steps::progress,
        admin::create_user, admin::list_users, admin::disable_user, admin::enable_user,
        admin::reset_password, admin::list_roles, admin::create_role, admin::attach_role,
        admin::detach_role, admin::create_token, admin::list_tokens, admin::revoke_token,
        admin::list_audit,
    ),
    components(schemas(error::Problem, error::ProblemField)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
