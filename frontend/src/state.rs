//! App-wide state shared through context.

use leptos::prelude::*;
use natter_common::{api::User, ids::ConversationId};

/// Who is signed in. `checked` turns true once the first `/me` answered, so
/// pages can tell "not signed in" from "don't know yet". `farewell` is a
/// word for the sign-in page on why the user left (their account deleted),
/// shown there until they go on.
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: RwSignal<Option<User>>,
    pub checked: RwSignal<bool>,
    pub farewell: RwSignal<Option<&'static str>>,
}

impl Auth {
    pub fn new() -> Self {
        Self {
            user: RwSignal::new(None),
            checked: RwSignal::new(false),
            farewell: RwSignal::new(None),
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

/// A message to bring into view once its conversation shows (a search
/// result chosen): the conversation page scrolls to it and marks it.
#[derive(Clone, Copy)]
pub struct Reveal(RwSignal<Option<(ConversationId, i64)>>);

impl Reveal {
    pub fn new() -> Self {
        Self(RwSignal::new(None))
    }

    /// Asks for the message at `seq` of `conversation`.
    pub fn show(&self, conversation: ConversationId, seq: i64) {
        self.0.set(Some((conversation, seq)));
    }

    /// Whether a message of `conversation` is waiting; subscribes the
    /// calling reactive scope.
    pub fn waiting(&self, conversation: ConversationId) -> bool {
        self.0.with(|r| r.is_some_and(|(c, _)| c == conversation))
    }

    /// The seq waiting for `conversation`, if any, which is then no longer
    /// waiting.
    pub fn take(&self, conversation: ConversationId) -> Option<i64> {
        let seq = self
            .0
            .with_untracked(|r| r.filter(|(c, _)| *c == conversation).map(|(_, seq)| seq))?;
        self.0.set(None);
        Some(seq)
    }
}

pub fn use_reveal() -> Reveal {
    expect_context::<Reveal>()
}
