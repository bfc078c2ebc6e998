//! The HTTP API. Every route is registered through utoipa-axum, so `/openapi.json`
//! is generated from the same handlers that serve requests and cannot drift.

mod after_call;
mod audiences;
mod auth;
mod boundary;
mod calls;
mod campaigns;
mod changes;
mod contacts;
mod conversations;
mod do_not_contact;
mod events;
mod messages;
mod numbers;
mod people;
mod permissions;
mod sandbox;
mod support;
mod teams;
mod templates;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::{AppState, BODY_LIMIT};

pub use support::Cursor;

#[derive(OpenApi)]
#[openapi(
    info(title = "Upzento Phone & SMS cloud API", description = "The /phone-sms API of a tenant cloud. Text never holds U+0000 (NUL): a body, path or query with one is refused with 400 `invalid_text`. Every error is `{code, message, field}` JSON."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Tokens and identity"),
        (name = "numbers", description = "The tenant's phone numbers"),
        (name = "templates", description = "Reusable SMS texts"),
        (name = "contacts", description = "The people the tenant talks to"),
        (name = "conversations", description = "SMS threads: the inbox"),
        (name = "messages", description = "Sending SMS"),
        (name = "calls", description = "The call history"),
        (name = "campaigns", description = "Bulk SMS"),
        (name = "sandbox", description = "The built-in carrier's test door"),
        (name = "sync", description = "Change feed and audit log"),
    )
)]
struct ApiDoc;

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

/// The router and the OpenAPI document describing it.
pub fn router_and_openapi() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::healthz))
        .routes(routes!(auth::issue_token, auth::revoke_token))
        .routes(routes!(auth::issue_api_token, auth::list_api_tokens))
        .routes(routes!(auth::revoke_api_token))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::users))
        .routes(routes!(auth::update_user))
        .routes(routes!(people::invite, people::invitations))
        .routes(routes!(people::resend))
        .routes(routes!(people::revoke))
        .routes(routes!(people::lookup))
        .routes(routes!(people::accept))
        .routes(routes!(people::sessions))
        .routes(routes!(people::end_session))
        .routes(routes!(people::sign_out_everywhere))
        .routes(routes!(people::set_presence))
        .routes(routes!(people::presence))
        .routes(routes!(teams::list, teams::create))
        .routes(routes!(teams::update, teams::delete))
        .routes(routes!(numbers::list, numbers::create))
        .routes(routes!(numbers::get, numbers::update, numbers::delete))
        .routes(routes!(templates::list, templates::create))
        .routes(routes!(templates::preview))
        .routes(routes!(
            templates::get,
            templates::update,
            templates::delete
        ))
        .routes(routes!(contacts::list, contacts::create))
        .routes(routes!(contacts::get, contacts::update, contacts::delete))
        .routes(routes!(conversations::list, conversations::create))
        .routes(routes!(conversations::get))
        .routes(routes!(conversations::set_status))
        .routes(routes!(conversations::assign))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(conversations::snooze))
        .routes(routes!(conversations::notes, conversations::add_note))
        .routes(routes!(conversations::messages))
        .routes(routes!(messages::send))
        .routes(routes!(messages::set_status))
        .routes(routes!(calls::list, calls::create))
        .routes(routes!(calls::get))
        .routes(routes!(calls::set_status))
        .routes(routes!(calls::set_notes, calls::notes, calls::add_note))
        .routes(routes!(calls::assign))
        .routes(routes!(after_call::wrap_up))
        .routes(routes!(
            after_call::dispositions,
            after_call::create_disposition
        ))
        .routes(routes!(after_call::update_disposition))
        .routes(routes!(after_call::tasks, after_call::create_task))
        .routes(routes!(after_call::update_task))
        .routes(routes!(after_call::settings, after_call::update_settings))
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(
            campaigns::get,
            campaigns::update,
            campaigns::delete
        ))
        .routes(routes!(campaigns::set_status))
        .routes(routes!(campaigns::set_schedule))
        .routes(routes!(campaigns::add_recipients, campaigns::recipients))
        .routes(routes!(campaigns::delete_recipient))
        .routes(routes!(audiences::import))
        .routes(routes!(audiences::export))
        .routes(routes!(audiences::audience))
        .routes(routes!(audiences::analytics))
        .routes(routes!(sandbox::inbound))
        .routes(routes!(contacts::consent))
        .routes(routes!(do_not_contact::list, do_not_contact::add))
        .routes(routes!(do_not_contact::import))
        .routes(routes!(do_not_contact::delete))
        .routes(routes!(changes::changes))
        .routes(routes!(events::events))
        .routes(routes!(changes::audit_log))
        .split_for_parts()
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    router_and_openapi().1
}

pub fn router(state: AppState) -> Router {
    let (router, openapi) = router_and_openapi();
    let permissions = std::sync::Arc::new(permissions::Permissions::of(&openapi));
    let openapi = std::sync::Arc::new(openapi);
    router
        // After routing (the matched path is known), before every handler.
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), permissions),
            permissions::enforce,
        ))
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { Json((*openapi).clone()) }
            }),
        )
        .merge(webhooks::router())
        .fallback(|| async { AppError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(boundary::guard))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
