//! Text messages written straight to the TCP stream, each as one frame
//! whose payload is gathered from the queued frames' own bytes (`writev`).
//! Through tungstenite every message was copied into its write buffer,
//! which grows to the largest message written and never shrinks, so a
//! burst left every connection holding that room for the rest of its life.
//! Only control frames (pings, pongs, closes) still go through the library,
//! which is flushed before a message is written here, so nothing it queued
//! (a pong) is overtaken.

use std::io::{self, IoSlice};

use tokio::{io::AsyncWriteExt, net::TcpStream};

/// The head of an unmasked, final text frame with `len` bytes of payload
/// (RFC 6455 §5.2).
fn head(len: usize, into: &mut [u8; 10]) -> &[u8] {
    into[0] = 0x81;
    match len {
        0..=125 => {
            into[1] = len as u8;
            &into[..2]
        }
        126..=0xffff => {
            into[1] = 126;
            into[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            &into[..4]
        }
        _ => {
            into[1] = 127;
            into[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            &into[..10]
        }
    }
}

/// Writes one text message made of `pieces`, in order, as one frame.
pub async fn text(tcp: &mut TcpStream, pieces: &[&str]) -> io::Result<()> {
    let len = pieces.iter().map(|piece| piece.len()).sum();
    let mut buf = [0; 10];
    let mut slices: Vec<IoSlice<'_>> = std::iter::once(head(len, &mut buf))
        .chain(pieces.iter().map(|piece| piece.as_bytes()))
        .filter(|piece| !piece.is_empty())
        .map(IoSlice::new)
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match tcp.write_vectored(rest).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            written => IoSlice::advance_slices(&mut rest, written),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncReadExt, net::TcpListener};

    use super::*;

    #[test]
    fn lengths_take_the_shortest_form() {
        let mut buf = [0; 10];
        assert_eq!(head(0, &mut buf), [0x81, 0]);
        assert_eq!(head(125, &mut buf), [0x81, 125]);
        assert_eq!(head(126, &mut buf), [0x81, 126, 0, 126]);
        assert_eq!(head(0xffff, &mut buf), [0x81, 126, 0xff, 0xff]);
        assert_eq!(head(0x1_0000, &mut buf), [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[tokio::test]
    async fn a_message_of_many_pieces_arrives_as_one_frame() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        // More pieces than one writev takes (1 024), and more bytes than
        // the socket buffers hold, so writes come back partial.
        let piece = "ab".repeat(300);
        let pieces: Vec<&str> = (0..3000).map(|_| piece.as_str()).chain(["", "!"]).collect();
        let reader = tokio::spawn(async move {
            let mut head = [0; 10];
            client.read_exact(&mut head).await.unwrap();
            let len = u64::from_be_bytes(head[2..].try_into().unwrap());
            let mut payload = vec![0; len as usize];
            client.read_exact(&mut payload).await.unwrap();
            (head[..2].to_vec(), payload)
        });
        text(&mut server, &pieces).await.unwrap();
        let (head, payload) = reader.await.unwrap();
        assert_eq!(head, [0x81, 127]);
        assert_eq!(payload, pieces.concat().as_bytes());
    }
}
