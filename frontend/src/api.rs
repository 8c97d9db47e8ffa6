//! REST calls to the server. Views call these; they never build requests themselves.

use gloo_net::http::{Request, RequestBuilder, Response};
use natter_common::{
    api::{LoginRequest, RegisterRequest, SessionCreated, User},
    ErrorBody, ErrorCode,
};
use serde::{de::DeserializeOwned, Serialize};

const BASE: &str = "/api/v1";

pub type ApiResult<T> = Result<T, ErrorBody>;

pub async fn register(body: &RegisterRequest) -> ApiResult<SessionCreated> {
    send_json(Request::post(&format!("{BASE}/auth/register")), body).await
}

pub async fn login(body: &LoginRequest) -> ApiResult<SessionCreated> {
    send_json(Request::post(&format!("{BASE}/auth/login")), body).await
}

pub async fn logout() -> ApiResult<()> {
    let response = Request::post(&format!("{BASE}/auth/logout"))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status() {
        // Already signed out is as good as signed out.
        204 | 401 => Ok(()),
        _ => Err(error_from(response).await),
    }
}

/// The signed-in user, or `None` when the session cookie is missing or dead.
pub async fn me() -> ApiResult<Option<User>> {
    let response = Request::get(&format!("{BASE}/me"))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status() {
        200 => response.json().await.map(Some).map_err(|_| garbled()),
        401 => Ok(None),
        _ => Err(error_from(response).await),
    }
}

async fn send_json<B: Serialize, T: DeserializeOwned>(
    request: RequestBuilder,
    body: &B,
) -> ApiResult<T> {
    let response = request
        .json(body)
        .map_err(|_| garbled())?
        .send()
        .await
        .map_err(unreachable)?;
    if response.ok() {
        response.json().await.map_err(|_| garbled())
    } else {
        Err(error_from(response).await)
    }
}

async fn error_from(response: Response) -> ErrorBody {
    response
        .json::<ErrorBody>()
        .await
        .unwrap_or_else(|_| ErrorBody {
            code: ErrorCode::Internal,
            message: format!(
                "The server answered {} {}.",
                response.status(),
                response.status_text()
            ),
        })
}

fn unreachable(_: gloo_net::Error) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unavailable,
        message: "Cannot reach the server. Check your connection.".into(),
    }
}

fn garbled() -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Internal,
        message: "The server sent an unexpected answer.".into(),
    }
}
