//! Who can talk to whom: contacts, blocks and groups. Each operation checks
//! the caller's rights and commits its rows and timeline events in one
//! transaction.

pub mod contacts;
pub mod groups;
