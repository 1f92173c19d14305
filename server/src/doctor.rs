//! `luot-server doctor`: checks what an installer gets wrong on the server's machine — the
//! time zone, the clock's synchronisation, free disk, the open-files limit, the port, the
//! center file and the data directory — and says what to fix, in Vietnamese and English.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use luot_shared::domain::CenterConfig;

use crate::data_format;

/// Open files the service should be allowed: each screen, kiosk and console is a socket.
pub const WANTED_OPEN_FILES: u64 = 65_536;
/// Below this, a few hundred screens already fail.
const TOO_FEW_OPEN_FILES: u64 = 8_192;
/// Free disk below which the data directory is reported (also below [`MIN_FREE_PERCENT`]).
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;
const MIN_FREE_PERCENT: u64 = 5;
/// The installed unit, read for the paths the service uses when no flag names them.
pub const UNIT_FILES: [&str; 2] = [
    "/usr/lib/systemd/system/luot-server.service",
    "/lib/systemd/system/luot-server.service",
];

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The data directory.
    pub data: PathBuf,
    /// The center file, if the server is started with one.
    pub center_file: Option<PathBuf>,
    /// The address the server listens on.
    pub listen: SocketAddr,
    /// Free disk below which the data directory's disk is reported.
    pub min_free_bytes: u64,
}

pub use luot_shared::doctor::{Finding, Verdict, render};

/// Runs every check.
pub fn run(options: &DoctorOptions) -> Vec<Finding> {
    let (center, center_finding) = center(options.center_file.as_deref());
    let mut findings = vec![center_finding];
    findings.push(time_zone(&center.center.timezone));
    findings.push(clock_sync());
    findings.push(data_dir(&options.data));
    findings.push(free_disk(&options.data, options.min_free_bytes));
    findings.push(open_files());
    findings.extend(port(options.listen));
    findings
}

/// The center file parses (or, without one, the default center is used).
fn center(path: Option<&Path>) -> (CenterConfig, Finding) {
    let Some(path) = path else {
        return (
            CenterConfig::default(),
            Finding::ok(
                "Không có tệp cấu hình trung tâm: dùng trung tâm mặc định.",
                "No center file: the default center is used.",
            ),
        );
    };
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| crate::CenterFile::parse(&text).map_err(|e| e.to_string()));
    match parsed {
        Ok(file) => (
            file.config,
            Finding::ok(
                format!("Tệp cấu hình trung tâm {} hợp lệ.", path.display()),
                format!("The center file {} is valid.", path.display()),
            ),
        ),
        Err(e) => (
            CenterConfig::default(),
            Finding::bad(
                Verdict::Fail,
                format!(
                    "Tệp cấu hình trung tâm {} không đọc được: {e}",
                    path.display()
                ),
                format!("The center file {} cannot be used: {e}", path.display()),
                format!(
                    "sửa tệp {} theo thông báo trên, rồi: sudo systemctl restart luot-server",
                    path.display()
                ),
                format!(
                    "correct {} as the message says, then: sudo systemctl restart luot-server",
                    path.display()
                ),
            ),
        ),
    }
}

/// The machine's time zone is the center's: logs, the journal and the nightly backup run on
/// it (the business day itself follows the center's time zone).
fn time_zone(center_tz: &str) -> Finding {
    let system = jiff::tz::TimeZone::system();
    let name = system.iana_name().map(str::to_owned);
    let fix_vi = format!("sudo timedatectl set-timezone {center_tz}");
    let fix_en = fix_vi.clone();
    match name {
        Some(name) if name == center_tz => Finding::ok(
            format!("Múi giờ của máy là {name}, đúng với trung tâm."),
            format!("The machine's time zone is {name}, the center's."),
        ),
        Some(name) => Finding::bad(
            Verdict::Fail,
            format!(
                "Múi giờ của máy là {name}, nhưng trung tâm dùng {center_tz}: giờ trong nhật ký \
                 và giờ sao lưu hằng đêm sẽ lệch."
            ),
            format!(
                "The machine's time zone is {name}, but the center's is {center_tz}: the logs' \
                 times and the nightly backup's hour will be off."
            ),
            fix_vi,
            fix_en,
        ),
        None => Finding::bad(
            Verdict::Warn,
            format!("Không xác định được múi giờ của máy; trung tâm dùng {center_tz}."),
            format!("The machine's time zone cannot be told; the center's is {center_tz}."),
            fix_vi,
            fix_en,
        ),
    }
}

/// The clock is synchronised over the network: a ticket's time, the waits in the reports and
/// the day's close depend on it.
fn clock_sync() -> Finding {
    let now = jiff::Timestamp::now();
    if now.as_second() < 1_767_225_600 {
        // Before 2026-01-01: this clock was never set.
        return Finding::bad(
            Verdict::Fail,
            format!("Đồng hồ của máy chỉ {now}: sai."),
            format!("The machine's clock says {now}: wrong."),
            "bật đồng bộ giờ: sudo timedatectl set-ntp true (cần gói systemd-timesyncd hoặc chrony)",
            "turn on time sync: sudo timedatectl set-ntp true (needs systemd-timesyncd or chrony)",
        );
    }
    let answer = Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output();
    match answer {
        Ok(out) if out.status.success() => match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => Finding::ok(
                "Đồng hồ của máy được đồng bộ qua mạng (NTP).",
                "The machine's clock is synchronised over the network (NTP).",
            ),
            _ => Finding::bad(
                Verdict::Fail,
                "Đồng hồ của máy không được đồng bộ: giờ trên phiếu và thời gian chờ trong báo cáo có thể sai.",
                "The machine's clock is not synchronised: ticket times and the waits in the reports may be wrong.",
                "sudo apt install systemd-timesyncd && sudo timedatectl set-ntp true (trong mạng kín: chỉ máy chủ NTP của tỉnh trong /etc/systemd/timesyncd.conf)",
                "sudo apt install systemd-timesyncd && sudo timedatectl set-ntp true (on a closed network: set the province's NTP server in /etc/systemd/timesyncd.conf)",
            ),
        },
        _ => Finding::bad(
            Verdict::Warn,
            "Không hỏi được timedatectl xem đồng hồ có được đồng bộ không.",
            "timedatectl cannot tell whether the clock is synchronised.",
            "kiểm tra bằng: timedatectl status (hoặc chronyc tracking)",
            "check with: timedatectl status (or chronyc tracking)",
        ),
    }
}

/// The data directory is one this build reads.
fn data_dir(dir: &Path) -> Finding {
    match data_format::recorded(dir) {
        Ok(Some(found)) if found > data_format::DATA_FORMAT => Finding::bad(
            Verdict::Fail,
            format!(
                "Thư mục dữ liệu {} được phiên bản mới hơn ghi (định dạng {found}); bản này chỉ đọc được đến {}.",
                dir.display(),
                data_format::DATA_FORMAT
            ),
            format!(
                "The data directory {} was written by a newer version (format {found}); this one reads up to {}.",
                dir.display(),
                data_format::DATA_FORMAT
            ),
            "cài lại phiên bản luot-server mới hơn",
            "install the newer luot-server again",
        ),
        Ok(_) if dir.join("db").is_file() => Finding::ok(
            format!("Thư mục dữ liệu {} đọc được.", dir.display()),
            format!(
                "The data directory {} is readable by this version.",
                dir.display()
            ),
        ),
        Ok(_) => Finding::ok(
            format!(
                "Thư mục dữ liệu {} chưa có dữ liệu: lần chạy đầu sẽ tạo.",
                dir.display()
            ),
            format!(
                "The data directory {} holds no data yet: the first start creates it.",
                dir.display()
            ),
        ),
        Err(e) => Finding::bad(
            Verdict::Fail,
            format!("Không đọc được định dạng dữ liệu: {e}"),
            format!("The data format cannot be read: {e}"),
            "khôi phục từ bản sao lưu (xem README: Install in a center)",
            "restore from a backup (see the README: Install in a center)",
        ),
    }
}

/// Free space on the disk that holds the data directory.
fn free_disk(dir: &Path, min_free: u64) -> Finding {
    // The nearest directory that exists: before the first start the data directory may not.
    let at = dir
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/"));
    let stat = match rustix::fs::statvfs(at) {
        Ok(stat) => stat,
        Err(e) => {
            return Finding::bad(
                Verdict::Warn,
                format!("Không đo được dung lượng trống ở {}: {e}", at.display()),
                format!("Free disk at {} cannot be measured: {e}", at.display()),
                format!("kiểm tra bằng: df -h {}", at.display()),
                format!("check with: df -h {}", at.display()),
            );
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let size = stat.f_blocks.saturating_mul(stat.f_frsize);
    let percent = free.saturating_mul(100).checked_div(size).unwrap_or(0);
    let mb = |b: u64| b / (1024 * 1024);
    if free < min_free || percent < MIN_FREE_PERCENT {
        Finding::bad(
            Verdict::Fail,
            format!(
                "Ổ đĩa chứa {} gần đầy: chỉ còn {} MB trống ({percent}% của {} MB). Khi đầy, máy lấy số sẽ không cấp được số.",
                at.display(),
                mb(free),
                mb(size)
            ),
            format!(
                "The disk of {} is nearly full: {} MB free ({percent}% of {} MB). Once full, kiosks cannot issue tickets.",
                at.display(),
                mb(free),
                mb(size)
            ),
            format!(
                "giải phóng chỗ (sudo journalctl --vacuum-size=200M; chuyển bản sao lưu cũ trong /var/backups/luot sang máy khác) hoặc dùng ổ lớn hơn; cần ít nhất {} MB và {MIN_FREE_PERCENT}%",
                mb(min_free)
            ),
            format!(
                "free space (sudo journalctl --vacuum-size=200M; move old backups out of /var/backups/luot) or use a larger disk; at least {} MB and {MIN_FREE_PERCENT}% are needed",
                mb(min_free)
            ),
        )
    } else {
        Finding::ok(
            format!(
                "Ổ đĩa chứa {} còn {} MB trống ({percent}%).",
                at.display(),
                mb(free)
            ),
            format!(
                "The disk of {} has {} MB free ({percent}%).",
                at.display(),
                mb(free)
            ),
        )
    }
}

/// The open-files limit the service gets (the unit's, when systemd can say), else this
/// process's hard limit, which the server raises its soft limit to.
fn open_files() -> Finding {
    let service = Command::new("systemctl")
        .args(["show", "luot-server", "--property=LimitNOFILE", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        });
    let (limit, whose_vi, whose_en) = match service {
        Some(limit) => (
            limit,
            "của dịch vụ luot-server",
            "of the luot-server service",
        ),
        None => (
            rlimit::Resource::NOFILE
                .get()
                .map_or(1024, |(_, hard)| hard),
            "của tiến trình này",
            "of this process",
        ),
    };
    let fix_vi = format!(
        "đặt LimitNOFILE={WANTED_OPEN_FILES} (sudo systemctl edit luot-server, mục [Service]), rồi sudo systemctl restart luot-server"
    );
    let fix_en = format!(
        "set LimitNOFILE={WANTED_OPEN_FILES} (sudo systemctl edit luot-server, under [Service]), then sudo systemctl restart luot-server"
    );
    if limit >= WANTED_OPEN_FILES {
        Finding::ok(
            format!("Giới hạn số tệp mở {whose_vi} là {limit}: đủ cho hàng nghìn màn hình."),
            format!("The open-files limit {whose_en} is {limit}: enough for thousands of screens."),
        )
    } else {
        Finding::bad(
            if limit < TOO_FEW_OPEN_FILES {
                Verdict::Fail
            } else {
                Verdict::Warn
            },
            format!(
                "Giới hạn số tệp mở {whose_vi} chỉ là {limit}: mỗi màn hình, máy lấy số, quầy là một kết nối."
            ),
            format!(
                "The open-files limit {whose_en} is only {limit}: each screen, kiosk and console is a connection."
            ),
            fix_vi,
            fix_en,
        )
    }
}

/// The port is free, or Lượt already serves on it; and devices on the LAN can reach it.
fn port(listen: SocketAddr) -> Vec<Finding> {
    let mut findings = Vec::new();
    let n = listen.port();
    match std::net::TcpListener::bind(listen) {
        Ok(listener) => {
            drop(listener);
            findings.push(Finding::ok(
                format!("Cổng {listen} đang trống: máy chủ sẽ nghe ở đó."),
                format!("Port {listen} is free for the server."),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if answers_healthz(listen) {
                findings.push(Finding::ok(
                    format!("Lượt đang chạy ở cổng {listen}."),
                    format!("Lượt is serving on {listen}."),
                ));
            } else {
                findings.push(Finding::bad(
                    Verdict::Fail,
                    format!("Cổng {listen} đang bị một chương trình khác chiếm."),
                    format!("Port {listen} is taken by another program."),
                    format!(
                        "tìm chương trình đó: sudo ss -ltnp 'sport = :{n}' — tắt nó, hoặc đổi cổng của Lượt (--listen)"
                    ),
                    format!(
                        "find it: sudo ss -ltnp 'sport = :{n}' — stop it, or give Lượt another port (--listen)"
                    ),
                ));
            }
        }
        Err(e) => findings.push(Finding::bad(
            Verdict::Fail,
            format!("Không mở được cổng {listen}: {e}"),
            format!("Cannot listen on {listen}: {e}"),
            "dùng cổng từ 1024 trở lên (mặc định 8080) và một địa chỉ của máy này",
            "use a port of 1024 or above (the default is 8080) and an address of this machine",
        )),
    }
    if listen.ip().is_loopback() {
        findings.push(Finding::bad(
            Verdict::Warn,
            format!(
                "Máy chủ chỉ nghe ở {listen}: máy lấy số và màn hình khác trong mạng không kết nối được."
            ),
            format!(
                "The server listens on {listen} only: kiosks and screens on the LAN cannot reach it."
            ),
            format!("dùng --listen 0.0.0.0:{n}"),
            format!("use --listen 0.0.0.0:{n}"),
        ));
    }
    findings
}

/// Whether a Lượt server answers `/healthz` at `listen` (on loopback for a wildcard address).
fn answers_healthz(listen: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let mut at = listen;
    if at.ip().is_unspecified() {
        at.set_ip(if at.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&at, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    // A healthy server answers `ok`; a damaged or failing one JSON with its `status`.
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b.trim());
    text.starts_with("HTTP/1.1") && (body == "ok" || text.contains("\"status\""))
}

/// The flags of the installed service's command line (`--data`, `--config`, `--listen`),
/// from systemd when it runs, else from the unit file: the doctor checks what the service
/// uses when no flag says otherwise.
pub fn service_flags() -> Vec<(String, String)> {
    let from_systemd = Command::new("systemctl")
        .args(["show", "luot-server", "--property=ExecStart", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| argv_of_show(&String::from_utf8_lossy(&o.stdout)));
    let line = from_systemd.or_else(|| {
        UNIT_FILES.iter().find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            text.lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("ExecStart=").map(str::to_owned))
        })
    });
    line.map(|l| flags_of(&l)).unwrap_or_default()
}

/// The command line in `systemctl show -p ExecStart --value`'s answer:
/// `{ path=/usr/bin/luot-server ; argv[]=/usr/bin/luot-server --data … ; … }`.
fn argv_of_show(text: &str) -> Option<String> {
    let start = text.find("argv[]=")? + "argv[]=".len();
    let rest = &text[start..];
    Some(
        rest[..rest.find(" ;").unwrap_or(rest.len())]
            .trim()
            .to_owned(),
    )
}

/// `--data`, `--config` and `--listen` with their values, from a command line.
fn flags_of(line: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter_map(|pair| match pair {
            [flag @ ("--data" | "--config" | "--listen"), value] => {
                Some((flag.trim_start_matches('-').to_owned(), (*value).to_owned()))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A center file that does not parse is a failure naming the file; none is fine.
    #[test]
    fn center_file_checked() {
        let (config, finding) = center(None);
        assert_eq!(finding.verdict, Verdict::Ok);
        assert_eq!(config, CenterConfig::default());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("center.toml");
        std::fs::write(&path, "[center]\ntimezone = \"Mars/Olympus\"\n").expect("write");
        let (_, finding) = center(Some(&path));
        assert_eq!(finding.verdict, Verdict::Fail);
        assert!(finding.en.contains("center.toml"), "{}", finding.en);
    }

    /// The service's paths are read from systemd's answer and from the unit's line.
    #[test]
    fn service_command_line_read() {
        let show = "{ path=/usr/bin/luot-server ; argv[]=/usr/bin/luot-server --listen 0.0.0.0:9000 \
                    --data /srv/luot --config /etc/luot/center.toml ; ignore_errors=no ; \
                    start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        let argv = argv_of_show(show).expect("argv");
        assert_eq!(
            flags_of(&argv),
            [
                ("listen".to_owned(), "0.0.0.0:9000".to_owned()),
                ("data".to_owned(), "/srv/luot".to_owned()),
                ("config".to_owned(), "/etc/luot/center.toml".to_owned()),
            ]
        );
        let unit = include_str!("../../packaging/server/debian/luot-server.service");
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        let flags = flags_of(line);
        assert!(flags.contains(&("data".to_owned(), "/var/lib/luot".to_owned())));
        assert!(flags.contains(&("config".to_owned(), "/etc/luot/center.toml".to_owned())));
        assert_eq!(argv_of_show("nothing"), None);
    }

    /// A port held by something that is not Lượt is a failure with the command to find it.
    #[test]
    fn taken_port_reported() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = holder.local_addr().expect("addr");
        let findings = port(addr);
        assert_eq!(findings[0].verdict, Verdict::Fail, "{findings:?}");
        assert!(
            findings[0]
                .fix
                .as_ref()
                .is_some_and(|(_, en)| en.contains("ss -ltnp")),
            "{findings:?}"
        );
        assert_eq!(findings[1].verdict, Verdict::Warn, "loopback only");
    }
}
