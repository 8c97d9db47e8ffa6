//! The internally tagged protocol types read back what they write, every
//! variant, whatever the order of the keys: their `Deserialize` is written
//! out by hand (`common/src/tagged.rs`, issue 13), their `Serialize` is
//! serde's derive, so these hold the two to the same wire format.

use std::fmt::Debug;

use natter_common::{
    api::{Contact, ContactRequest, Conversation, ConversationKind, NotifyLevel, RequestOutcome, Role, User},
    events::{Event, EventBody, MessageContent, MessageState, Reactions},
    frames::{ConversationState, ServerFrame},
    ids::{ConversationId, EventId, RequestId, UserId},
    ErrorBody, ErrorCode,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

/// `value` as JSON with its keys in the order given by `order` applied to
/// what serde writes (the tag first).
fn reordered(value: &impl Serialize, order: fn(&mut Vec<(String, Value)>)) -> String {
    let Value::Object(map) = serde_json::to_value(value).unwrap() else {
        panic!("not an object")
    };
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    // `Map` may sort its keys: put serde's own order (the tag first) back.
    let written: Map<String, Value> = serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap();
    let position = |key: &str| written.keys().position(|k| k == key);
    entries.sort_by_key(|(key, _)| position(key));
    order(&mut entries);
    let body: Vec<String> = entries
        .iter()
        .map(|(key, value)| format!("{}:{}", serde_json::to_string(key).unwrap(), value))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// `value` reads back from what it writes, and from the same keys reversed
/// (the tag last) and rotated (the tag in the middle).
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
    let text = serde_json::to_string(&value).unwrap();
    assert_eq!(serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    for order in [
        |e: &mut Vec<_>| e.reverse(),
        |e: &mut Vec<_>| {
            let half = e.len() / 2;
            e.rotate_left(half)
        },
    ] {
        let text = reordered(&value, order);
        assert_eq!(serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    }
    let tree = serde_json::to_value(&value).unwrap();
    assert_eq!(serde_json::from_value::<T>(tree).unwrap(), value);
}

fn user(id: i64) -> User {
    User {
        id: UserId(id),
        username: format!("u{id}"),
        display_name: format!("User {id}"),
        created_at: 5,
        avatar: (id % 2 == 0).then(|| "ab".into()),
    }
}

fn id(n: u8) -> EventId {
    EventId(format!("0191e2f4-0000-7000-8000-0000000000{n:02}"))
}

fn contents() -> Vec<MessageContent> {
    vec![
        MessageContent::Text { text: "hi 👋".into() },
        MessageContent::Image { media_id: "m1".into() },
        MessageContent::Sticker {
            sticker_id: "cat".into(),
        },
        MessageContent::Deleted,
    ]
}

fn bodies() -> Vec<EventBody> {
    let mut bodies: Vec<EventBody> = contents()
        .into_iter()
        .map(|content| EventBody::Message {
            content,
            reply_to: None,
            mentions: vec![],
        })
        .collect();
    bodies.extend([
        EventBody::Message {
            content: MessageContent::Text { text: "@ann".into() },
            reply_to: Some(id(1)),
            mentions: vec![UserId(2)],
        },
        EventBody::MessageEdited {
            target: id(1),
            content: MessageContent::Text { text: "new".into() },
            mentions: vec![],
        },
        EventBody::MessageEdited {
            target: id(1),
            content: MessageContent::Deleted,
            mentions: vec![UserId(3)],
        },
        EventBody::MessageDeleted { target: id(2) },
        EventBody::ReactionAdded {
            target: id(3),
            emoji: "🎉".into(),
        },
        EventBody::ReactionRemoved {
            target: id(3),
            emoji: "🎉".into(),
        },
        EventBody::GroupCreated { name: "crew".into() },
        EventBody::GroupRenamed { name: "crew 2".into() },
        EventBody::MemberJoined { user: UserId(4) },
        EventBody::MembersJoined {
            users: vec![UserId(4), UserId(5)],
        },
        EventBody::MemberLeft { user: UserId(4) },
        EventBody::MemberRemoved { user: UserId(5) },
        EventBody::RoleChanged {
            user: UserId(5),
            role: Role::Admin,
        },
        EventBody::Unknown,
    ]);
    bodies
}

fn event(seq: i64, body: EventBody) -> Event {
    Event {
        conversation_id: ConversationId(7),
        seq,
        id: id(seq as u8),
        sender: UserId(1),
        client_msg_id: (seq % 2 == 0).then(|| format!("c{seq}")),
        created_at: 9,
        body,
        state: (seq == 1).then(|| MessageState {
            edited_at: Some(10),
            reactions: vec![Reactions {
                emoji: "👍".into(),
                count: 2,
                mine: true,
                users: vec![UserId(1)],
            }],
        }),
    }
}

fn codes() -> Vec<ErrorCode> {
    vec![
        ErrorCode::BadRequest,
        ErrorCode::InvalidInput {
            field: "username".into(),
        },
        ErrorCode::PayloadTooLarge { max_bytes: 1 << 20 },
        ErrorCode::RequestTimeout,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::AccountDisabled,
        ErrorCode::UsernameTaken,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::CannotRequestSelf,
        ErrorCode::AlreadyRequested,
        ErrorCode::AlreadyContacts,
        ErrorCode::Blocked,
        ErrorCode::NotContacts,
        ErrorCode::GroupFull { max: 5000 },
        ErrorCode::UnsupportedProtocol { supported: 2 },
        ErrorCode::RateLimited { retry_after_ms: 1200 },
        ErrorCode::UnsupportedMedia,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::Unknown,
    ]
}

fn frames() -> Vec<ServerFrame> {
    let c = ConversationId(7);
    let mut frames = vec![
        ServerFrame::Hello {
            protocol_version: 2,
            user_id: UserId(1),
            conversations: vec![ConversationState {
                conversation_id: c,
                last_seq: 4,
                read_seq: 2,
                unread: 2,
                mentions: 1,
                notify: NotifyLevel::Muted,
            }],
            online: vec![UserId(2), UserId(3)],
            heartbeat_ms: 15_000,
        },
        ServerFrame::Hello {
            protocol_version: 1,
            user_id: UserId(1),
            conversations: vec![],
            online: vec![],
            heartbeat_ms: 1,
        },
        ServerFrame::Sent {
            client_msg_id: "c1".into(),
            conversation_id: c,
            seq: 3,
            id: id(3),
            created_at: 9,
        },
        ServerFrame::Events {
            conversation_id: c,
            events: vec![event(1, bodies()[0].clone()), event(2, bodies()[5].clone())],
            more: true,
        },
        ServerFrame::ReadState {
            conversation_id: c,
            read_seq: 3,
            unread: 0,
            mentions: 0,
        },
        ServerFrame::ReadState {
            conversation_id: c,
            read_seq: 3,
            unread: 4,
            mentions: 2,
        },
        ServerFrame::ConversationSettings {
            conversation_id: c,
            notify: NotifyLevel::Mentions,
        },
        ServerFrame::Receipt {
            conversation_id: c,
            user_id: UserId(2),
            read_seq: 3,
        },
        ServerFrame::Typing {
            conversation_id: c,
            user_id: UserId(2),
        },
        ServerFrame::Presence {
            user_id: UserId(2),
            online: true,
        },
        ServerFrame::Presence {
            user_id: UserId(2),
            online: false,
        },
        ServerFrame::ContactsChanged,
        ServerFrame::UserUpdated { user: user(2) },
        ServerFrame::UserUpdated { user: user(3) },
        ServerFrame::Pong { nonce: 42 },
    ];
    frames.extend(bodies().into_iter().zip(1..).map(|(body, seq)| ServerFrame::Event {
        event: event(seq, body),
    }));
    frames.extend(codes().into_iter().enumerate().map(|(i, code)| ServerFrame::Error {
        code,
        message: "no".into(),
        client_msg_id: (i % 2 == 0).then(|| "c1".into()),
    }));
    frames.push(ServerFrame::Batch {
        frames: frames[..4].to_vec(),
    });
    frames
}

#[test]
fn every_server_frame_round_trips_in_any_key_order() {
    for frame in frames() {
        round_trips(frame);
    }
}

#[test]
fn every_event_body_and_content_round_trips_in_any_key_order() {
    for body in bodies() {
        round_trips(body);
    }
    for content in contents() {
        round_trips(content);
    }
    round_trips(MessageContent::Unknown);
}

#[test]
fn every_error_code_round_trips_alone_and_in_a_body() {
    for code in codes() {
        round_trips(ErrorBody {
            code: code.clone(),
            message: "no".into(),
        });
        round_trips(code);
    }
}

#[test]
fn conversations_and_request_outcomes_round_trip_in_any_key_order() {
    let direct = Conversation {
        id: ConversationId(3),
        kind: ConversationKind::Direct { peer: user(2) },
        last_seq: 4,
        read_seq: 2,
        created_at: 1,
        last_event: Some(event(4, bodies()[0].clone())),
        unread_mentions: 1,
        notify: NotifyLevel::All,
    };
    let group = Conversation {
        kind: ConversationKind::Group {
            name: "crew".into(),
            member_count: 5,
        },
        last_event: None,
        ..direct.clone()
    };
    round_trips(direct.kind.clone());
    round_trips(group.kind.clone());
    round_trips(direct);
    round_trips(group);

    let request = ContactRequest {
        id: RequestId(1),
        from: user(1),
        to: user(2),
        created_at: 3,
    };
    round_trips(RequestOutcome::Pending { request });
    round_trips(RequestOutcome::Accepted {
        contact: Contact {
            user: user(2),
            conversation_id: ConversationId(3),
            since: 4,
        },
    });
}

#[test]
fn defaults_nulls_and_unknown_keys_read_as_serde_reads_them() {
    let frame: ServerFrame =
        serde_json::from_str(r#"{"type":"read_state","conversation_id":1,"read_seq":2,"unread":3,"later":[1]}"#)
            .unwrap();
    assert_eq!(
        frame,
        ServerFrame::ReadState {
            conversation_id: ConversationId(1),
            read_seq: 2,
            unread: 3,
            mentions: 0
        }
    );

    let frame: ServerFrame =
        serde_json::from_str(r#"{"type":"error","code":"not_found","message":"gone","client_msg_id":null}"#).unwrap();
    assert_eq!(
        frame,
        ServerFrame::Error {
            code: ErrorCode::NotFound,
            message: "gone".into(),
            client_msg_id: None
        }
    );

    let body: EventBody =
        serde_json::from_str(r#"{"type":"message","content":{"kind":"text","text":"x"},"reply_to":null}"#).unwrap();
    assert_eq!(
        body,
        EventBody::Message {
            content: MessageContent::Text { text: "x".into() },
            reply_to: None,
            mentions: vec![]
        }
    );

    let conversation: Conversation = serde_json::from_str(
        r#"{"id":3,"kind":"group","name":"crew","member_count":2,"last_seq":0,"created_at":1,"last_event":null}"#,
    )
    .unwrap();
    assert_eq!(conversation.read_seq, 0);
    assert_eq!(conversation.last_event, None);
    assert_eq!(conversation.notify, NotifyLevel::Default);

    let content: MessageContent = serde_json::from_str(r#"{"kind":"poll","question":{"text":"?"}}"#).unwrap();
    assert_eq!(content, MessageContent::Unknown);
}

#[test]
fn after_the_tag_other_variants_keys_are_skipped_unread() {
    // `user` is a `User` in `user_updated`, `online` a list in `hello`;
    // neither is read for a `pong` or a `presence`.
    let frame: ServerFrame = serde_json::from_str(r#"{"type":"pong","nonce":1,"user":"x","online":[1]}"#).unwrap();
    assert_eq!(frame, ServerFrame::Pong { nonce: 1 });
    let frame: ServerFrame = serde_json::from_str(r#"{"type":"presence","user_id":2,"online":true}"#).unwrap();
    assert_eq!(
        frame,
        ServerFrame::Presence {
            user_id: UserId(2),
            online: true
        }
    );
    // A kind from a newer server may use a known key its own way.
    let body: EventBody = serde_json::from_str(r#"{"type":"poll_opened","user":{"id":1},"name":[1,2]}"#).unwrap();
    assert_eq!(body, EventBody::Unknown);
    let body: ErrorBody = serde_json::from_str(r#"{"code":"brand_new","max":"lots","message":"hi"}"#).unwrap();
    assert_eq!(body.code, ErrorCode::Unknown);
}

#[test]
fn malformed_frames_are_refused_with_serde_s_messages() {
    let error = |text: &str| serde_json::from_str::<ServerFrame>(text).unwrap_err().to_string();
    assert!(error(r#"{"type":"pong"}"#).starts_with("missing field `nonce`"));
    assert!(error(r#"{"nonce":1}"#).starts_with("missing field `type`"));
    assert!(error(r#"{"type":"poll_closed"}"#).starts_with("unknown variant `poll_closed`"));
    assert!(error(r#"{"type":"pong","nonce":"one"}"#).starts_with("invalid type: string \"one\""));
    assert!(error(r#"{"type":"presence","user_id":2,"online":[]}"#).starts_with("invalid type: sequence"));
    assert!(error(r#"[1]"#).starts_with("invalid type: sequence, expected a server frame"));
    assert!(serde_json::from_str::<ErrorBody>(r#"{"code":"group_full","message":"full"}"#).is_err());
    assert!(serde_json::from_str::<EventBody>(r#"{"type":"member_left"}"#).is_err());
}
