//! The end of a connection once a close frame is out: the server's own, or
//! its answer to the client's. RFC 6455 §7.1.1 has the server end TCP
//! first then; but a socket dropped with unread input makes the kernel
//! answer with a reset, which throws away whatever is still on its way to
//! the client, the close frame included, and the client sees its connection
//! fail instead of the code and reason. So the sending side is shut (a FIN
//! behind the close frame), and what the client still sends, its own close
//! frame with it, is read and dropped until it hangs up, for a bounded time
//! and number of bytes.

use std::time::Duration;

use natter_common::limits::WS_HARD_MAX_BYTES;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    time::timeout,
};

/// How long a client may take to hang up once closed.
const LINGER: Duration = Duration::from_secs(2);
/// The most read and dropped meanwhile: room for the rest of a frame
/// several times the largest one taken, which is what a client cut off
/// for sending one is likely still writing.
const LINGER_BYTES: usize = 4 * WS_HARD_MAX_BYTES;

/// Shuts the sending side of `tcp`, then reads until the client hangs up.
pub async fn linger(tcp: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    linger_within(tcp, LINGER, LINGER_BYTES).await;
}

async fn linger_within(tcp: &mut (impl AsyncRead + AsyncWrite + Unpin), wait: Duration, bytes: usize) {
    let mut scratch = [0u8; 4096];
    let mut left = bytes;
    let _ = timeout(wait, async {
        if tcp.shutdown().await.is_err() {
            return;
        }
        while let Ok(read @ 1..) = tcp.read(&mut scratch).await {
            left = match left.checked_sub(read) {
                Some(left) if left > 0 => left,
                _ => break,
            };
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A connected pair on loopback: (server's end, client's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_client_still_sending_gets_the_last_words_and_a_fin_not_a_reset() {
        let (mut server, mut client) = pair().await;
        // The client has sent what the server has not read.
        client.write_all(&[7; 64 * 1024]).await.unwrap();
        server.write_all(b"bye").await.unwrap();
        let lingering = tokio::spawn(async move { linger(&mut server).await });
        let mut got = Vec::new();
        // A reset would fail this read instead of ending it.
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        // The client can still answer, then hang up; the server lets go.
        client.write_all(b"bye too").await.unwrap();
        drop(client);
        lingering.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_never_hangs_up_is_let_go() {
        let (mut server, _client) = pair().await;
        linger_within(&mut server, Duration::from_millis(50), LINGER_BYTES).await;
    }

    #[tokio::test]
    async fn a_client_that_sends_without_end_is_let_go() {
        let (mut server, mut client) = pair().await;
        let endless = tokio::spawn(async move { while client.write_all(&[7; 4096]).await.is_ok() {} });
        linger_within(&mut server, Duration::from_secs(600), 256 * 1024).await;
        drop(server);
        endless.await.unwrap();
    }
}
