//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::{auth, contacts, conversations, groups, me, media, notifications, search, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "natter", description = "natter REST API. Live traffic uses the WebSocket at /ws; see docs/protocol.md."),
    paths(
        auth::register, auth::login, auth::logout,
        me::me, me::update, me::delete, me::set_avatar, me::remove_avatar, me::sessions, me::revoke_session,
        users::search, users::get,
        contacts::list, contacts::remove, contacts::requests, contacts::send_request,
        contacts::accept, contacts::decline, contacts::cancel,
        contacts::blocks, contacts::block, contacts::unblock,
        groups::list, groups::create, groups::info, groups::rename, groups::members,
        groups::add_members, groups::remove_member, groups::leave, groups::set_role,
        conversations::list, conversations::history, conversations::receipts,
        notifications::conversation, notifications::set_conversation,
        notifications::account, notifications::set_account,
        notifications::subscribe, notifications::unsubscribe,
        search::messages,
        media::upload,
    ),
    modifiers(&SecuritySchemes, &CommonResponses),
    tags((name = "accounts"), (name = "profile"), (name = "contacts"), (name = "groups"), (name = "conversations"), (name = "notifications"), (name = "media"))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(natter_common::SESSION_COOKIE))),
        );
    }
}

/// Answers any route can give, whatever its handler does: declared on every
/// operation so that generated clients expect them.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let changing = [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in changing.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                add("403", "`forbidden`: the request came from a page of another origin");
                if operation.request_body.is_some() {
                    add("408", "`request_timeout`: the body did not arrive whole in time");
                    add("413", "`payload_too_large`: the body is over the limit");
                }
            }
        }
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
