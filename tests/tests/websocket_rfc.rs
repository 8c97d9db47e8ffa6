//! RFC 6455 conformance of `/ws`, case by case in the numbering of
//! Autobahn|Testsuite's fuzzing client (sections 1–7 and 10; the suite
//! itself needs Python 2, which this machine cannot install).
//!
//! natter is not an echo server. Where a case expects its message echoed,
//! the message is an application `ping` (padded with JSON whitespace to the
//! case's size) and the echo is its `pong`; a valid text that is not a
//! frame gets an `error` frame, which proves the message arrived whole.
//! Where a case expects the connection failed, the server must send the
//! close code that names the fault and then drop TCP.

use std::{io::ErrorKind, time::Duration};

use futures_util::{SinkExt, StreamExt};
use natter_common::{frames::ServerFrame, ErrorCode};
use natter_tests::{
    api::{befriend, register_all},
    ws::{Handshake, WsClient},
    TestServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::{
    tungstenite::{
        protocol::frame::{
            coding::{CloseCode, Control, Data, OpCode},
            Frame, FrameHeader,
        },
        Bytes, Message,
    },
    MaybeTlsStream, WebSocketStream,
};

type Stream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const TEXT: OpCode = OpCode::Data(Data::Text);
const BINARY: OpCode = OpCode::Data(Data::Binary);
const CONTINUE: OpCode = OpCode::Data(Data::Continue);
const PING: OpCode = OpCode::Control(Control::Ping);
const PONG: OpCode = OpCode::Control(Control::Pong);
const CLOSE: OpCode = OpCode::Control(Control::Close);

/// What the server did next.
#[derive(Debug, PartialEq)]
enum Got {
    /// A WebSocket pong with this payload.
    Pong(Vec<u8>),
    /// An application frame.
    Frame(ServerFrame),
    /// A close frame with this code, then the end of TCP.
    Closed(Option<u16>),
    /// A close frame, but TCP stayed open.
    ClosedUnclean(Option<u16>),
    /// A close frame, then a reset: the server dropped TCP with the client's
    /// bytes unread, which on a real link can throw the close frame away.
    ClosedByReset(Option<u16>),
    /// TCP ended without a close frame.
    Dropped,
    /// Nothing within the wait.
    Silent,
}

/// An application ping of exactly `size` bytes (at least 25).
fn app_ping(nonce: u64, size: usize) -> Vec<u8> {
    let mut text = format!(r#"{{"type":"ping","nonce":{nonce}}}"#).into_bytes();
    assert!(text.len() <= size, "{size} bytes is too short for a ping");
    text.resize(size, b' ');
    text
}

/// An application ping carrying `bytes` (UTF-8 or not) inside a JSON string.
fn app_ping_with(nonce: u64, bytes: &[u8]) -> Vec<u8> {
    let mut text = format!(r#"{{"type":"ping","nonce":{nonce},"pad":""#).into_bytes();
    text.extend_from_slice(bytes);
    text.extend_from_slice(br#""}"#);
    text
}

fn pong(nonce: u64) -> Got {
    Got::Frame(ServerFrame::Pong { nonce })
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// A frame as a client puts it on the wire: masked, with any header bits.
fn wire(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        rsv1: rsv & 4 != 0,
        rsv2: rsv & 2 != 0,
        rsv3: rsv & 1 != 0,
        opcode,
        mask: Some([0x37, 0xfa, 0x21, 0x3d]),
    };
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .expect("format");
    out
}

struct Peer {
    stream: Stream,
}

impl Peer {
    async fn open(server: &TestServer, token: &str) -> anyhow::Result<Self> {
        let mut stream = WsClient::handshake(
            server,
            Handshake {
                token: Some(token),
                ..Default::default()
            },
        )
        .await?;
        match stream.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"hello\"") => Ok(Self { stream }),
            other => anyhow::bail!("expected hello, got {other:?}"),
        }
    }

    fn tcp(&mut self) -> &mut tokio::net::TcpStream {
        match self.stream.get_mut() {
            MaybeTlsStream::Plain(tcp) => tcp,
            _ => panic!("expected a plain TCP stream"),
        }
    }

    /// Sends one frame, whole.
    async fn send(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> anyhow::Result<()> {
        self.send_raw(&wire(fin, 0, opcode, payload), usize::MAX).await?;
        Ok(())
    }

    /// Writes bytes `chunk` at a time, each pushed out on its own; whether
    /// they all went out. A reset ends the writing, not the test, whose
    /// verdict is what the server answered (checked next).
    async fn send_raw(&mut self, bytes: &[u8], chunk: usize) -> anyhow::Result<bool> {
        for piece in bytes.chunks(chunk.min(bytes.len()).max(1)) {
            let tcp = self.tcp();
            let written = match tcp.write_all(piece).await {
                Ok(()) => tcp.flush().await,
                Err(err) => Err(err),
            };
            match written {
                Ok(()) => {}
                Err(err) if matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                    return Ok(false)
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(true)
    }

    /// The next thing the server does, skipping its own heartbeat pings.
    async fn next(&mut self, wait: Duration) -> Got {
        loop {
            let Ok(next) = tokio::time::timeout(wait, self.stream.next()).await else {
                return Got::Silent;
            };
            return match next {
                Some(Ok(Message::Pong(payload))) => Got::Pong(payload.to_vec()),
                Some(Ok(Message::Ping(_))) => continue,
                Some(Ok(Message::Text(text))) => {
                    Got::Frame(serde_json::from_str(text.as_str()).expect("a server frame"))
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    // The server must end TCP once it has closed.
                    let mut rest = [0u8; 64];
                    match tokio::time::timeout(Duration::from_secs(5), self.tcp().read(&mut rest)).await {
                        Ok(Ok(0)) => Got::Closed(code),
                        Ok(Err(_)) => Got::ClosedByReset(code),
                        _ => Got::ClosedUnclean(code),
                    }
                }
                Some(Ok(other)) => panic!("unexpected {other:?}"),
                None | Some(Err(_)) => Got::Dropped,
            };
        }
    }

    async fn expect(&mut self, want: Got, case: &str) {
        let got = self.next(Duration::from_secs(10)).await;
        assert_eq!(got, want, "case {case}");
    }

    async fn expect_error(&mut self, code: ErrorCode, case: &str) {
        match self.next(Duration::from_secs(10)).await {
            Got::Frame(ServerFrame::Error { code: got, .. }) => assert_eq!(got, code, "case {case}"),
            other => panic!("case {case}: expected an error frame, got {other:?}"),
        }
    }
}

async fn server_and_token() -> anyhow::Result<(TestServer, String)> {
    let server = TestServer::spawn().await?;
    let [ann] = register_all(&server, ["rfc_ann"]).await?;
    Ok((server, ann.token))
}

#[tokio::test]
async fn framing_1_messages_of_every_length_arrive_whole() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let max = natter_common::limits::WS_FRAME_MAX_BYTES;
    // 1.1.2–1.1.6 and the frame limit: whole, then written 997 bytes at a time (1.1.8).
    for (case, size) in [
        ("1.1.2", 125),
        ("1.1.3", 126),
        ("1.1.4", 127),
        ("1.1.5", 128),
        ("1.1.6", 65_535 / 2),
        ("limit", max),
    ] {
        for chunk in [usize::MAX, 997] {
            let mut peer = Peer::open(&server, &token).await?;
            peer.send_raw(&wire(true, 0, TEXT, &app_ping(size as u64, size)), chunk)
                .await?;
            peer.expect(pong(size as u64), case).await;
        }
    }
    let mut peer = Peer::open(&server, &token).await?;
    // 1.1.1: an empty text is not a frame.
    peer.send(true, TEXT, b"").await?;
    peer.expect_error(ErrorCode::BadRequest, "1.1.1").await;
    // 1.1.7 (64 KiB): over the frame limit, refused in words.
    peer.send(true, TEXT, &app_ping(7, 65_536)).await?;
    peer.expect_error(ErrorCode::PayloadTooLarge { max_bytes: max as u64 }, "1.1.7")
        .await;
    // 1.2.x: binary messages of any size are refused in words.
    for size in [0, 125, 126, 65_535] {
        peer.send(true, BINARY, &vec![0xfe; size]).await?;
        peer.expect_error(ErrorCode::BadRequest, "1.2").await;
    }
    // And the connection still works.
    peer.send(true, TEXT, &app_ping(1, 25)).await?;
    peer.expect(pong(1), "1.x after").await;
    Ok(())
}

#[tokio::test]
async fn pings_2_are_answered_with_their_payload() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let mut peer = Peer::open(&server, &token).await?;
    // 2.1–2.4.
    let binary = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    for (case, payload) in [
        ("2.1", &b""[..]),
        ("2.2", b"Hello, world!"),
        ("2.3", &binary),
        ("2.4", &[0xfe; 125]),
    ] {
        peer.send(true, PING, payload).await?;
        peer.expect(Got::Pong(payload.to_vec()), case).await;
    }
    // 2.6: 125 bytes written one byte at a time.
    peer.send_raw(&wire(true, 0, PING, &[0xfe; 125]), 1).await?;
    peer.expect(Got::Pong(vec![0xfe; 125]), "2.6").await;
    // 2.7–2.9: unsolicited pongs are ignored.
    peer.send(true, PONG, b"").await?;
    peer.send(true, PONG, b"unsolicited pong payload").await?;
    peer.send(true, PING, b"ping payload").await?;
    peer.expect(Got::Pong(b"ping payload".to_vec()), "2.9").await;
    // 2.10, 2.11: ten pings, whole and byte by byte. The RFC lets a pong
    // stand for earlier pings; those that come match in order, and the last
    // one comes.
    for (case, chunk) in [("2.10", usize::MAX), ("2.11", 1)] {
        let mut bytes = Vec::new();
        for i in 0..10 {
            bytes.extend(wire(true, 0, PING, format!("payload-{i}").as_bytes()));
        }
        peer.send_raw(&bytes, chunk).await?;
        let mut last = -1;
        while last < 9 {
            match peer.next(Duration::from_secs(10)).await {
                Got::Pong(payload) => {
                    let text = String::from_utf8(payload)?;
                    let i: i32 = text.trim_start_matches("payload-").parse()?;
                    assert!(i > last, "case {case}: pong {i} after {last}");
                    last = i;
                }
                other => panic!("case {case}: expected pongs, got {other:?}"),
            }
        }
    }
    // 2.5: a control frame over 125 bytes fails the connection.
    peer.send(true, PING, &[0xfe; 126]).await?;
    peer.expect(Got::Closed(Some(1002)), "2.5").await;
    Ok(())
}

#[tokio::test]
async fn reserved_bits_3_and_opcodes_4_fail_the_connection() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    // 3.1–3.7: each reserved-bit pattern on each kind of frame; what came
    // before still gets its answer (3.2), what follows gets none.
    let cases = [
        ("3.1", 4, TEXT, app_ping(1, 25)),
        ("3.2", 2, TEXT, app_ping(1, 25)),
        ("3.3", 6, TEXT, app_ping(1, 25)),
        ("3.4", 1, TEXT, app_ping(1, 25)),
        ("3.5", 5, BINARY, vec![0xff; 8]),
        ("3.6", 3, PING, b"ping".to_vec()),
        ("3.7", 7, CLOSE, close_payload(1000, b"")),
    ];
    // 4.1.1–4.2.5: reserved data opcodes 3–7 and control opcodes 11–15.
    let opcodes = [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15].map(|op| {
        let case = if op < 8 {
            format!("4.1.{}", op - 2)
        } else {
            format!("4.2.{}", op - 10)
        };
        (case, OpCode::from(op))
    });
    let all = cases
        .into_iter()
        .map(|(case, rsv, opcode, payload)| (case.to_owned(), rsv, opcode, payload))
        .chain(
            opcodes
                .into_iter()
                .map(|(case, opcode)| (case, 0, opcode, b"reserved".to_vec())),
        );
    for (case, rsv, opcode, payload) in all {
        for chunk in [usize::MAX, 1] {
            let mut peer = Peer::open(&server, &token).await?;
            let mut bytes = wire(true, 0, TEXT, &app_ping(2, 25));
            bytes.extend(wire(true, rsv, opcode, &payload));
            bytes.extend(wire(true, 0, PING, b"after"));
            peer.send_raw(&bytes, chunk).await?;
            peer.expect(pong(2), &case).await;
            peer.expect(Got::Closed(Some(1002)), &case).await;
        }
    }
    Ok(())
}

#[tokio::test]
async fn fragmentation_5_reassembles_messages_and_refuses_broken_sequences() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let ping = app_ping(5, 40);
    let (head, tail) = ping.split_at(17);

    // 5.1, 5.2: control frames may not be fragmented.
    for (case, opcode) in [("5.1", PING), ("5.2", PONG)] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(false, opcode, b"frag1").await?;
        peer.send(true, CONTINUE, b"frag2").await?;
        peer.expect(Got::Closed(Some(1002)), case).await;
    }

    // 5.3–5.5: a text in two fragments, whole, chunked, frame by frame.
    for (case, chunk) in [("5.3", usize::MAX), ("5.4", 1), ("5.5", 7)] {
        let mut peer = Peer::open(&server, &token).await?;
        let mut bytes = wire(false, 0, TEXT, head);
        bytes.extend(wire(true, 0, CONTINUE, tail));
        peer.send_raw(&bytes, chunk).await?;
        peer.expect(pong(5), case).await;
    }

    // 5.6–5.8: a ping between the fragments is answered first.
    for (case, chunk) in [("5.6", usize::MAX), ("5.7", 1), ("5.8", 3)] {
        let mut peer = Peer::open(&server, &token).await?;
        let mut bytes = wire(false, 0, TEXT, head);
        bytes.extend(wire(true, 0, PING, b"between"));
        bytes.extend(wire(true, 0, CONTINUE, tail));
        peer.send_raw(&bytes, chunk).await?;
        peer.expect(Got::Pong(b"between".to_vec()), case).await;
        peer.expect(pong(5), case).await;
    }

    // 5.9–5.14: a continuation with nothing to continue (final or not).
    for (case, fin, chunk) in [
        ("5.9", true, usize::MAX),
        ("5.10", true, 1),
        ("5.11", true, 5),
        ("5.12", false, usize::MAX),
        ("5.13", false, 1),
        ("5.14", false, 5),
    ] {
        let mut peer = Peer::open(&server, &token).await?;
        let mut bytes = wire(fin, 0, CONTINUE, b"fragment");
        bytes.extend(wire(true, 0, TEXT, &app_ping(6, 25)));
        bytes.extend(wire(true, 0, PING, b""));
        peer.send_raw(&bytes, chunk).await?;
        peer.expect(Got::Closed(Some(1002)), case).await;
    }

    // 5.15: a whole fragmented message, then a stray continuation.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(false, TEXT, head).await?;
    peer.send(true, CONTINUE, tail).await?;
    peer.send(false, CONTINUE, b"fragment3").await?;
    peer.send(true, TEXT, &app_ping(7, 25)).await?;
    peer.expect(pong(5), "5.15").await;
    peer.expect(Got::Closed(Some(1002)), "5.15").await;

    // 5.16, 5.17: starting with a continuation, whether final or not.
    for (case, fin) in [("5.16", false), ("5.17", true)] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(fin, CONTINUE, b"fragment1").await?;
        peer.send(false, TEXT, head).await?;
        peer.send(true, CONTINUE, tail).await?;
        peer.expect(Got::Closed(Some(1002)), case).await;
    }

    // 5.18: a new text where a continuation belongs.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(false, TEXT, head).await?;
    peer.send(true, TEXT, tail).await?;
    peer.expect(Got::Closed(Some(1002)), "5.18").await;

    // 5.19, 5.20: five fragments with pings between, one of them late.
    for (case, chunk) in [("5.19", usize::MAX), ("5.20", 1)] {
        let mut peer = Peer::open(&server, &token).await?;
        let ping = app_ping(8, 50);
        let parts: Vec<&[u8]> = ping.chunks(10).collect();
        let mut first = wire(false, 0, TEXT, parts[0]);
        first.extend(wire(false, 0, CONTINUE, parts[1]));
        first.extend(wire(true, 0, PING, b"pongme 1!"));
        peer.send_raw(&first, chunk).await?;
        peer.expect(Got::Pong(b"pongme 1!".to_vec()), case).await;
        let mut second = wire(false, 0, CONTINUE, parts[2]);
        second.extend(wire(false, 0, CONTINUE, parts[3]));
        second.extend(wire(true, 0, PING, b"pongme 2!"));
        second.extend(wire(true, 0, CONTINUE, parts[4]));
        peer.send_raw(&second, chunk).await?;
        peer.expect(Got::Pong(b"pongme 2!".to_vec()), case).await;
        peer.expect(pong(8), case).await;
    }
    Ok(())
}

/// The server's side of 5: a long message goes out whole, as one final
/// frame (written from the queued frames' own bytes, not through a buffer
/// that would keep its size). Read off the socket, under the client
/// library, which would reassemble fragments unseen.
#[tokio::test]
async fn fragmentation_5_a_long_server_message_is_one_frame() -> anyhow::Result<()> {
    let server = TestServer::spawn().await?;
    let [ann, bob] = register_all(&server, ["frag_ann", "frag_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let text = "é".repeat(500);
    for i in 0..30 {
        ws.send_and_ack(dm, &format!("m{i}"), &text).await?;
    }
    let mut peer = Peer::open(&server, &bob.token).await?;
    let sync = format!(r#"{{"type":"sync","conversation_id":{},"after_seq":0}}"#, dm.0);
    peer.send(true, TEXT, sync.as_bytes()).await?;

    let (fin, opcode, payload) = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(peer.tcp())).await??;
        // A heartbeat may come first.
        if frame.1 != 0x9 {
            break frame;
        }
    };
    assert!(
        fin && opcode == 0x1,
        "a whole text frame, not a fragment ({fin}, {opcode})"
    );
    assert!(payload.len() > 30_000, "{} bytes", payload.len());
    match serde_json::from_slice(&payload)? {
        ServerFrame::Events { events, .. } => {
            assert_eq!(events.len(), 30);
            assert!(events.iter().all(|e| matches!(&e.body,
                natter_common::events::EventBody::Message {
                    content: natter_common::events::MessageContent::Text { text: t }, ..
                } if *t == text)));
        }
        other => panic!("expected the sync's events, got {other:?}"),
    }
    Ok(())
}

/// One unmasked frame off the wire: its fin bit, opcode and payload.
async fn read_frame(tcp: &mut (impl tokio::io::AsyncRead + Unpin)) -> anyhow::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await?;
    anyhow::ensure!(head[1] & 0x80 == 0, "a server frame is never masked");
    let len = match head[1] & 0x7f {
        126 => u64::from(tcp.read_u16().await?),
        127 => tcp.read_u64().await?,
        short => u64::from(short),
    };
    let mut payload = vec![0; usize::try_from(len)?];
    tcp.read_exact(&mut payload).await?;
    Ok((head[0] & 0x80 != 0, head[0] & 0x0f, payload))
}

#[tokio::test]
async fn utf8_6_valid_text_arrives_and_invalid_text_closes_with_1007() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let hello = "κόσμε".as_bytes();

    // 6.1: empty fragments around a message.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(false, TEXT, b"").await?;
    peer.send(false, CONTINUE, b"").await?;
    peer.send(true, CONTINUE, &app_ping(1, 25)).await?;
    peer.expect(pong(1), "6.1").await;

    // 6.2–6.5 and 6.6 onwards: valid UTF-8, whole and split at every byte
    // (through the middle of characters).
    let valid: [&[u8]; 7] = [
        hello,
        "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
        &[0x7f],                   // 6.7.4, the last 1-byte character
        &[0xdf, 0xbf],             // 6.7.5
        &[0xef, 0xbf, 0xbf],       // U+FFFF (6.11.x: noncharacters are valid)
        &[0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF, the last code point
        &[0xed, 0x9f, 0xbf],       // U+D7FF, just below the surrogates
    ];
    for (i, bytes) in valid.iter().enumerate() {
        let nonce = 100 + i as u64;
        let text = app_ping_with(nonce, bytes);
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, TEXT, &text).await?;
        peer.expect(pong(nonce), "6.2 whole").await;
        let mut split = Vec::new();
        for (j, byte) in text.iter().enumerate() {
            let opcode = if j == 0 { TEXT } else { CONTINUE };
            split.extend(wire(j + 1 == text.len(), 0, opcode, &[*byte]));
        }
        peer.send_raw(&split, usize::MAX).await?;
        peer.expect(pong(nonce), "6.2.4 a byte per fragment").await;
    }

    // 6.3 onwards: invalid UTF-8, whole, fragmented, and as the first
    // fragment of a message whose rest never comes (6.4, fail fast).
    let invalid: [&[u8]; 9] = [
        &[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80,
        ], // 6.3.1
        &[0x80],                         // 6.8, a lone continuation byte
        &[0xc0, 0xaf],                   // 6.9, overlong "/"
        &[0xe0, 0x80, 0xaf],             // 6.9.2
        &[0xed, 0xa0, 0x80],             // 6.18, a surrogate
        &[0xf4, 0x90, 0x80, 0x80],       // 6.14, beyond U+10FFFF
        &[0xf8, 0x88, 0x80, 0x80, 0x80], // 6.6.x, five bytes
        &[0xfe],                         // 6.12
        &[0xff],
    ];
    for bytes in invalid {
        let text = app_ping_with(9, bytes);
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, TEXT, &text).await?;
        peer.expect(Got::Closed(Some(1007)), &format!("6.3 whole {bytes:x?}"))
            .await;

        let mut peer = Peer::open(&server, &token).await?;
        let (head, tail) = text.split_at(text.len() - 3);
        peer.send(false, TEXT, head).await?;
        peer.send(true, CONTINUE, tail).await?;
        peer.expect(Got::Closed(Some(1007)), &format!("6.3 fragmented {bytes:x?}"))
            .await;

        let mut peer = Peer::open(&server, &token).await?;
        let mut first = app_ping_with(9, bytes);
        first.truncate(first.len() - 2);
        first.extend_from_slice(b"more");
        peer.send(false, TEXT, &first).await?;
        peer.expect(Got::Closed(Some(1007)), &format!("6.4 fail fast {bytes:x?}"))
            .await;
    }

    // 6.6.11-like: a message that ends in the middle of a character.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(false, TEXT, &app_ping(3, 25)).await?;
    peer.send(true, CONTINUE, &[0xce]).await?;
    peer.expect(Got::Closed(Some(1007)), "6.6 truncated").await;
    Ok(())
}

#[tokio::test]
async fn closing_7_is_answered_and_checked() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;

    // 7.1.1: a message, then a close: the answer comes, then the close.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(true, TEXT, &app_ping(1, 25)).await?;
    peer.send(true, CLOSE, &close_payload(1000, b"")).await?;
    peer.expect(pong(1), "7.1.1").await;
    peer.expect(Got::Closed(Some(1000)), "7.1.1").await;

    // 7.1.2–7.1.5: nothing after a close is answered: a second close, a
    // ping, a message, the rest of a fragmented message.
    for (case, after) in [
        ("7.1.2", wire(true, 0, CLOSE, &close_payload(1000, b""))),
        ("7.1.3", wire(true, 0, PING, b"after close")),
        ("7.1.4", wire(true, 0, TEXT, &app_ping(2, 25))),
        ("7.1.5", wire(true, 0, CONTINUE, b"fragment2")),
    ] {
        let mut peer = Peer::open(&server, &token).await?;
        let mut bytes = if case == "7.1.5" {
            wire(false, 0, TEXT, b"fragment1")
        } else {
            Vec::new()
        };
        bytes.extend(wire(true, 0, CLOSE, &close_payload(1000, b"")));
        bytes.extend(after);
        peer.send_raw(&bytes, usize::MAX).await?;
        peer.expect(Got::Closed(Some(1000)), case).await;
    }

    // 7.3.1: an empty close is answered with an empty one.
    let mut peer = Peer::open(&server, &token).await?;
    peer.send(true, CLOSE, b"").await?;
    peer.expect(Got::Closed(None), "7.3.1").await;

    // 7.3.3–7.3.5: a code, a code and a reason, a reason of the most that fits.
    for (case, reason) in [("7.3.3", &b""[..]), ("7.3.4", b"Hello World!"), ("7.3.5", &[b'*'; 123])] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, CLOSE, &close_payload(1000, reason)).await?;
        peer.expect(Got::Closed(Some(1000)), case).await;
    }

    // 7.3.2: a 1-byte payload; 7.3.6: a reason one byte too long; 7.5.1:
    // a reason that is not UTF-8.
    for (case, payload, code) in [
        ("7.3.2", vec![0x03], 1002),
        ("7.3.6", close_payload(1000, &[b'*'; 124]), 1002),
        (
            "7.5.1",
            close_payload(1000, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xed, 0xa0, 0x80]),
            1007,
        ),
    ] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, CLOSE, &payload).await?;
        peer.expect(Got::Closed(Some(code)), case).await;
    }

    // 7.7.1–7.7.13: valid codes are echoed.
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, CLOSE, &close_payload(code, b"")).await?;
        peer.expect(Got::Closed(Some(code)), &format!("7.7 {code}")).await;
    }

    // 7.9.1–7.9.9, 7.13.1–7.13.2: codes no endpoint may send fail it.
    for code in [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535] {
        let mut peer = Peer::open(&server, &token).await?;
        peer.send(true, CLOSE, &close_payload(code, b"")).await?;
        peer.expect(Got::Closed(Some(1002)), &format!("7.9 {code}")).await;
    }
    Ok(())
}

#[tokio::test]
async fn limits_10_and_oversized_frames_close_with_1009() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;

    // 10.1.1-like: a message in many small fragments.
    let mut peer = Peer::open(&server, &token).await?;
    let text = app_ping(10, 30_000);
    let mut bytes = Vec::new();
    for (i, part) in text.chunks(1_300).enumerate() {
        let opcode = if i == 0 { TEXT } else { CONTINUE };
        bytes.extend(wire((i + 1) * 1_300 >= text.len(), 0, opcode, part));
    }
    peer.send_raw(&bytes, 4_096).await?;
    peer.expect(pong(10), "10.1.1").await;

    // Only a header announcing 2 MiB: 1009 at once, before the payload.
    let mut peer = Peer::open(&server, &token).await?;
    let mut header = vec![0x81, 0xFF];
    header.extend_from_slice(&(2u64 * 1024 * 1024).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    peer.send_raw(&header, usize::MAX).await?;
    peer.expect(Got::Closed(Some(1009)), "header over 1 MiB").await;

    // The header and all its payload, the server cutting in while the
    // client still writes: it reads and drops the rest while it hangs up
    // (a reset would fail the client's writes, and on a slow link lose the
    // close frame still on its way), so the client writes it all and then
    // reads why.
    let mut peer = Peer::open(&server, &token).await?;
    let mut bytes = header.clone();
    bytes.resize(header.len() + 2 * 1024 * 1024, b' ');
    assert!(
        peer.send_raw(&bytes, 64 * 1024).await?,
        "the server reset the connection"
    );
    peer.expect(Got::Closed(Some(1009)), "header over 1 MiB, its payload following")
        .await;

    // Fragments that add up to more than 1 MiB: 1009 too.
    let mut peer = Peer::open(&server, &token).await?;
    let part = vec![b' '; 256 * 1024];
    peer.send(false, TEXT, &part).await?;
    for _ in 0..4 {
        peer.send(false, CONTINUE, &part).await?;
    }
    peer.expect(Got::Closed(Some(1009)), "message over 1 MiB").await;

    // The server goes on serving.
    let mut after = WsClient::connect(&server, &token).await?;
    assert_eq!(after.ping(3).await?, 3);
    Ok(())
}

#[tokio::test]
async fn a_handshake_for_another_version_is_told_which_one_we_speak() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let head = handshake_head(&server, &token, "dGhlIHNhbXBsZSBub25jZQ==", 8).await?;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    // RFC 6455 §4.4: the versions the server speaks.
    assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
    Ok(())
}

/// RFC 6455 §4.2.1: the key is 16 random bytes in base64; anything else is
/// no handshake. The RFC's own example key is one.
#[tokio::test]
async fn a_handshake_key_must_be_a_16_byte_nonce() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    for key in ["", "short", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZSBsb25nZXI="] {
        let head = handshake_head(&server, &token, key, 13).await?;
        assert!(head.starts_with("http/1.1 400"), "{key:?}: {head}");
    }
    let head = handshake_head(&server, &token, "dGhlIHNhbXBsZSBub25jZQ==", 13).await?;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    Ok(())
}

/// A handshake written by hand, and the head of the answer (lowercased).
async fn handshake_head(server: &TestServer, token: &str, key: &str, version: u32) -> anyhow::Result<String> {
    let addr = server.url.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "closed before answering");
        response.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&response).to_ascii_lowercase())
}

/// A client may send its first frame in the same write as its handshake;
/// the server reads it after the hello, not lost in the upgrade's buffer.
#[tokio::test]
async fn a_frame_sent_right_behind_the_handshake_is_read() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let addr = server.url.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    )
    .into_bytes();
    request.extend(wire(true, 0, PING, b"early"));
    tcp.write_all(&request).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "closed before answering");
        response.extend_from_slice(&buf[..n]);
    };
    assert!(
        response.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    // What came with the head is the start of the frames.
    let mut frames = AsyncReadExt::chain(&response[end..], tcp);
    let (_, opcode, hello) = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut frames)).await??;
    assert!(opcode == 0x1 && String::from_utf8_lossy(&hello).contains("\"hello\""));
    let (_, opcode, payload) = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut frames)).await??;
    assert_eq!(
        (opcode, payload.as_slice()),
        (0xA, &b"early"[..]),
        "the early ping is answered"
    );
    Ok(())
}

/// The WebSocket the library's own client would build still works end to
/// end, so the cases above fail for the reasons they name.
#[tokio::test]
async fn a_well_behaved_client_closes_cleanly() -> anyhow::Result<()> {
    let (server, token) = server_and_token().await?;
    let mut peer = Peer::open(&server, &token).await?;
    peer.stream
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            },
        )))
        .await?;
    assert!(matches!(
        peer.stream.next().await,
        Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Normal
    ));
    Ok(())
}
