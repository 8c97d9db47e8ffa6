//! The one list of errors a client can receive, with the HTTP status each maps to.

use serde::{de::MapAccess, Deserialize, Deserializer, Serialize};

use crate::tagged::{self, need, put, skip, wants, Fields};

/// What went wrong, as a machine-readable code. On the wire it is the `code`
/// field of an [`ErrorBody`], plus any data the variant carries, e.g.
/// `{"code":"rate_limited","retry_after_ms":1200,"message":"…"}`.
/// (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request could not be understood: malformed JSON, wrong field types,
    /// missing content type.
    BadRequest,
    /// A field's value breaks a rule; `field` names it (e.g. `"username"`).
    InvalidInput { field: String },
    /// The body is larger than the server accepts.
    PayloadTooLarge { max_bytes: u64 },
    /// The request body did not arrive in the time the server gives it.
    RequestTimeout,
    /// No valid session: missing, unknown, expired or revoked token.
    Unauthorized,
    /// Username and password do not match an account. Deliberately the same
    /// for an unknown user and a wrong password.
    InvalidCredentials,
    /// The password was right, but an operator has disabled the account.
    AccountDisabled,
    /// Another account already has this username (compared case-insensitively).
    UsernameTaken,
    /// Signed in, but not allowed to do this.
    Forbidden,
    /// No such route or resource (or one the caller may not know exists).
    NotFound,
    /// You cannot send a contact request to yourself.
    CannotRequestSelf,
    /// A contact request between these users is already pending.
    AlreadyRequested,
    /// These users are already contacts.
    AlreadyContacts,
    /// One of the users has blocked the other.
    Blocked,
    /// The action needs the users to be contacts (e.g. adding to a group).
    NotContacts,
    /// The group has reached its maximum size.
    GroupFull { max: u32 },
    /// The client speaks a protocol version this server does not.
    UnsupportedProtocol { supported: u32 },
    /// Too many requests; try again after `retry_after_ms`.
    RateLimited { retry_after_ms: u64 },
    /// The uploaded file's type is not accepted.
    UnsupportedMedia,
    /// The server is not ready to serve (e.g. its database is unreachable).
    Unavailable,
    /// Something failed on the server; details are in its log, not here.
    Internal,
    /// A code this build does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status a REST response with this code carries.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest | Self::InvalidInput { .. } | Self::UnsupportedProtocol { .. } => 400,
            Self::Unauthorized | Self::InvalidCredentials => 401,
            Self::CannotRequestSelf => 400,
            Self::Forbidden | Self::Blocked | Self::NotContacts | Self::AccountDisabled => 403,
            Self::AlreadyRequested | Self::AlreadyContacts | Self::GroupFull { .. } => 409,
            Self::NotFound => 404,
            Self::UsernameTaken => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::RequestTimeout => 408,
            Self::UnsupportedMedia => 415,
            Self::RateLimited { .. } => 429,
            Self::Unavailable => 503,
            Self::Internal | Self::Unknown => 500,
        }
    }
}

/// The JSON body of every error response: a code and a message fit to show
/// to a person. (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    #[serde(flatten)]
    pub code: ErrorCode,
    pub message: String,
}

/// The keys of an [`ErrorCode`], wherever it is flattened (`ErrorBody`, the
/// `error` frame).
#[derive(Clone, Copy)]
pub(crate) enum CodeKey {
    Code,
    Field,
    MaxBytes,
    Max,
    Supported,
    RetryAfterMs,
}

/// An [`ErrorCode`] being read, key by key.
#[derive(Default)]
pub(crate) struct CodeFields {
    tag: Option<CodeTag>,
    field: Option<String>,
    max_bytes: Option<u64>,
    max: Option<u32>,
    supported: Option<u32>,
    retry_after_ms: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum CodeTag {
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    InvalidCredentials,
    AccountDisabled,
    UsernameTaken,
    Forbidden,
    NotFound,
    CannotRequestSelf,
    AlreadyRequested,
    AlreadyContacts,
    Blocked,
    NotContacts,
    GroupFull,
    UnsupportedProtocol,
    RateLimited,
    UnsupportedMedia,
    Unavailable,
    Internal,
    #[serde(other)]
    Unknown,
}

impl CodeFields {
    pub(crate) fn read<'de, A: MapAccess<'de>>(&mut self, key: CodeKey, map: &mut A) -> Result<(), A::Error> {
        let tag = self.tag;
        match key {
            CodeKey::Code => put(&mut self.tag, true, map),
            CodeKey::Field => put(&mut self.field, wants(tag, &[CodeTag::InvalidInput]), map),
            CodeKey::MaxBytes => put(&mut self.max_bytes, wants(tag, &[CodeTag::PayloadTooLarge]), map),
            CodeKey::Max => put(&mut self.max, wants(tag, &[CodeTag::GroupFull]), map),
            CodeKey::Supported => put(&mut self.supported, wants(tag, &[CodeTag::UnsupportedProtocol]), map),
            CodeKey::RetryAfterMs => put(&mut self.retry_after_ms, wants(tag, &[CodeTag::RateLimited]), map),
        }
    }

    pub(crate) fn build<E: serde::de::Error>(self) -> Result<ErrorCode, E> {
        use ErrorCode as C;
        Ok(match need(self.tag, "code")? {
            CodeTag::BadRequest => C::BadRequest,
            CodeTag::InvalidInput => C::InvalidInput {
                field: need(self.field, "field")?,
            },
            CodeTag::PayloadTooLarge => C::PayloadTooLarge {
                max_bytes: need(self.max_bytes, "max_bytes")?,
            },
            CodeTag::RequestTimeout => C::RequestTimeout,
            CodeTag::Unauthorized => C::Unauthorized,
            CodeTag::InvalidCredentials => C::InvalidCredentials,
            CodeTag::AccountDisabled => C::AccountDisabled,
            CodeTag::UsernameTaken => C::UsernameTaken,
            CodeTag::Forbidden => C::Forbidden,
            CodeTag::NotFound => C::NotFound,
            CodeTag::CannotRequestSelf => C::CannotRequestSelf,
            CodeTag::AlreadyRequested => C::AlreadyRequested,
            CodeTag::AlreadyContacts => C::AlreadyContacts,
            CodeTag::Blocked => C::Blocked,
            CodeTag::NotContacts => C::NotContacts,
            CodeTag::GroupFull => C::GroupFull {
                max: need(self.max, "max")?,
            },
            CodeTag::UnsupportedProtocol => C::UnsupportedProtocol {
                supported: need(self.supported, "supported")?,
            },
            CodeTag::RateLimited => C::RateLimited {
                retry_after_ms: need(self.retry_after_ms, "retry_after_ms")?,
            },
            CodeTag::UnsupportedMedia => C::UnsupportedMedia,
            CodeTag::Unavailable => C::Unavailable,
            CodeTag::Internal => C::Internal,
            CodeTag::Unknown => C::Unknown,
        })
    }
}

/// The keys of an object holding a flattened [`ErrorCode`] and a `message`.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum BodyKey {
    Code,
    Field,
    MaxBytes,
    Max,
    Supported,
    RetryAfterMs,
    Message,
    #[serde(other)]
    Other,
}

#[derive(Default)]
struct BodyFields {
    code: CodeFields,
    message: Option<String>,
}

impl<'de> Fields<'de> for BodyFields {
    type Key = BodyKey;

    fn read<A: MapAccess<'de>>(&mut self, key: BodyKey, map: &mut A) -> Result<(), A::Error> {
        let code = match key {
            BodyKey::Code => CodeKey::Code,
            BodyKey::Field => CodeKey::Field,
            BodyKey::MaxBytes => CodeKey::MaxBytes,
            BodyKey::Max => CodeKey::Max,
            BodyKey::Supported => CodeKey::Supported,
            BodyKey::RetryAfterMs => CodeKey::RetryAfterMs,
            BodyKey::Message => return put(&mut self.message, true, map),
            BodyKey::Other => return skip(map),
        };
        self.code.read(code, map)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A lone code: the body's keys without `message`, which is skipped.
        let fields: BodyFields = tagged::read(deserializer, "an error code")?;
        fields.code.build()
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields: BodyFields = tagged::read(deserializer, "an error body")?;
        Ok(ErrorBody {
            code: fields.code.build()?,
            message: need(fields.message, "message")?,
        })
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_carrying_code_is_flat_on_the_wire() {
        let body = ErrorBody {
            code: ErrorCode::RateLimited { retry_after_ms: 1200 },
            message: "slow down".into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "rate_limited", "retry_after_ms": 1200, "message": "slow down"})
        );
        let back: ErrorBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn unknown_code_from_a_newer_server_still_parses() {
        let body: ErrorBody = serde_json::from_str(r#"{"code":"brand_new","message":"hi","extra":1}"#).unwrap();
        assert_eq!(body.code, ErrorCode::Unknown);
        assert_eq!(body.message, "hi");
    }
}
