//! Who can talk to whom: contacts and blocks (each operation checks the
//! caller's rights and commits in one transaction), and reading groups.

pub mod contacts;
pub mod groups;
pub mod leaving;
