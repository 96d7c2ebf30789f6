//! WebSockets to a guest: the graphical console (the VNC byte stream,
//! relayed as binary messages for noVNC) and the serial console (a libvirt
//! console stream, relayed for xterm.js).

use std::os::fd::OwnedFd;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::virt::display::DisplayConn;

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

fn async_socket(fd: OwnedFd) -> std::io::Result<Box<dyn Duplex>> {
    // libvirt hands over one end of a Unix socket pair; a port gives TCP.
    // Both are stream sockets: tokio's UnixStream reads and writes either.
    let std = std::os::unix::net::UnixStream::from(fd);
    std.set_nonblocking(true)?;
    Ok(Box::new(tokio::net::UnixStream::from_std(std)?))
}

/// Relays bytes between the browser's noVNC and the guest's VNC server
/// until either side closes.
pub async fn vnc(mut ws: WebSocket, conn: DisplayConn) {
    let mut sock = match async_socket(conn.into_owned_fd()) {
        Ok(s) => s,
        Err(e) => {
            let _ = ws
                .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1011,
                    reason: format!("display socket: {e}").into(),
                })))
                .await;
            return;
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = sock.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => if ws.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break },
            },
            m = ws.recv() => match m {
                Some(Ok(Message::Binary(b))) => if sock.write_all(&b).await.is_err() { break },
                Some(Ok(Message::Text(t))) => if sock.write_all(t.as_bytes()).await.is_err() { break },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
        }
    }
    let _ = sock.shutdown().await;
}

/// Relays a libvirt console stream: guest output to the page, keys from
/// the page to the guest (dropped when `read_only`).
pub async fn serial(mut ws: WebSocket, stream: virt::stream::Stream, read_only: bool) {
    let stream = Arc::new(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let reader = Arc::clone(&stream);
    // libvirt's stream reads block: one thread per console.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match reader.recv(&mut buf) {
                Ok(n) if n > 0 => {
                    if tx.blocking_send(buf[..n as usize].to_vec()).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(b) => if ws.send(Message::Binary(b.into())).await.is_err() { break },
                None => {
                    let _ = ws.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1000,
                        reason: "the console closed".into(),
                    }))).await;
                    break;
                }
            },
            m = ws.recv() => {
                let bytes: Vec<u8> = match m {
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    _ => break,
                };
                if read_only {
                    continue;
                }
                let w = Arc::clone(&stream);
                let sent = tokio::task::spawn_blocking(move || w.send(&bytes).map(|_| ())).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
        }
    }
    // Unblock the reading thread: abort the stream.
    let s = (*stream).clone();
    let _ = tokio::task::spawn_blocking(move || s.abort()).await;
}
