//! Authentication: password hashing, session tokens, and the extractor that
//! turns a request's token into a signed-in user.

pub mod extract;
pub mod password;
pub mod token;

pub use extract::AuthUser;
pub use password::Passwords;
