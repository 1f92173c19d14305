//! Stand-ins around the kiosk: a network thermal printer that answers `DLE EOT` as told and
//! keeps every byte it gets, and an HTTP proxy that loses the server's replies on purpose.
//!
//! Both are plain threads on blocking sockets, so a kiosk under test (blocking too) can be
//! driven from an ordinary `#[test]`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest HTTP head or body the proxy reads (issue requests and replies are < 2 KiB).
const MAX_HTTP: usize = 1 << 20;
/// How long the stand-ins wait on a silent peer before giving up on it.
const IDLE: Duration = Duration::from_secs(30);

/// Accepts connections on a thread until dropped.
struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn start(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = Arc::new(handle);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(IDLE));
                let _ = stream.set_write_timeout(Some(IDLE));
                let handle = handle.clone();
                std::thread::spawn(move || handle(stream));
            }
        });
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A network printer on `127.0.0.1`: at the start of each connection it answers every
/// `DLE EOT n` (1 ≤ n ≤ 4) with the status byte it is set to (or stays silent), then keeps
/// whatever follows. Like a real one, it treats bytes after the first other byte as job data.
pub struct FakePrinter {
    acceptor: Acceptor,
    received: Arc<Mutex<Vec<u8>>>,
    answers: Arc<Mutex<Option<[u8; 4]>>>,
    connections: Arc<AtomicUsize>,
}

impl FakePrinter {
    /// A printer that answers `answers` (as from `luot_kiosk::escpos::status_answers`), or
    /// never answers status with `None`.
    pub fn start(answers: Option<[u8; 4]>) -> FakePrinter {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers));
        let connections = Arc::new(AtomicUsize::new(0));
        let (r, a, c) = (received.clone(), answers.clone(), connections.clone());
        let acceptor = Acceptor::start(move |stream| {
            c.fetch_add(1, Ordering::SeqCst);
            serve_printer(stream, &r, &a);
        });
        FakePrinter {
            acceptor,
            received,
            answers,
            connections,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.acceptor.addr.port()
    }

    /// `tcp:127.0.0.1:PORT`.
    pub fn target(&self) -> String {
        format!("tcp:{}", self.acceptor.addr)
    }

    /// Changes what it answers from the next request on.
    pub fn set_answers(&self, answers: Option<[u8; 4]>) {
        *self.answers.lock().expect("lock") = answers;
    }

    /// Every byte received so far, status requests included.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().expect("lock").clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve_printer(
    mut stream: TcpStream,
    received: &Mutex<Vec<u8>>,
    answers: &Mutex<Option<[u8; 4]>>,
) {
    let mut buf = [0u8; 16 * 1024];
    // Bytes of an unfinished DLE EOT n at the end of the last read.
    let mut pending: Vec<u8> = Vec::new();
    let mut in_job = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        received.lock().expect("lock").extend_from_slice(&buf[..n]);
        if in_job {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut i = 0;
        while i < pending.len() {
            if pending[i] != 0x10 {
                in_job = true;
                break;
            }
            if pending.len() < i + 3 {
                break;
            }
            let request = pending[i + 2];
            if pending[i + 1] == 0x04
                && (1..=4).contains(&request)
                && let Some(answers) = *answers.lock().expect("lock")
            {
                let _ = stream.write_all(&[answers[usize::from(request) - 1]]);
            }
            i += 3;
        }
        pending.drain(..i.min(pending.len()));
        if in_job {
            pending.clear();
        }
    }
}

/// What the proxy does with the replies it loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Closes the client's connection at once, without a byte of the reply.
    Drop,
    /// Keeps the client's connection open and silent until the client gives up on it.
    Hold,
}

/// An HTTP/1.1 proxy in front of the server that forwards the first `lose` requests whole,
/// waits for the server's whole reply (so the server has acted), and then loses that reply;
/// later connections are forwarded both ways untouched.
pub struct LossyProxy {
    acceptor: Acceptor,
    lost: Arc<AtomicUsize>,
    to_lose: Arc<AtomicUsize>,
}

impl LossyProxy {
    /// A proxy to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str, lose: usize, loss: Loss) -> LossyProxy {
        let upstream: SocketAddr = upstream.parse().expect("upstream is IP:port");
        let to_lose = Arc::new(AtomicUsize::new(lose));
        let left = to_lose.clone();
        let lost = Arc::new(AtomicUsize::new(0));
        let counted = lost.clone();
        let acceptor = Acceptor::start(move |client| {
            let take = to_lose
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if take {
                if lose_reply(client, upstream, loss).is_some() {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            } else {
                forward(client, upstream);
            }
        });
        LossyProxy {
            acceptor,
            lost,
            to_lose: left,
        }
    }

    /// From now on, forwards every reply.
    pub fn stop_losing(&self) {
        self.to_lose.store(0, Ordering::SeqCst);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.acceptor.addr)
    }

    /// Replies lost so far (each after the server had answered in full).
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

/// Reads one HTTP message (head and a `Content-Length` body) from `stream`.
fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = message.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if message.len() > MAX_HTTP {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        message.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&message[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if length > MAX_HTTP {
        return None;
    }
    while message.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        message.extend_from_slice(&buf[..n]);
    }
    Some(message)
}

fn lose_reply(mut client: TcpStream, upstream: SocketAddr, loss: Loss) -> Option<()> {
    let request = read_message(&mut client)?;
    let mut server = TcpStream::connect_timeout(&upstream, IDLE).ok()?;
    server.set_read_timeout(Some(IDLE)).ok()?;
    server.write_all(&request).ok()?;
    read_message(&mut server)?;
    if loss == Loss::Hold {
        // Until the client times out and closes its end.
        let mut sink = [0u8; 1024];
        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
    }
    let _ = client.shutdown(Shutdown::Both);
    Some(())
}

fn forward(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect_timeout(&upstream, IDLE) else {
        return;
    };
    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let mut client = client;
        let mut server = server;
        let _ = std::io::copy(&mut client, &mut server);
        let _ = server.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut s2, &mut c2);
    let _ = c2.shutdown(Shutdown::Write);
    let _ = up.join();
}
