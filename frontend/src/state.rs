//! App-wide state shared through context.

use leptos::prelude::*;
use natter_common::api::User;

/// Who is signed in. `checked` turns true once the first `/me` answered, so
/// pages can tell "not signed in" from "don't know yet".
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: RwSignal<Option<User>>,
    pub checked: RwSignal<bool>,
}

impl Auth {
    pub fn new() -> Self {
        Self {
            user: RwSignal::new(None),
            checked: RwSignal::new(false),
        }
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Bumped after any change to contacts, groups or conversations; lists that
/// read it refetch.
#[derive(Clone, Copy)]
pub struct Changes(RwSignal<u64>);

impl Changes {
    pub fn new() -> Self {
        Self(RwSignal::new(0))
    }

    /// Subscribes the calling reactive scope.
    pub fn track(&self) {
        self.0.track();
    }

    pub fn bump(&self) {
        self.0.update(|n| *n += 1);
    }
}

pub fn use_changes() -> Changes {
    expect_context::<Changes>()
}
