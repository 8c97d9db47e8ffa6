//! Size limits shared by both sides, so the browser can refuse what the
//! server would refuse before a round trip.

/// Usernames: at least this many characters.
pub const USERNAME_MIN_CHARS: usize = 3;
/// Usernames: at most this many characters.
pub const USERNAME_MAX_CHARS: usize = 32;
/// Display names: at most this many characters (after trimming).
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Passwords: at least this many characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Passwords: at most this many bytes (bounds the hashing work per request).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Device labels stored with a session: at most this many characters.
pub const DEVICE_NAME_MAX_CHARS: usize = 128;
/// Largest JSON request body the REST API accepts.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// Group names: at most this many characters (after trimming).
pub const GROUP_NAME_MAX_CHARS: usize = 64;
/// Default cap on group size (the server's `--max-group-size`).
pub const DEFAULT_MAX_GROUP_SIZE: u32 = 5000;
/// User search queries: at most this many characters.
pub const SEARCH_QUERY_MAX_CHARS: usize = 64;
/// Largest page a listing returns.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Largest history page.
pub const MAX_HISTORY_PAGE: u32 = 100;
/// Text messages: at most this many characters.
pub const MESSAGE_TEXT_MAX_CHARS: usize = 4000;
/// Distinct emoji on one message, at most.
pub const REACTIONS_MAX_DISTINCT: usize = 20;
/// History names at most this many of the users behind one reaction.
pub const REACTION_USERS_SHOWN: usize = 10;
/// `client_msg_id`: at most this many characters.
pub const CLIENT_MSG_ID_MAX_CHARS: usize = 64;
/// Largest WebSocket text frame the server reads as a request; larger ones
/// (up to [`WS_HARD_MAX_BYTES`]) get a `payload_too_large` error frame.
pub const WS_FRAME_MAX_BYTES: usize = 32 * 1024;
/// Frames above this size close the connection (1009, message too big).
pub const WS_HARD_MAX_BYTES: usize = 1024 * 1024;
/// Read receipts are shared only in conversations of at most this many
/// members; beyond it, every read would be a fan-out of its own.
pub const RECEIPTS_MAX_MEMBERS: usize = 100;
/// Presence is shared through direct conversations and groups of at most
/// this many members: announcing every connect to every member of a
/// thousands-strong group would make a reconnect storm quadratic.
pub const PRESENCE_MAX_MEMBERS: i64 = 100;
/// Events per `events` frame answering a `sync`.
pub const SYNC_BATCH: u32 = 100;
/// Default upload limit (the server's `--max-upload-bytes`).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
/// Images wider or taller than this are refused before decoding.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Images with more pixels than this are refused before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// Thumbnails: longest side in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// Distinct users one message can mention (the rest are plain text).
pub const MENTIONS_MAX: usize = 50;
/// Push subscriptions one user may hold (one per signed-in browser).
pub const PUSH_SUBSCRIPTIONS_MAX: usize = 10;
/// A pushed preview holds at most this many characters of the message.
pub const PUSH_PREVIEW_MAX_CHARS: usize = 120;
