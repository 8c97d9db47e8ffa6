//! One module per route.

pub mod login;
pub mod register;
pub mod shell;
