//! hyper answers some requests itself, before the router sees them: a head
//! it cannot parse (400), too many headers (431), a URI too long (414). Its
//! answers are bodiless and close the connection; this writer adds to them
//! the security headers the router puts on every other response.

use std::{
    io,
    pin::Pin,
    sync::LazyLock,
    task::{ready, Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::security;

/// What hyper's own answers lack, ready to splice in after the status line.
static HEADERS: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut headers = b"content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n".to_vec();
    for (name, value) in security::FIXED {
        headers.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    headers
});

/// hyper's own answers are one write of a head this short.
const MAX_ANSWER: usize = 256;

/// A connection whose writes pass through, but for hyper's own answers.
pub struct Amended<IO> {
    io: IO,
    /// An amended answer being written, and the length of the original it
    /// stands for (what the caller is told was written once all of it is).
    pending: Option<(Vec<u8>, usize)>,
}

impl<IO> Amended<IO> {
    pub fn new(io: IO) -> Self {
        Self { io, pending: None }
    }

    pub fn into_inner(self) -> IO {
        self.io
    }
}

/// `head` with the security headers, if it is one of hyper's own answers:
/// an error status followed by exactly the headers hyper writes for it. The
/// router's responses always carry headers of their own, so never match.
fn amend(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > MAX_ANSWER || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let status_line = head.strip_prefix(b"HTTP/1.1 ")?;
    if !matches!(status_line.first(), Some(b'4' | b'5')) {
        return None;
    }
    let end_of_status = head.windows(2).position(|w| w == b"\r\n")? + 2;
    let rest = &head[end_of_status..];
    // Those three lines and the blank one, nothing else.
    let line_ends = rest.windows(2).filter(|w| *w == b"\r\n").count();
    if !rest.starts_with(b"connection: close\r\ncontent-length: 0\r\ndate: ") || line_ends != 4 {
        return None;
    }
    let mut amended = Vec::with_capacity(head.len() + HEADERS.len());
    amended.extend_from_slice(&head[..end_of_status]);
    amended.extend_from_slice(&HEADERS);
    amended.extend_from_slice(rest);
    Some(amended)
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Amended<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match amend(buf) {
                Some(amended) => this.pending = Some((amended, buf.len())),
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        let (amended, stands_for) = this.pending.as_mut().expect("set above");
        while !amended.is_empty() {
            match ready!(Pin::new(&mut this.io).poll_write(cx, amended)) {
                Ok(0) => return Poll::Ready(Ok(0)),
                Ok(n) => {
                    amended.drain(..n);
                }
                Err(err) => {
                    this.pending = None;
                    return Poll::Ready(Err(err));
                }
            }
        }
        let written = *stands_for;
        this.pending = None;
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper writes a bodiless head as one slice.
        match bufs {
            [head] if self.pending.is_some() || head.starts_with(b"HTTP/1.1 ") => self.poll_write(cx, head),
            _ => Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Amended<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Wed, 02 Dec 2026 01:32:05 GMT\r\n\r\n";

    #[test]
    fn hypers_own_answers_get_the_headers() {
        for status in [
            "400 Bad Request",
            "431 Request Header Fields Too Large",
            "414 URI Too Long",
        ] {
            let head = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}");
            let amended = String::from_utf8(amend(head.as_bytes()).expect("amended")).unwrap();
            assert!(amended.starts_with(&format!("HTTP/1.1 {status}\r\ncontent-security-policy: ")));
            assert!(amended.contains("\r\nx-content-type-options: nosniff\r\n"));
            assert!(amended.ends_with(&format!("\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}")));
        }
    }

    #[test]
    fn everything_else_passes_untouched() {
        for other in [
            format!("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}"),
            format!(
                "HTTP/1.1 400 Bad Request\r\nx-frame-options: DENY\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}"
            ),
            format!("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}body"),
            format!("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\nx-a: b\r\n{DATE}"),
            "\u{81}\u{5}hello".to_owned(),
        ] {
            assert_eq!(amend(other.as_bytes()), None, "{other}");
        }
    }
}
