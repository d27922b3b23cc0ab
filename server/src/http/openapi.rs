//! `GET /api/openapi.json`: the native API, generated from the code.

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, commands, error, jobs, meta, settings, steps};

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
        admin::reset_password, admin::list_roles, admin::create_role, admin::change_role,
        admin::delete_role, admin::attach_role,
        admin::detach_role, admin::create_token, admin::list_tokens, admin::revoke_token,
        admin::list_audit,
        settings::retention, settings::set_retention, settings::reset_retention,
    ),
    components(schemas(error::Problem, error::ProblemField, app::domain::StepNode)),
    modifiers(&BearerAuth, &Problems, &EventFrames, &EndsNeedAnOutcome, &Exactly),
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

/// What every operation may answer besides its own responses, said once: a missing or expired token
/// (401), roles that do not allow the call (403), an invalid parameter or body (400), a body too
/// large (413) or not JSON (415); and errors are `application/problem+json`, as they are sent.
struct Problems;

const TOKEN_PATH: &str = "/api/auth/token";

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                if path == TOKEN_PATH {
                    // No token needed (`[]`, where utoipa's `security(())` writes `[{}]`, "optional");
                    // RFC 6749's own errors, as JSON.
                    operation.security = Some(Vec::new());
                    continue;
                }
                let json_body = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| body.content.contains_key("application/json"));
                let has_parameters = operation
                    .parameters
                    .as_ref()
                    .is_some_and(|parameters| !parameters.is_empty());
                add_problem(
                    operation,
                    "401",
                    "No token, or one that is expired or revoked",
                );
                if path != "/api/capabilities" {
                    add_problem(operation, "403", "The caller's roles do not allow this");
                }
                if json_body || has_parameters {
                    add_problem(
                        operation,
                        "400",
                        "A parameter or field is invalid: `errors` names it",
                    );
                }
                if json_body {
                    add_problem(operation, "413", "The body is larger than the server takes");
                    add_problem(
                        operation,
                        "415",
                        "The body is not sent as `application/json`",
                    );
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if !status.starts_with(['4', '5']) {
                        continue;
                    }
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".to_owned(), content);
                    }
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn add_problem(operation: &mut Operation, status: &str, description: &str) {
    let problem = RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem"));
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", Content::new(Some(problem)))
                .build()
                .into()
        });
}

/// `GET /api/events` sends a stream of Server-Sent Events: each frame's `data` is one `Event` as
/// JSON. Describe the frame, as a stream's item, rather than the JSON inside it.
struct EventFrames;

impl Modify for EventFrames {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(RefOr::T(response)) = openapi
            .paths
            .paths
            .get_mut("/api/events")
            .and_then(|item| item.get.as_mut())
            .and_then(|operation| operation.responses.responses.get_mut("200"))
        else {
            return;
        };
        let kinds = [
            "job.created",
            "job.updated",
            "job.purged",
            "step.created",
            "step.updated",
            "resync",
        ];
        let frame = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One Server-Sent Event. `id` is the event's sequence number (send it back as \
                 `Last-Event-ID` to resume); `data` is the `Event` as JSON, or for `resync` \
                 `{\"reason\", \"head\"}`: reload, then follow from `id`.",
            ))
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]+$")),
            )
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(kinds)),
            )
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/json"),
            )
            .required("id")
            .required("event")
            .required("data")
            .build();
        response.content.insert(
            "text/event-stream".to_owned(),
            Content::new(Some(Schema::Object(frame))),
        );
    }
}

/// An end names its outcome by `status` or by oVirt's `succeeded` (or both, agreeing): say so in
/// the schema, which serde's optional fields cannot.
struct EndsNeedAnOutcome;

impl Modify for EndsNeedAnOutcome {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in ["EndJob", "EndStep"] {
            let Some(RefOr::T(fields)) = components.schemas.remove(name) else {
                continue;
            };
            let one_of = |values: Vec<serde_json::Value>| {
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .enum_values(Some(values))
            };
            let pair = |status: &str, succeeded: bool| {
                ObjectBuilder::new()
                    .property("status", one_of(vec![status.into()]))
                    .property("succeeded", one_of(vec![succeeded.into()]))
                    .required("status")
                    .required("succeeded")
            };
            // One given (not null), the other absent or null.
            let alone = |given: &str, kind: Type, absent: &str| {
                ObjectBuilder::new()
                    .required(given)
                    .property(given, ObjectBuilder::new().schema_type(kind))
                    .property(absent, one_of(vec![serde_json::Value::Null]))
            };
            let either = AnyOfBuilder::new()
                .item(alone("status", Type::String, "succeeded"))
                .item(alone("succeeded", Type::Boolean, "status"))
                .item(pair("finished", true))
                .item(pair("failed", false));
            let schema = AllOfBuilder::new()
                .item(fields)
                .item(either)
                .description(Some(
                    "`status`, or `succeeded`, or both when they agree (`true` is `finished`).",
                ))
                .build();
            components
                .schemas
                .insert(name.to_owned(), RefOr::T(Schema::AllOf(schema)));
        }
    }
}

/// Two things the derived schema says loosely. A step list's two shapes (flat, tree) are both
/// `{items: [...]}`, so an empty list is either: `anyOf`, not `oneOf`. And an optional header is
/// absent or a string, never JSON's `null`.
struct Exactly;

impl Modify for Exactly {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            if let Some(RefOr::T(Schema::OneOf(shapes))) = components.schemas.remove("StepList") {
                let mut either = AnyOfBuilder::new().description(shapes.description.clone());
                for shape in shapes.items {
                    either = either.item(shape);
                }
                components.schemas.insert(
                    "StepList".to_owned(),
                    RefOr::T(Schema::AnyOf(either.build())),
                );
            }
        }
        for item in openapi.paths.paths.values_mut() {
            let parameters = operations(item)
                .filter_map(|operation| operation.parameters.as_mut())
                .flatten()
                .filter(|parameter| parameter.parameter_in == ParameterIn::Header);
            for parameter in parameters {
                if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() {
                    if let SchemaType::Array(types) = &mut object.schema_type {
                        types.retain(|t| *t != Type::Null);
                        if let [only] = types.as_slice() {
                            object.schema_type = SchemaType::Type(only.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Built once, with its modifiers, on the first request.
pub async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(ApiDoc::openapi))
}
