//! Where tickets go: a USB printer's device file, a network printer on TCP (port 9100), or a
//! plain file. Every wait is bounded, so a stalled printer never hangs the kiosk; where the
//! printer answers `DLE EOT` its status is read before a job and a job is not sent into a
//! printer without paper or with its cover open.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::dispense::{PrinterProblem, PrinterStatus};
use crate::escpos::{STATUS_REQUESTS, parse_status};

/// Port of raw network printing ("JetDirect"), when a `tcp:` target names none.
pub const DEFAULT_PORT: u16 = 9100;

/// A printer target as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `usb:/dev/usb/lp0`: the kernel's USB printer device file.
    Usb(PathBuf),
    /// `tcp:HOST:PORT` (port defaults to 9100).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// `file:PATH`: each job is appended to the file (for debugging and tests).
    File(PathBuf),
}

/// Why a target string is not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No `kind:` prefix.
    #[error("a printer is `usb:/dev/usb/lp0`, `tcp:HOST:9100` or `file:PATH`; got {0:?}")]
    NoKind(String),
    /// A prefix other than usb, tcp, file.
    #[error("unknown printer kind {0:?}: use usb:, tcp: or file:")]
    UnknownKind(String),
    /// Nothing after the prefix.
    #[error("`{0}:` needs a path or an address after it")]
    Empty(&'static str),
    /// The port is not a number from 1 to 65535.
    #[error("bad port {0:?} in a tcp: printer (a number from 1 to 65535)")]
    BadPort(String),
    /// An IPv6 address without its closing bracket.
    #[error("bad address {0:?}: write IPv6 addresses as [::1]:9100")]
    BadHost(String),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        let Some((kind, rest)) = s.split_once(':') else {
            return Err(TargetError::NoKind(s.to_owned()));
        };
        match kind {
            "usb" if rest.is_empty() => Err(TargetError::Empty("usb")),
            "usb" => Ok(Target::Usb(PathBuf::from(rest))),
            "file" if rest.is_empty() => Err(TargetError::Empty("file")),
            "file" => Ok(Target::File(PathBuf::from(rest))),
            "tcp" => parse_tcp(rest),
            other => Err(TargetError::UnknownKind(other.to_owned())),
        }
    }
}

fn parse_tcp(rest: &str) -> Result<Target, TargetError> {
    if rest.is_empty() {
        return Err(TargetError::Empty("tcp"));
    }
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(TargetError::BadPort(p.to_owned())),
    };
    if let Some(v6) = rest.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(TargetError::BadHost(rest.to_owned()));
        };
        let port = match after {
            "" => DEFAULT_PORT,
            _ => match after.strip_prefix(':') {
                Some(p) => port(p)?,
                None => return Err(TargetError::BadHost(rest.to_owned())),
            },
        };
        return Ok(Target::Tcp {
            host: host.to_owned(),
            port,
        });
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, p)) => (host, port(p)?),
        None => (rest, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(TargetError::Empty("tcp"));
    }
    Ok(Target::Tcp {
        host: host.to_owned(),
        port,
    })
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Usb(p) => write!(f, "usb:{}", p.display()),
            Target::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Target::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// How long each step with a printer may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a TCP connection.
    pub connect: Duration,
    /// Waiting for the status answers.
    pub status: Duration,
    /// Writing a whole job (a ticket is ~100 KB; printers drain it as they print).
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            status: Duration::from_millis(800),
            write: Duration::from_secs(15),
        }
    }
}

/// A printer: a target and its timeouts.
#[derive(Debug, Clone)]
pub struct Printer {
    target: Target,
    timeouts: Timeouts,
    /// Set once the printer stayed silent to a status request: jobs then go without asking
    /// first (asking would cost the whole status wait on every ticket). [`Printer::status`]
    /// still asks, and clears it when an answer comes.
    silent: Arc<AtomicBool>,
}

/// A connection to the printer for one status query or one job.
enum Link {
    Tcp(TcpStream),
    /// A device or file opened non-blocking: a USB printer that stops taking data (paper out
    /// on a printer that does not answer status) would block a plain write forever.
    Device(std::fs::File),
}

/// How long to wait before trying a device that said "not now" again.
const DEVICE_RETRY: Duration = Duration::from_millis(2);

impl Printer {
    /// A printer at `target` with the default timeouts.
    pub fn new(target: Target) -> Printer {
        Printer {
            target,
            timeouts: Timeouts::default(),
            silent: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same printer with other timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Printer {
        self.timeouts = timeouts;
        self
    }

    /// Where it prints.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn open(&self) -> Result<Link, PrinterProblem> {
        match &self.target {
            Target::Tcp { host, port } => {
                let addrs: Vec<SocketAddr> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| offline(format!("cannot resolve {host}: {e}")))?
                    .collect();
                let mut last = None;
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, self.timeouts.connect) {
                        Ok(stream) => {
                            stream
                                .set_write_timeout(Some(self.timeouts.write))
                                .and_then(|()| stream.set_nodelay(true))
                                .map_err(|e| offline(format!("{}: {e}", self.target)))?;
                            return Ok(Link::Tcp(stream));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(offline(match last {
                    Some(e) => format!("cannot connect to {}: {e}", self.target),
                    None => format!("{host} has no address"),
                }))
            }
            Target::Usb(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(path)
                    .or_else(|_| {
                        // Some devices are write-only: print without status then.
                        std::fs::OpenOptions::new()
                            .write(true)
                            .custom_flags(libc::O_NONBLOCK)
                            .open(path)
                    })
                    .map(Link::Device)
                    .map_err(|e| offline(format!("cannot open {}: {e}", path.display())))
            }
            Target::File(path) => std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map(Link::Device)
                .map_err(|e| offline(format!("cannot open {}: {e}", path.display()))),
        }
    }

    /// Asks the printer how it is. `file:` never answers; a USB printer answers when its
    /// device reads back; a network printer that takes the connection but stays silent is
    /// taken as one that does not answer status.
    pub fn status(&self) -> PrinterStatus {
        if matches!(self.target, Target::File(_)) {
            return PrinterStatus::default();
        }
        match self.open() {
            Ok(mut link) => self.query(&mut link),
            Err(problem) => PrinterStatus {
                problem: Some(problem),
                paper_low: false,
                answers_status: false,
            },
        }
    }

    fn query(&self, link: &mut Link) -> PrinterStatus {
        if matches!(self.target, Target::File(_)) {
            return PrinterStatus::default();
        }
        let deadline = Instant::now() + self.timeouts.status;
        if let Err(problem) = self.write_all(link, &STATUS_REQUESTS, deadline) {
            return PrinterStatus {
                problem: Some(problem),
                paper_low: false,
                answers_status: false,
            };
        }
        match read_exact_until(link, deadline) {
            Ok(Some(answers)) => {
                self.silent.store(false, Ordering::Relaxed);
                parse_status(answers)
            }
            Ok(None) => {
                self.silent.store(true, Ordering::Relaxed);
                PrinterStatus::default()
            }
            Err(problem) => PrinterStatus {
                problem: Some(problem),
                paper_low: false,
                answers_status: false,
            },
        }
    }

    /// Prints one job: checks the status where the printer answers it and refuses to send
    /// into a printer that reports a problem, then writes every byte within the write
    /// timeout. Returns the status seen before the job (the default, "does not answer", for
    /// a printer that stayed silent before).
    ///
    /// # Errors
    ///
    /// The printer's problem: paper out, cover open, an error, or off-line (cannot connect,
    /// cannot write, too slow).
    pub fn print(&self, job: &[u8]) -> Result<PrinterStatus, PrinterProblem> {
        let mut link = self.open()?;
        let status = if self.silent.load(Ordering::Relaxed) {
            PrinterStatus::default()
        } else {
            self.query(&mut link)
        };
        if let Some(problem) = status.problem.clone() {
            return Err(problem);
        }
        let deadline = Instant::now() + self.timeouts.write;
        self.write_all(&mut link, job, deadline)?;
        if let Link::Tcp(stream) = &link {
            // Everything is queued in the socket; half-close so the printer sees the end.
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        Ok(status)
    }

    fn write_all(
        &self,
        link: &mut Link,
        mut bytes: &[u8],
        deadline: Instant,
    ) -> Result<(), PrinterProblem> {
        while !bytes.is_empty() {
            if Instant::now() >= deadline {
                return Err(offline(format!(
                    "{} took more than {:?} to take the job",
                    self.target, self.timeouts.write
                )));
            }
            let written = match link {
                Link::Tcp(stream) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    stream
                        .set_write_timeout(Some(left.max(Duration::from_millis(1))))
                        .map_err(|e| offline(e.to_string()))?;
                    stream.write(bytes)
                }
                Link::Device(file) => file.write(bytes),
            };
            match written {
                Ok(0) => return Err(offline(format!("{} stopped taking data", self.target))),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    if matches!(link, Link::Device(_)) {
                        // A non-blocking device has no way to wait for room but to try again.
                        std::thread::sleep(DEVICE_RETRY);
                    }
                }
                Err(e) => return Err(offline(format!("cannot write to {}: {e}", self.target))),
            }
        }
        if let Link::Device(file) = link {
            file.flush()
                .map_err(|e| offline(format!("cannot write to {}: {e}", self.target)))?;
        }
        Ok(())
    }
}

/// Reads the four status answers by `deadline`; `None` when the printer stays silent (or
/// closes) before all four came.
fn read_exact_until(link: &mut Link, deadline: Instant) -> Result<Option<[u8; 4]>, PrinterProblem> {
    let mut answers = [0u8; 4];
    let mut got = 0;
    while got < answers.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let read = match link {
            Link::Tcp(stream) => {
                stream
                    .set_read_timeout(Some(left))
                    .map_err(|e| offline(e.to_string()))?;
                stream.read(&mut answers[got..])
            }
            Link::Device(file) => file.read(&mut answers[got..]),
        };
        match read {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                if matches!(link, Link::Device(_)) {
                    std::thread::sleep(DEVICE_RETRY);
                }
            }
            // A device that cannot be read (write-only, or a driver without read-back)
            // simply does not answer status.
            Err(_) if matches!(link, Link::Device(_)) => return Ok(None),
            Err(e) => return Err(offline(format!("status read failed: {e}"))),
        }
    }
    Ok(Some(answers))
}

fn offline(message: String) -> PrinterProblem {
    PrinterProblem::Offline(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Targets parse from their three forms, with the default port and IPv6.
    #[test]
    fn targets_parse() {
        assert_eq!(
            "usb:/dev/usb/lp0".parse(),
            Ok(Target::Usb("/dev/usb/lp0".into()))
        );
        assert_eq!(
            "tcp:192.168.1.50:9100".parse(),
            Ok(Target::Tcp {
                host: "192.168.1.50".into(),
                port: 9100
            })
        );
        assert_eq!(
            "tcp:printer.local".parse(),
            Ok(Target::Tcp {
                host: "printer.local".into(),
                port: DEFAULT_PORT
            })
        );
        assert_eq!(
            "tcp:[::1]:9101".parse(),
            Ok(Target::Tcp {
                host: "::1".into(),
                port: 9101
            })
        );
        assert_eq!(
            "file:/tmp/t.bin".parse(),
            Ok(Target::File("/tmp/t.bin".into()))
        );
        for s in [
            "usb:/dev/usb/lp0",
            "tcp:10.0.0.2:9100",
            "tcp:[::1]:9100",
            "file:x",
        ] {
            assert_eq!(s.parse::<Target>().unwrap().to_string(), s);
        }
    }

    /// Bad targets are refused with an error that says what is wrong.
    #[test]
    fn target_errors() {
        assert_eq!(
            "/dev/usb/lp0".parse::<Target>(),
            Err(TargetError::NoKind("/dev/usb/lp0".into()))
        );
        assert_eq!(
            "lpt:1".parse::<Target>(),
            Err(TargetError::UnknownKind("lpt".into()))
        );
        assert_eq!("usb:".parse::<Target>(), Err(TargetError::Empty("usb")));
        assert_eq!("file:".parse::<Target>(), Err(TargetError::Empty("file")));
        assert_eq!("tcp:".parse::<Target>(), Err(TargetError::Empty("tcp")));
        assert_eq!(
            "tcp::9100".parse::<Target>(),
            Err(TargetError::Empty("tcp"))
        );
        assert_eq!(
            "tcp:host:99999".parse::<Target>(),
            Err(TargetError::BadPort("99999".into()))
        );
        assert_eq!(
            "tcp:host:0".parse::<Target>(),
            Err(TargetError::BadPort("0".into()))
        );
        assert_eq!(
            "tcp:[::1".parse::<Target>(),
            Err(TargetError::BadHost("[::1".into()))
        );
        let message = "tcp:host:abc".parse::<Target>().unwrap_err().to_string();
        assert!(message.contains("\"abc\""), "{message}");
    }

    /// A file target appends each job and never claims to answer status.
    #[test]
    fn file_target_appends_without_status() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let printer = Printer::new(Target::File(path.clone()));
        assert_eq!(printer.status(), PrinterStatus::default());
        printer.print(b"\x1b@").unwrap();
        printer.print(b"\x1b@").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\x1b@\x1b@");
    }

    /// A USB target that is a plain file (a device without read-back) prints and reports
    /// that it does not answer status; a missing device is off-line.
    #[test]
    fn usb_without_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lp0");
        std::fs::write(&path, b"").unwrap();
        let printer = Printer::new(Target::Usb(path.clone()));
        let status = printer.print(b"job").unwrap();
        assert!(!status.answers_status);
        // The status requests went out before the job.
        assert_eq!(std::fs::read(&path).unwrap()[12..], *b"job");
        let missing = Printer::new(Target::Usb(dir.path().join("lp9")));
        assert!(matches!(
            missing.print(b"job"),
            Err(PrinterProblem::Offline(_))
        ));
    }

    /// A network printer that accepts but never answers status nor reads does not hang the
    /// caller: the status wait and the write are bounded.
    #[test]
    fn stalled_tcp_printer_is_bounded() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Keeps the accepted socket open without reading, so the kernel buffers fill.
        let holder = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let (socket2, _) = listener.accept().unwrap();
            (socket, socket2)
        });
        let printer = Printer::new(Target::Tcp {
            host: "127.0.0.1".into(),
            port,
        })
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(2),
            status: Duration::from_millis(100),
            write: Duration::from_millis(300),
        });
        let status = printer.status();
        assert_eq!(status, PrinterStatus::default(), "silent means no status");
        assert!(printer.silent.load(Ordering::Relaxed), "and is remembered");
        let started = Instant::now();
        let job = vec![0u8; 64 << 20];
        let result = printer.print(&job);
        assert!(matches!(result, Err(PrinterProblem::Offline(m)) if m.contains("took more than")));
        // The write bound alone, no second status wait: the printer was known to be silent.
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(holder.join().unwrap());
    }
}
