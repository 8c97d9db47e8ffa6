//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::{auth, contacts, conversations, groups, me, media, search, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "natter", description = "natter REST API. Live traffic uses the WebSocket at /ws; see docs/protocol.md."),
    paths(
        auth::register, auth::login, auth::logout,
        me::me, me::update, me::delete, me::sessions, me::revoke_session,
        users::search, users::get,
        contacts::list, contacts::remove, contacts::requests, contacts::send_request,
        contacts::accept, contacts::decline, contacts::cancel,
        contacts::blocks, contacts::block, contacts::unblock,
        groups::list, groups::create, groups::info, groups::rename, groups::members,
        groups::add_members, groups::remove_member, groups::leave, groups::set_role,
        conversations::list, conversations::history, conversations::receipts,
        search::messages,
        media::upload,
    ),
    modifiers(&SecuritySchemes),
    tags((name = "accounts"), (name = "profile"), (name = "contacts"), (name = "groups"), (name = "conversations"), (name = "media"))
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

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
