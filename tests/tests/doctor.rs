//! The doctors: `luot-server doctor` finds a machine in the wrong time zone and a nearly full
//! disk (a real small tmpfs, filled), the kiosk's doctor reads a printer's status and prints a
//! test ticket, and the voice check speaks — each saying what to fix in both languages.
//!
//! The disk test mounts a tmpfs (root); elsewhere it says why it skips, and in CI (`CI=true`)
//! it fails instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use luot_display::doctor::{Verdict, VoiceChoice};
use luot_kiosk::doctor::DoctorArgs;
use luot_kiosk::escpos::status_answers;
use luot_tests::kiosk::FakePrinter;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A center file naming Asia/Ho_Chi_Minh, so the checks do not depend on what is installed.
fn center_file(dir: &Path) -> PathBuf {
    let path = dir.join("center.toml");
    std::fs::write(&path, "[center]\ntimezone = \"Asia/Ho_Chi_Minh\"\n").expect("center file");
    path
}

/// `luot-server doctor` on `data`, with the process in time zone `tz`.
fn server_doctor(data: &Path, center: &Path, tz: &str, min_free_mb: u64) -> (Output, String) {
    let out = Command::new(luot_tests::server_binary())
        .env("TZ", tz)
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(center)
        .args(["--listen", "127.0.0.1:0", "doctor", "--min-free-mb"])
        .arg(min_free_mb.to_string())
        .output()
        .expect("run luot-server doctor");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The finding of a doctor's output whose first line starts with `tag` and holds `words`:
/// that line and its continuation lines.
fn finding<'a>(text: &'a str, tag: &str, words: &str) -> Option<Vec<&'a str>> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(tag) && l.contains(words))?;
    let mut out = vec![lines[at]];
    out.extend(
        lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with("       ")),
    );
    Some(out)
}

/// A machine whose time zone is not the center's is a failure, in Vietnamese and English,
/// with the command that fixes it; the center's own time zone passes.
#[test]
fn server_doctor_reports_a_wrong_time_zone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let center = center_file(dir.path());
    let data = dir.path().join("data");
    let (out, text) = server_doctor(&data, &center, "Europe/Berlin", 1);
    assert!(!out.status.success(), "a failure exits non-zero:\n{text}");
    let f = finding(&text, "[LỖI / FAIL]", "Múi giờ").unwrap_or_else(|| panic!("{text}"));
    let all = f.join("\n");
    assert!(
        all.contains("Múi giờ của máy là Europe/Berlin")
            && all.contains("time zone is Europe/Berlin, but the center's is Asia/Ho_Chi_Minh")
            && all.contains("Fix: sudo timedatectl set-timezone Asia/Ho_Chi_Minh"),
        "{all}"
    );

    let (_, text) = server_doctor(&data, &center, "Asia/Ho_Chi_Minh", 1);
    assert!(
        finding(&text, "[ OK ]", "Múi giờ của máy là Asia/Ho_Chi_Minh").is_some(),
        "{text}"
    );
    assert!(
        finding(&text, "[ OK ]", "Tệp cấu hình trung tâm").is_some(),
        "{text}"
    );
}

/// Unmounts a tmpfs the test mounted.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// The data directory on a disk filled to its last megabytes is a failure that gives the
/// free space and what to do; the same disk empty passes.
#[test]
fn server_doctor_reports_a_nearly_full_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let center = center_file(dir.path());
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
        .arg(&disk)
        .output();
    let _mount = match mounted {
        Ok(out) if out.status.success() => Mount(disk.clone()),
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                !ci(),
                "CI must run the disk test, but mount -t tmpfs failed: {why}"
            );
            eprintln!(
                "SKIPPED server_doctor_reports_a_nearly_full_disk: mount -t tmpfs failed: {why}"
            );
            return;
        }
    };
    let data = disk.join("luot");
    std::fs::create_dir_all(&data).expect("mkdir data");

    let (_, text) = server_doctor(&data, &center, "Asia/Ho_Chi_Minh", 8);
    assert!(
        finding(&text, "[ OK ]", "Ổ đĩa chứa").is_some(),
        "an empty 32 MB disk has room:\n{text}"
    );

    // Leave about 2 MB free.
    let mut filler = std::fs::File::create(disk.join("filler")).expect("filler");
    let chunk = vec![0x5Au8; 1 << 20];
    for _ in 0..30 {
        filler.write_all(&chunk).expect("fill");
    }
    filler.sync_all().expect("sync");

    let (out, text) = server_doctor(&data, &center, "Asia/Ho_Chi_Minh", 8);
    assert!(
        !out.status.success(),
        "a nearly full disk exits non-zero:\n{text}"
    );
    let f = finding(&text, "[LỖI / FAIL]", "gần đầy").unwrap_or_else(|| panic!("{text}"));
    let all = f.join("\n");
    assert!(
        all.contains(&format!("Ổ đĩa chứa {} gần đầy: chỉ còn", data.display()))
            && all.contains("is nearly full:")
            && all.contains("of 32 MB")
            && all.contains("Cách sửa:")
            && all.contains("Fix: free space"),
        "{all}"
    );
}

fn kiosk_args(printer: &FakePrinter) -> DoctorArgs {
    // Nothing listens on port 1: the server check fails and says so; the printer's are real.
    DoctorArgs {
        server: "http://127.0.0.1:1".into(),
        token: Some("lt_not_checked".into()),
        printer: Some(printer.target().parse().expect("target")),
        paper: luot_kiosk::ticket::Paper::Mm80,
        mode: "kiosk".into(),
        counter: None,
        espeak_voice: "vi".into(),
        mute: true,
        no_print: false,
    }
}

/// The kiosk's doctor reads the printer's status: out of paper is a failure with what to
/// do and nothing is printed; a ready printer gets the test ticket.
#[test]
fn kiosk_doctor_reads_the_printer() {
    let printer = FakePrinter::start(Some(status_answers(true, false, false, false)));
    let findings = luot_kiosk::doctor::run(&kiosk_args(&printer));
    let paper = findings
        .iter()
        .find(|f| f.en.contains("out of paper"))
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert_eq!(paper.verdict, Verdict::Fail);
    assert!(paper.vi.contains("hết giấy"), "{}", paper.vi);
    assert!(
        paper
            .fix
            .as_ref()
            .is_some_and(|(vi, en)| vi.contains("cuộn giấy") && en.contains("paper roll")),
        "{paper:?}"
    );
    assert!(
        !findings.iter().any(|f| f.en.contains("test ticket")),
        "no test ticket into a printer without paper"
    );
    let before = printer.received().len();

    printer.set_answers(Some(status_answers(false, false, false, false)));
    let findings = luot_kiosk::doctor::run(&kiosk_args(&printer));
    assert!(
        findings
            .iter()
            .any(|f| f.verdict == Verdict::Ok && f.en.contains("is ready")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.verdict == Verdict::Ok && f.en.contains("Printed the test ticket")),
        "{findings:?}"
    );
    // The fake printer's thread may still be reading the job: poll, with a bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let printed = loop {
        let job = printer.received()[before..].to_vec();
        let tickets = luot_kiosk::escpos::decode(&job).map_or(0, |d| d.tickets.len());
        if tickets > 0 || std::time::Instant::now() > deadline {
            break tickets;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(printed, 1, "one test ticket printed");
    assert!(
        findings
            .iter()
            .any(|f| f.verdict == Verdict::Fail && f.en.contains("Cannot reach the server")),
        "{findings:?}"
    );
}

/// The voice check speaks a sentence with espeak-ng's Vietnamese voice, and an unknown
/// voice is a failure that names the package to install.
#[test]
fn voice_check_speaks() {
    if Command::new("espeak-ng").arg("--version").output().is_err() {
        assert!(!ci(), "CI installs espeak-ng");
        eprintln!("SKIPPED voice_check_speaks: espeak-ng is not installed");
        return;
    }
    let (found, clip) = luot_display::doctor::voice(
        &VoiceChoice::Espeak("vi".into()),
        "Mời số 1005 đến quầy số 3",
    );
    assert_eq!(found.verdict, Verdict::Ok, "{found:?}");
    assert!(clip.is_some_and(|c| c.duration().as_secs_f32() > 1.0));
    let (found, _) =
        luot_display::doctor::voice(&VoiceChoice::Espeak("xx-no-such-voice".into()), "x");
    assert_eq!(found.verdict, Verdict::Fail, "{found:?}");
    assert!(
        found
            .fix
            .as_ref()
            .is_some_and(|(_, en)| en.contains("apt install espeak-ng")),
        "{found:?}"
    );
}

/// A healthy Lượt already serving on the port is reported as such, not as "another program"
/// to stop (the install tells people to run the doctor while the service runs).
#[test]
fn a_running_luot_on_the_port_is_not_another_program() {
    let server = luot_tests::TestServer::start(luot_tests::ServerOptions::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(luot_tests::server_binary())
        .env("TZ", "Asia/Ho_Chi_Minh")
        .arg("--data")
        .arg(dir.path().join("data"))
        .args([
            "--listen",
            &server.address(),
            "doctor",
            "--min-free-mb",
            "1",
        ])
        .output()
        .expect("run luot-server doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        finding(&text, "[ OK ]", "Lượt đang chạy").is_some(),
        "the running server is not recognized:\n{text}"
    );
    assert!(!text.contains("another program"), "{text}");
}
