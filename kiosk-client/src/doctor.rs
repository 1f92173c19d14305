//! `luot-kiosk doctor`: checks a kiosk's (or rating screen's) machine — the server and the
//! token, the printer's status (`DLE EOT`) and a printed test ticket, the voice guide — and
//! says what to fix, in Vietnamese and English.

use luot_display::doctor::{self, Finding, Verdict, VoiceChoice};

use crate::dispense::PrinterProblem;
use crate::escpos;
use crate::printer::{Printer, Target};
use crate::ticket::{self, Paper};

/// `luot-kiosk doctor`'s flags: the touch screen's own, so `--config /etc/luot/kiosk.toml`
/// gives it what the screen uses.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Server base URL.
    #[arg(long, env = "LUOT_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The device token.
    #[arg(long, env = "LUOT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The printer (the touch menu's): `usb:/dev/usb/lp0`, `tcp:HOST:9100` or `file:PATH`.
    #[arg(long, env = "LUOT_PRINTER")]
    pub printer: Option<Target>,
    /// Paper width in mm: 80 or 58.
    #[arg(long, env = "LUOT_PAPER", default_value = "80")]
    pub paper: Paper,
    /// `kiosk` (the touch menu) or `rating` (a counter's rating screen, which prints nothing).
    #[arg(long, default_value = "kiosk", value_parser = ["kiosk", "rating"])]
    pub mode: String,
    /// The rating screen's counter.
    #[arg(long)]
    pub counter: Option<u32>,
    /// espeak-ng voice of the voice guide.
    #[arg(long, default_value = "vi")]
    pub espeak_voice: String,
    /// No voice guide on this kiosk.
    #[arg(long)]
    pub mute: bool,
    /// Do not print the test ticket (status only).
    #[arg(long)]
    pub no_print: bool,
}

/// Runs every check.
pub fn run(args: &DoctorArgs) -> Vec<Finding> {
    let rating = args.mode == "rating";
    let role = match (rating, args.counter) {
        (true, Some(n)) => format!("kiosk --counter {n}"),
        (true, None) => "kiosk --counter N".to_owned(),
        (false, _) => "kiosk".to_owned(),
    };
    let mut findings = vec![doctor::server_and_token(
        &args.server,
        args.token.as_deref(),
        &role,
    )];
    if rating {
        if args.counter.is_none() {
            findings.push(Finding::bad(
                Verdict::Fail,
                "Màn hình đánh giá chưa có số quầy.",
                "The rating screen has no counter.",
                "ghi counter = N vào /etc/luot/kiosk.toml",
                "put counter = N in /etc/luot/kiosk.toml",
            ));
        }
        return findings;
    }
    match &args.printer {
        None => findings.push(Finding::bad(
            Verdict::Fail,
            "Chưa chỉ máy in.",
            "No printer is set.",
            "ghi printer = \"usb:/dev/usb/lp0\" (hoặc \"tcp:IP-MÁY-IN:9100\") vào /etc/luot/kiosk.toml",
            "put printer = \"usb:/dev/usb/lp0\" (or \"tcp:PRINTER-IP:9100\") in /etc/luot/kiosk.toml",
        )),
        Some(target) => {
            let printer = Printer::new(target.clone());
            let status = printer.status();
            let problem_found = status.problem.is_some();
            findings.push(status_finding(target, &status));
            if !args.no_print && !problem_found {
                findings.push(test_ticket(&printer, args.paper));
            }
        }
    }
    if args.mute {
        findings.push(Finding::bad(
            Verdict::Warn,
            "Không có hướng dẫn bằng giọng nói (mute).",
            "The voice guide is off (mute).",
            "bỏ mute = true khỏi /etc/luot/kiosk.toml",
            "remove mute = true from /etc/luot/kiosk.toml",
        ));
    } else {
        let (voice, _) = doctor::voice(
            &VoiceChoice::Espeak(args.espeak_voice.clone()),
            "Xin chào. Mời chọn lĩnh vực.",
        );
        findings.push(voice);
    }
    findings
}

fn status_finding(target: &Target, status: &crate::dispense::PrinterStatus) -> Finding {
    let fix_power = (
        format!(
            "kiểm tra nguồn, cáp và địa chỉ máy in {target}; với USB: ls -l /dev/usb/lp*, người dùng chạy kiosk cần thuộc nhóm lp"
        ),
        format!(
            "check the printer's power, cable and address {target}; for USB: ls -l /dev/usb/lp*, the user the kiosk runs as must be in the lp group"
        ),
    );
    match &status.problem {
        Some(PrinterProblem::PaperOut) => Finding::bad(
            Verdict::Fail,
            format!("Máy in {target} báo hết giấy."),
            format!("The printer {target} reports it is out of paper."),
            "thay cuộn giấy mới",
            "put in a new paper roll",
        ),
        Some(PrinterProblem::CoverOpen) => Finding::bad(
            Verdict::Fail,
            format!("Máy in {target} báo nắp đang mở."),
            format!("The printer {target} reports its cover is open."),
            "đóng nắp máy in",
            "close the printer's cover",
        ),
        Some(PrinterProblem::Error(e)) => Finding::bad(
            Verdict::Fail,
            format!("Máy in {target} báo lỗi: {e}"),
            format!("The printer {target} reports an error: {e}"),
            "tắt rồi bật lại máy in; kiểm tra dao cắt và kẹt giấy",
            "switch the printer off and on; check the cutter and for a paper jam",
        ),
        Some(PrinterProblem::Offline(e)) => Finding::bad(
            Verdict::Fail,
            format!("Không kết nối được máy in {target}: {e}"),
            format!("Cannot reach the printer {target}: {e}"),
            fix_power.0,
            fix_power.1,
        ),
        None if !status.answers_status => Finding::bad(
            Verdict::Warn,
            format!(
                "Máy in {target} không trả lời trạng thái (DLE EOT): kiosk không biết trước khi hết giấy."
            ),
            format!(
                "The printer {target} does not answer status (DLE EOT): the kiosk cannot tell paper-out in advance."
            ),
            "dùng máy in ESC/POS có trả trạng thái nếu được; nếu không, kiosk vẫn hiện số trên màn hình khi không in được",
            "use an ESC/POS printer that answers status if possible; otherwise the kiosk still shows the number when printing fails",
        ),
        None if status.paper_low => Finding::bad(
            Verdict::Warn,
            format!("Máy in {target} báo sắp hết giấy."),
            format!("The printer {target} reports the paper roll is nearly at its end."),
            "chuẩn bị cuộn giấy mới",
            "have a new roll ready",
        ),
        None => Finding::ok(
            format!("Máy in {target} sẵn sàng (trạng thái: có giấy, nắp đóng, không lỗi)."),
            format!("The printer {target} is ready (status: paper in, cover closed, no error)."),
        ),
    }
}

fn test_ticket(printer: &Printer, paper: Paper) -> Finding {
    let target = printer.target().clone();
    let image = match ticket::test_sheet(paper) {
        Ok(image) => image,
        Err(e) => {
            return Finding::bad(
                Verdict::Fail,
                format!("Không dựng được phiếu thử: {e}"),
                format!("The test ticket cannot be drawn: {e}"),
                "chọn paper = 80 hoặc 58",
                "set paper = 80 or 58",
            );
        }
    };
    match printer.print(&escpos::encode(&image)) {
        Ok(_) => Finding::ok(
            format!("Đã in phiếu thử trên {target}: xem mọi chữ tiếng Việt và mã QR có rõ không."),
            format!(
                "Printed the test ticket on {target}: check that every Vietnamese letter and the QR code are clear."
            ),
        ),
        Err(problem) => Finding::bad(
            Verdict::Fail,
            format!("Không in được phiếu thử trên {target}: {problem:?}"),
            format!("The test ticket did not print on {target}: {problem:?}"),
            "kiểm tra giấy, nắp và cáp máy in rồi chạy lại: luot-kiosk --config /etc/luot/kiosk.toml doctor",
            "check the paper, cover and cable, then run again: luot-kiosk --config /etc/luot/kiosk.toml doctor",
        ),
    }
}
