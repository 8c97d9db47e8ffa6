//! Messages and what people do to them: send, edit, delete for everyone,
//! react. Each checks its rights inside the writer's transaction and
//! appends one event; edits, deletions and reactions also bring the
//! message's current state up to date beside it.

use natter_common::{
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
    limits::REACTIONS_MAX_DISTINCT,
    ErrorCode,
};

use super::{
    publisher::{Publish, Step},
    writer::Batch,
    Done, Refusal,
};
use crate::db::{
    append::{self, SendRight},
    group_changes,
    log_tx::{self, LogTx},
    mentions,
    message_changes::{self as changes, ReactionState, Target},
};

/// A step that delivers `event` to the conversation's members and
/// acknowledges it to its requester.
fn appended(batch: &mut Batch, event: Event) -> log_tx::Result<Step> {
    let to = batch.audience.of(batch.tx, event.conversation_id)?;
    Ok(Step {
        answer: Ok(Done::Logged((&event).into())),
        publish: Publish::Events {
            events: vec![event],
            to,
            also: None,
        },
    })
}

/// Acknowledges with an event stored earlier, publishing nothing new.
fn already(event: &Event) -> Step {
    Step::answer(Ok(Done::Logged(event.into())))
}

fn refused(refusal: Refusal) -> log_tx::Result<Step> {
    Ok(Step::answer(Err(refusal)))
}

fn no_such_conversation() -> Refusal {
    Refusal::not_found("No such conversation.")
}

fn not_contacts() -> Refusal {
    Refusal::new(ErrorCode::NotContacts, "You can only message your contacts.")
}

/// A message with a reply or an image: its references are checked first,
/// then it is appended on its own.
pub fn send(
    batch: &mut Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    content: &MessageContent,
    reply_to: Option<&EventId>,
) -> log_tx::Result<Step> {
    let tx = batch.tx;
    if let Some(step) = check_references(tx, by, client_msg_id, conversation, content, reply_to)? {
        return Ok(step);
    }
    let body = message_body(tx, by, conversation, content, reply_to)?;
    let event = append::message(tx, conversation, by, client_msg_id, body, batch.now)?;
    sent(batch, by, client_msg_id, conversation, event)
}

/// Plain messages (no reply, no image), gathered in batch order and
/// appended together (see [`append::messages`]): each costs no statement of
/// its own beyond its mentions. The sender's right is checked once per
/// conversation in a run (on SQLite) or in the insert (on PostgreSQL), and
/// the unique index catches a repeated `client_msg_id`; the reasons are
/// looked up only for what it did not store.
///
/// A run holds sends only, and gathering one only reads: the SQLite path
/// relies on no right changing between its messages. Anything that writes
/// must [`Sends::flush`] first, as the writer does for every other command.
#[derive(Default)]
pub struct Sends<'e> {
    /// Each with the index of its command in the batch.
    run: Vec<(usize, append::NewMessage<'e>)>,
}

impl<'e> Sends<'e> {
    /// Whether a send can join a run.
    pub fn takes(content: &MessageContent, reply_to: Option<&EventId>) -> bool {
        reply_to.is_none() && !matches!(content, MessageContent::Image { .. })
    }

    pub fn push(
        &mut self,
        batch: &Batch,
        index: usize,
        by: UserId,
        client_msg_id: &'e str,
        conversation: ConversationId,
        content: &MessageContent,
    ) -> log_tx::Result<()> {
        let message = append::NewMessage {
            conversation,
            sender: by,
            client_msg_id,
            body: message_body(batch.tx, by, conversation, content, None)?,
        };
        self.run.push((index, message));
        Ok(())
    }

    /// Appends the run so far and puts each command's step in `steps`.
    pub fn flush(&mut self, batch: &mut Batch, steps: &mut [Step]) -> log_tx::Result<()> {
        if self.run.is_empty() {
            return Ok(());
        }
        let (indexes, run): (Vec<usize>, Vec<append::NewMessage>) = self.run.drain(..).unzip();
        let asked: Vec<_> = run
            .iter()
            .map(|m| (m.sender, m.client_msg_id, m.conversation))
            .collect();
        let events = append::messages(batch.tx, run, batch.now)?;
        for ((index, (by, client_msg_id, conversation)), event) in indexes.into_iter().zip(asked).zip(events) {
            steps[index] = sent(batch, by, client_msg_id, conversation, event)?;
        }
        Ok(())
    }
}

/// A message's body, with whom its text mentions.
fn message_body(
    tx: &LogTx,
    by: UserId,
    conversation: ConversationId,
    content: &MessageContent,
    reply_to: Option<&EventId>,
) -> log_tx::Result<EventBody> {
    let mentions = match content {
        MessageContent::Text { text } => mentions::resolve(tx, conversation, by, text)?,
        _ => Vec::new(),
    };
    Ok(EventBody::Message {
        content: content.clone(),
        reply_to: reply_to.cloned(),
        mentions,
    })
}

/// The step of a send once appended (`Some`) or not.
fn sent(
    batch: &mut Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    event: Option<Event>,
) -> log_tx::Result<Step> {
    match event {
        Some(event) => {
            mentions::add(batch.tx, conversation, event.seq, event.body.mentions())?;
            appended(batch, event)
        }
        None => refusal(batch.tx, by, client_msg_id, conversation),
    }
}

/// Why a send stored nothing: a repeat (acknowledged even if the sender has
/// since lost the right to post) or no right to post.
fn refusal(tx: &LogTx, by: UserId, client_msg_id: &str, conversation: ConversationId) -> log_tx::Result<Step> {
    if let Some(original) = append::by_client_msg_id(tx, by, client_msg_id)? {
        return Ok(already(&original));
    }
    refused(match append::send_right(tx, conversation, by)? {
        SendRight::NotContacts => not_contacts(),
        SendRight::NotMember | SendRight::Allowed => no_such_conversation(),
    })
}

/// For messages that point at something (an image, a replied-to event): a
/// repeat, or a refusal when the reference is not the sender's to use;
/// `None` to go on.
fn check_references(
    tx: &LogTx,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    content: &MessageContent,
    reply_to: Option<&EventId>,
) -> log_tx::Result<Option<Step>> {
    if let Some(original) = append::by_client_msg_id(tx, by, client_msg_id)? {
        return Ok(Some(already(&original)));
    }
    if append::send_right(tx, conversation, by)? != SendRight::Allowed {
        return refusal(tx, by, client_msg_id, conversation).map(Some);
    }
    if let MessageContent::Image { media_id } = content {
        // Posting an image shares it; only images you may see can be shared.
        if !append::media_visible_to(tx, media_id, by)? {
            return Ok(Some(Step::answer(Err(Refusal::invalid(
                "media_id",
                "Unknown image: upload it first.",
            )))));
        }
    }
    if let Some(target) = reply_to {
        if !append::exists_in(tx, conversation, target)? {
            return Ok(Some(Step::answer(Err(Refusal::invalid(
                "reply_to",
                "The message you reply to is not in this conversation.",
            )))));
        }
    }
    Ok(None)
}

/// What an edit, deletion or reaction is about, once the requester's right
/// to act in the conversation is settled: the target, or the step to take
/// instead (the ack of a repeat, or a refusal).
enum Found {
    Target(Target),
    Settled(Step),
}

fn find_target(
    batch: &Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    target: &EventId,
    // Edits and reactions need the right to post (in a DM, still contacts);
    // deleting needs only membership.
    posting: bool,
) -> log_tx::Result<Found> {
    let tx = batch.tx;
    if let Some(original) = append::by_client_msg_id(tx, by, client_msg_id)? {
        return Ok(Found::Settled(already(&original)));
    }
    let right = append::send_right(tx, conversation, by)?;
    let refusal = match right {
        SendRight::NotMember => Some(no_such_conversation()),
        SendRight::NotContacts if posting => Some(not_contacts()),
        _ => None,
    };
    if let Some(refusal) = refusal {
        return Ok(Found::Settled(Step::answer(Err(refusal))));
    }
    Ok(match changes::target(tx, conversation, target)? {
        Some(found) => Found::Target(found),
        None => Found::Settled(Step::answer(Err(Refusal::not_found(
            "No such message in this conversation.",
        )))),
    })
}

fn deleted() -> Refusal {
    Refusal::not_found("That message was deleted.")
}

/// A target that must still stand: edits and reactions need the right to
/// post, and a deleted message takes neither.
fn find_live_target(
    batch: &Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    target: &EventId,
) -> log_tx::Result<Found> {
    Ok(
        match find_target(batch, by, client_msg_id, conversation, target, true)? {
            Found::Target(target) if target.deleted_seq.is_some() => Found::Settled(Step::answer(Err(deleted()))),
            found => found,
        },
    )
}

/// Replaces the text of the requester's own text message.
pub fn edit(
    batch: &mut Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    target_id: &EventId,
    text: &str,
) -> log_tx::Result<Step> {
    let target = match find_live_target(batch, by, client_msg_id, conversation, target_id)? {
        Found::Target(target) => target,
        Found::Settled(step) => return Ok(step),
    };
    if target.sender != by {
        return refused(Refusal::forbidden("You can only edit your own messages."));
    }
    if !matches!(target.content, MessageContent::Text { .. }) {
        return refused(Refusal::invalid("target", "Only text messages can be edited."));
    }
    let content = MessageContent::Text { text: text.to_owned() };
    // An edit can name new people or drop some: the message mentions whom
    // its current text names, no more (nobody is notified of an edit).
    let mentions = mentions::resolve(batch.tx, conversation, by, text)?;
    mentions::set(batch.tx, conversation, target.seq, &mentions)?;
    let body = EventBody::MessageEdited {
        target: target_id.clone(),
        content: content.clone(),
        mentions: mentions.clone(),
    };
    let event = append::event(batch.tx, conversation, by, Some(client_msg_id), body, batch.now)?;
    changes::set_content(batch.tx, conversation, &target, content, mentions, batch.now)?;
    appended(batch, event)
}

/// Deletes a message for everyone: the requester's own, or any in a group
/// they own or administer. Deleting a deleted message acknowledges the
/// deletion that did it.
pub fn delete(
    batch: &mut Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    target_id: &EventId,
) -> log_tx::Result<Step> {
    let target = match find_target(batch, by, client_msg_id, conversation, target_id, false)? {
        Found::Target(target) => target,
        Found::Settled(step) => return Ok(step),
    };
    if let Some(seq) = target.deleted_seq {
        return match changes::event_at(batch.tx, conversation, seq)? {
            Some(deletion) => Ok(already(&deletion)),
            None => refused(deleted()),
        };
    }
    if target.sender != by && !group_changes::role(batch.tx, conversation, by)?.is_some_and(|r| r.can_manage()) {
        return refused(Refusal::forbidden("You can only delete your own messages here."));
    }
    let body = EventBody::MessageDeleted {
        target: target_id.clone(),
    };
    let event = append::event(batch.tx, conversation, by, Some(client_msg_id), body, batch.now)?;
    changes::erase(batch.tx, conversation, target_id, &target, event.seq)?;
    if let MessageContent::Image { media_id } = &target.content {
        if changes::drop_unused_media(batch.tx, media_id)? {
            batch.dropped_media.push(media_id.clone());
        }
    }
    appended(batch, event)
}

/// Adds (`on`) or takes back a reaction. Adding one that is there already
/// acknowledges the event that added it.
pub fn react(
    batch: &mut Batch,
    by: UserId,
    client_msg_id: &str,
    conversation: ConversationId,
    target_id: &EventId,
    emoji: &str,
    on: bool,
) -> log_tx::Result<Step> {
    let target = match find_live_target(batch, by, client_msg_id, conversation, target_id)? {
        Found::Target(target) => target,
        Found::Settled(step) => return Ok(step),
    };
    let tx = batch.tx;
    let body = if on {
        match changes::reaction(tx, conversation, target.seq, by, emoji)? {
            ReactionState::Present(seq) => {
                return match changes::event_at(tx, conversation, seq)? {
                    Some(added) => Ok(already(&added)),
                    None => refused(Refusal::failed()),
                };
            }
            ReactionState::Absent { distinct, emoji_known } if !emoji_known && distinct >= REACTIONS_MAX_DISTINCT => {
                return refused(Refusal::invalid(
                    "emoji",
                    format!("A message can have at most {REACTIONS_MAX_DISTINCT} different reactions."),
                ));
            }
            ReactionState::Absent { .. } => EventBody::ReactionAdded {
                target: target_id.clone(),
                emoji: emoji.to_owned(),
            },
        }
    } else {
        if !changes::remove_reaction(tx, conversation, target.seq, by, emoji)? {
            return refused(Refusal::not_found("You have not reacted with that emoji."));
        }
        EventBody::ReactionRemoved {
            target: target_id.clone(),
            emoji: emoji.to_owned(),
        }
    };
    let event = append::event(tx, conversation, by, Some(client_msg_id), body, batch.now)?;
    if on {
        changes::add_reaction(tx, conversation, target.seq, by, emoji, event.seq)?;
    }
    appended(batch, event)
}
