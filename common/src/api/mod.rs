//! REST request and response bodies under `/api/v1`, one module per area.

mod accounts;
mod contacts;
mod conversations;
mod groups;
mod push;
mod search;

pub use accounts::*;
pub use contacts::*;
pub use conversations::*;
pub use groups::*;
pub use push::*;
pub use search::*;

use serde::{Deserialize, Serialize};

/// One page of a listing. `next_cursor` is absent on the last page; pass it
/// back as `cursor` to get the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
