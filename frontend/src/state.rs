//! App-wide state shared through context.

use std::collections::HashMap;

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

/// What the people pages read besides live events, and when to read it
/// again: contacts and requests (a `contacts_changed` frame, or a change
/// made here), each group's members, name and roles (its membership
/// events), and the people they list (someone's name or picture changed: a
/// `user_updated` frame). Messages, acks and the rest of the live traffic
/// change none of them.
#[derive(Clone, Copy)]
pub struct Changes {
    contacts: RwSignal<u64>,
    groups: RwSignal<HashMap<ConversationId, u32>>,
    people: RwSignal<u64>,
}

impl Changes {
    pub fn new() -> Self {
        Self {
            contacts: RwSignal::new(0),
            groups: RwSignal::new(HashMap::new()),
            people: RwSignal::new(0),
        }
    }

    /// Subscribes the calling reactive scope to changes of anyone's name or
    /// picture.
    pub fn track_people(&self) {
        self.people.track();
    }

    pub fn people_changed(&self) {
        self.people.update(|n| *n += 1);
    }

    /// Subscribes the calling reactive scope to changes of contacts and
    /// requests.
    pub fn track_contacts(&self) {
        self.contacts.track();
    }

    pub fn contacts_changed(&self) {
        self.contacts.update(|n| *n += 1);
    }

    /// How often group `id` changed: read in a `Memo`, it wakes only that
    /// group's readers.
    pub fn group_version(&self, id: ConversationId) -> u32 {
        self.groups.with(|g| g.get(&id).copied().unwrap_or(0))
    }

    pub fn group_changed(&self, id: ConversationId) {
        self.groups.update(|g| *g.entry(id).or_default() += 1);
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
