//! The HTTP surface: REST routes under `/api/v1`, probes, the OpenAPI
//! document, and the SPA, with the layers every response passes through.

mod auth;
mod body;
mod contacts;
mod conversations;
mod extract;
mod groups;
mod health;
mod me;
mod media;
mod metrics;
mod notifications;
mod openapi;
pub(crate) mod origin;
mod search;
pub(crate) mod security;
mod spa;
mod users;

use std::time::Duration;

use axum::{
    extract::DefaultBodyLimit,
    http::Uri,
    middleware,
    routing::{delete, get, post, put},
    Router,
};
use natter_common::limits::MAX_JSON_BODY_BYTES;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    trace::TraceLayer,
};

pub use extract::ApiQuery;
pub use openapi::ApiDoc;
pub use spa::SpaIndex;

use crate::{error::AppError, ratelimit, state::AppState};

pub fn router(state: AppState, spa: SpaIndex) -> Router {
    let auth_routes = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route_layer(middleware::from_fn_with_state(state.clone(), ratelimit::limit_auth));

    let api = Router::new()
        .merge(auth_routes)
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(me::me).patch(me::update).delete(me::delete))
        .route("/me/avatar", put(me::set_avatar).delete(me::remove_avatar))
        .route("/sessions", get(me::sessions))
        .route("/sessions/{id}", delete(me::revoke_session))
        .route("/users/search", get(users::search))
        .route("/users/{id}", get(users::get))
        .route("/contacts", get(contacts::list))
        .route("/contacts/{user_id}", delete(contacts::remove))
        .route(
            "/contact-requests",
            get(contacts::requests).post(contacts::send_request),
        )
        .route("/contact-requests/{id}", delete(contacts::cancel))
        .route("/contact-requests/{id}/accept", post(contacts::accept))
        .route("/contact-requests/{id}/decline", post(contacts::decline))
        .route("/blocks", get(contacts::blocks).post(contacts::block))
        .route("/blocks/{user_id}", delete(contacts::unblock))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{id}", get(groups::info).patch(groups::rename))
        .route("/groups/{id}/members", get(groups::members).post(groups::add_members))
        .route("/groups/{id}/members/{user_id}", delete(groups::remove_member))
        .route("/groups/{id}/members/{user_id}/role", put(groups::set_role))
        .route("/groups/{id}/leave", post(groups::leave))
        .route("/conversations", get(conversations::list))
        .route("/conversations/{id}/events", get(conversations::history))
        .route("/conversations/{id}/receipts", get(conversations::receipts))
        .route(
            "/conversations/{id}/settings",
            get(notifications::conversation).put(notifications::set_conversation),
        )
        .route(
            "/notifications",
            get(notifications::account).put(notifications::set_account),
        )
        .route(
            "/push-subscriptions",
            post(notifications::subscribe).delete(notifications::unsubscribe),
        )
        .route("/search/messages", get(search::messages))
        .fallback(|| async { AppError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            body::Bounds {
                max_bytes: MAX_JSON_BODY_BYTES as u64,
                shown_max: MAX_JSON_BODY_BYTES as u64,
                deadline: Duration::from_secs(state.config.body_timeout_secs.max(1)),
            },
            body::bounded,
        ));
    // Uploads count their own bytes against the configured limit; the body
    // limit here only stops what can't possibly fit.
    let upload_limit = usize::try_from(state.config.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let uploads = Router::new()
        .route("/media", post(media::upload))
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(middleware::from_fn_with_state(
            body::Bounds {
                max_bytes: upload_limit as u64,
                shown_max: state.config.max_upload_bytes,
                deadline: Duration::from_secs(state.config.upload_timeout_secs.max(1)),
            },
            body::bounded,
        ));
    let api = uploads
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), origin::same_origin));

    let index = spa.clone();
    let fallback = move |uri: Uri| {
        let index = index.clone();
        async move { index.respond(&uri) }
    };
    let root = spa.clone();
    // The build leaves brotli and gzip copies beside the app's files
    // (scripts/precompress.mjs): sent as they are, not compressed per request.
    let files = ServeDir::new(&state.config.static_dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false)
        .fallback(axum::handler::HandlerWithoutStateExt::into_service(fallback));
    let files = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(spa::cache_hashed_files))
        .service(files);

    let config = state.config.clone();
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::render))
        .route("/ws", get(crate::ws::upgrade))
        .route("/media/{id}", get(media::image))
        .route("/media/{id}/thumb", get(media::thumb))
        .nest("/api/v1", api)
        .route("/", get(move |uri: Uri| async move { root.respond(&uri) }))
        .fallback_service(files);
    let app = faults(app)
        .layer(middleware::from_fn(metrics::track_http))
        .layer(CompressionLayer::new())
        .with_state(state);
    // Outermost: a request id (the client's `X-Request-Id`, or a new UUID)
    // on every log line of the request, and echoed in the response.
    security::apply(app, &config, &spa)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = request.uri().path(),
                    request_id,
                    user_id = tracing::field::Empty,
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Debug builds started with `NATTER_TEST_FAULTS` set can be broken on
/// purpose, for tests of what breaks: `POST /__test/stop-log` stops the
/// log's writer as a crash of its thread would.
fn faults(app: Router<AppState>) -> Router<AppState> {
    #[cfg(debug_assertions)]
    if std::env::var_os("NATTER_TEST_FAULTS").is_some() {
        return app.route(
            "/__test/stop-log",
            post(
                |axum::extract::State(state): axum::extract::State<AppState>| async move {
                    state.log.stop().await;
                    "stopped"
                },
            ),
        );
    }
    app
}
