//! Image upload (`POST /api/v1/media`) and serving (`GET /media/{id}`,
//! `GET /media/{id}/thumb`).

use axum::{
    extract::{
        multipart::{MultipartError, MultipartRejection},
        Multipart, Request, State,
    },
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use natter_common::{api::Media, ErrorBody, ErrorCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::extract::ApiPath;
use crate::{
    auth::AuthUser,
    db::{self, media::MediaRow},
    error::{AppError, AppResult},
    media, metrics,
    state::AppState,
};

fn to_media(row: MediaRow) -> Media {
    Media {
        url: format!("/media/{}", row.id),
        thumb_url: format!("/media/{}/thumb", row.id),
        mime: row.mime,
        width: row.width as u32,
        height: row.height as u32,
        size: row.size as u64,
        id: row.id,
    }
}

fn too_large(max: u64) -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge { max_bytes: max },
        format!("Images may be at most {} MiB.", max / (1024 * 1024)),
    )
}

/// Reads what is left of an upload and throws it away.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

fn bad_upload(err: MultipartError, max: u64) -> AppError {
    if super::body::is_timeout(&err) {
        return super::body::timed_out();
    }
    // The body limit can trip inside the multipart parser before our count does.
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(max);
    }
    AppError::new(ErrorCode::BadRequest, format!("Invalid upload: {}", err.body_text()))
}

/// `POST /api/v1/media`: upload an image as the multipart part `file`. The
/// bytes stream to disk; the type is decided by the bytes. An image that
/// was uploaded before comes back at once.
#[utoipa::path(post, path = "/api/v1/media", tag = "media",
    request_body(content_type = "multipart/form-data", description = "One part named `file`"),
    responses(
        (status = 201, body = Media),
        (status = 400, description = "`bad_request`, `invalid_input` (no `file` part)", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    auth: Result<AuthUser, AppError>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<(StatusCode, Json<Media>)> {
    let mut multipart = multipart.map_err(|rejection| AppError::new(ErrorCode::BadRequest, rejection.body_text()))?;
    // A refusal before the body is read still reads it (within the body's
    // limits and deadline): a client still sending when the answer comes and
    // the connection closes sees a reset, not the 401 or 429.
    let auth = match auth {
        Ok(auth) => auth,
        Err(refused) => {
            drain(&mut multipart).await;
            return Err(refused);
        }
    };
    if let Err(retry_after_ms) = state.upload_limiter.check(auth.user_id) {
        drain(&mut multipart).await;
        return Err(AppError::new(
            ErrorCode::RateLimited { retry_after_ms },
            "Too many uploads at once. Try again in a moment.",
        ));
    }
    let max = state.config.max_upload_bytes;
    let mut field = loop {
        match multipart.next_field().await.map_err(|e| bad_upload(e, max))? {
            Some(field) if field.name() == Some("file") => break field,
            Some(_) => continue,
            None => {
                return Err(AppError::new(
                    ErrorCode::InvalidInput { field: "file".into() },
                    "No file was sent.",
                ))
            }
        }
    };
    // Deleted when dropped, so a refused or broken upload leaves nothing.
    let tmp = tempfile::NamedTempFile::new_in(state.media.tmp_dir()).map_err(anyhow::Error::from)?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(anyhow::Error::from)?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| bad_upload(e, max))? {
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    file.flush().await.map_err(anyhow::Error::from)?;
    drop(file);
    let original = hex::encode(hasher.finalize());

    let now = db::now_ms();
    if let Some(known) = db::media::by_original(&state.db, &original).await? {
        metrics::upload("known");
        db::media::record_upload(&state.db, &known.id, auth.user_id, now).await?;
        return Ok((StatusCode::CREATED, Json(to_media(known))));
    }

    let path = tmp.path().to_owned();
    let turn = state.media.decode_turn().await;
    let processed = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let bytes = std::fs::read(&path)?;
        let started = std::time::Instant::now();
        let processed = media::process(&bytes);
        metrics::image_processing(started.elapsed());
        anyhow::Ok(processed)
    })
    .await
    .map_err(anyhow::Error::from)??
    .map_err(|refused| {
        metrics::upload("refused");
        AppError::new(ErrorCode::UnsupportedMedia, refused.0)
    })?;

    let store = state.media.clone();
    let files = tokio::task::spawn_blocking({
        let (id, bytes, thumb) = (processed.id.clone(), processed.bytes.clone(), processed.thumb.clone());
        move || {
            store.put(&store.image_path(&id), &bytes)?;
            store.put(&store.thumb_path(&id), &thumb)
        }
    });
    files.await.map_err(anyhow::Error::from)?.map_err(anyhow::Error::from)?;
    let row = db::media::insert(&state.db, &original, &processed, auth.user_id, now).await?;
    metrics::upload("stored");
    Ok((StatusCode::CREATED, Json(to_media(row))))
}

/// `GET /media/{id}`: the image, to those who may see it.
pub async fn image(
    state: State<AppState>,
    auth: AuthUser,
    id: ApiPath<String>,
    request: Request,
) -> AppResult<Response> {
    serve(state, auth, id, request, false).await
}

/// `GET /media/{id}/thumb`: its thumbnail.
pub async fn thumb(
    state: State<AppState>,
    auth: AuthUser,
    id: ApiPath<String>,
    request: Request,
) -> AppResult<Response> {
    serve(state, auth, id, request, true).await
}

async fn serve(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<String>,
    request: Request,
    thumb: bool,
) -> AppResult<Response> {
    // Unknown and forbidden look the same: 404.
    if !media::valid_id(&id) {
        return Err(AppError::not_found());
    }
    let row = db::media::by_id(&state.db, &id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !db::media::visible_to(&state.db, &id, auth.user_id).await? {
        return Err(AppError::not_found());
    }
    let etag = format!("\"{id}{}\"", if thumb { "-t" } else { "" });
    let cache = HeaderValue::from_static("private, max-age=31536000, immutable");
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if matches {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?);
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
        return Ok(response);
    }
    let (path, mime) = if thumb {
        (state.media.thumb_path(&id), row.thumb_mime)
    } else {
        (state.media.image_path(&id), row.mime)
    };
    let mime: mime::Mime = mime.parse().map_err(anyhow::Error::from)?;
    // ServeFile answers Range requests and conditional dates.
    let mut response = ServeFile::new_with_mime(path, &mime)
        .oneshot(request)
        .await
        .map_err(anyhow::Error::from)?
        .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?);
    response.headers_mut().insert(header::CACHE_CONTROL, cache);
    Ok(response)
}
