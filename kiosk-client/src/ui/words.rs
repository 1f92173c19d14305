//! What the screens say, in Vietnamese and English. Field names come from the center and stay
//! as the center wrote them; the voice guide always speaks Vietnamese.

use luot_shared::Priority;

use crate::dispense::PrinterProblem;

/// The language of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Tiếng Việt (the default, and after every reset).
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The other one.
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// `vi` or `en`, whichever this is.
    pub fn pick(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// Formatted text: `vi` or `en`.
    pub fn say(self, vi: String, en: String) -> String {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}

/// A priority category as the kiosk names it.
pub fn priority_label(lang: Lang, p: Priority) -> &'static str {
    match (lang, p) {
        (Lang::Vi, Priority::Elderly) => "Người cao tuổi (từ 60 tuổi)",
        (Lang::Vi, Priority::Meritorious) => "Người có công với cách mạng",
        (Lang::Vi, p) => p.label_vi(),
        (Lang::En, Priority::Elderly) => "Older person (60+)",
        (Lang::En, Priority::Disability) => "Person with a disability",
        (Lang::En, Priority::Pregnant) => "Pregnant woman",
        (Lang::En, Priority::YoungChild) => "Parent with a small child",
        (Lang::En, Priority::Meritorious) => "Person of national merit",
    }
}

/// "Waiting: 5".
pub fn waiting(lang: Lang, n: u32) -> String {
    lang.say(format!("Đang chờ: {n}"), format!("Waiting: {n}"))
}

/// The estimate line of a field: minutes, no wait, or no counter open.
pub fn estimate(lang: Lang, waiting: u32, open_counters: u32, wait_s: u64) -> String {
    if open_counters == 0 {
        return lang.pick("Chưa có quầy mở", "No counter open yet").into();
    }
    if waiting == 0 {
        return lang.pick("Không phải chờ", "No wait").into();
    }
    let min = minutes(wait_s);
    lang.say(format!("Khoảng {min} phút"), format!("About {min} min"))
}

/// Whole minutes, at least one.
pub fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60).max(1)
}

/// "3 people ahead of you".
pub fn ahead(lang: Lang, n: u32) -> String {
    match n {
        0 => lang
            .pick("Không có ai trước bạn", "Nobody is ahead of you")
            .into(),
        n => lang.say(
            format!("Có {n} người trước bạn"),
            format!("{n} people ahead of you"),
        ),
    }
}

/// "Estimated wait: about 12 min", or nothing to say.
pub fn wait(lang: Lang, ahead: u32, wait_s: u64) -> Option<String> {
    (ahead > 0 && wait_s > 0).then(|| {
        let min = minutes(wait_s);
        lang.say(
            format!("Thời gian chờ khoảng {min} phút"),
            format!("Estimated wait: about {min} min"),
        )
    })
}

/// What the result screen says when the ticket did not print.
pub fn not_printed(lang: Lang, problem: &PrinterProblem) -> String {
    let what = match problem {
        PrinterProblem::PaperOut => lang.pick("Máy in hết giấy", "The printer is out of paper"),
        PrinterProblem::CoverOpen => lang.pick("Nắp máy in đang mở", "The printer cover is open"),
        PrinterProblem::Offline(_) | PrinterProblem::Error(_) => {
            lang.pick("Máy in đang gặp lỗi", "The printer has a fault")
        }
    };
    let ask = lang.pick(
        "vui lòng ghi nhớ số này / chụp ảnh màn hình",
        "please remember this number / take a photo of the screen",
    );
    format!("{what} — {ask}")
}

/// The start screen's line about the printer, when it has a problem.
pub fn printer_notice(lang: Lang, problem: Option<&PrinterProblem>, low: bool) -> Option<String> {
    let line = match problem {
        Some(PrinterProblem::PaperOut) => lang.pick(
            "Máy in hết giấy — số của bạn sẽ hiện trên màn hình",
            "The printer is out of paper — your number will be shown on screen",
        ),
        Some(PrinterProblem::CoverOpen) => lang.pick(
            "Nắp máy in đang mở — số của bạn sẽ hiện trên màn hình",
            "The printer cover is open — your number will be shown on screen",
        ),
        Some(_) => lang.pick(
            "Máy in đang gặp lỗi — số của bạn sẽ hiện trên màn hình",
            "The printer has a fault — your number will be shown on screen",
        ),
        None if low => lang.pick("Máy in sắp hết giấy", "The printer is low on paper"),
        None => return None,
    };
    Some(line.into())
}

/// The start screen when issuing is closed, from the server's note: the headline and the
/// hour it names, if any.
pub fn issuing_closed(lang: Lang, note: Option<&str>) -> (String, Option<String>) {
    let note = note.unwrap_or_default();
    let hour = note
        .split_whitespace()
        .find(|w| {
            w.len() == 5
                && w.as_bytes()[2] == b':'
                && w.chars().filter(char::is_ascii_digit).count() == 4
        })
        .map(str::to_owned);
    let headline = if note.contains("starts") {
        lang.pick("Chưa đến giờ lấy số", "Tickets are not issued yet")
    } else if note.contains("closed") {
        lang.pick(
            "Trung tâm đã nghỉ hôm nay",
            "The center has closed for today",
        )
    } else {
        lang.pick("Đã hết giờ lấy số hôm nay", "No more tickets today")
    };
    let detail = hour.map(|h| {
        if note.contains("starts") {
            lang.say(
                format!("Bắt đầu lấy số lúc {h}"),
                format!("Tickets from {h}"),
            )
        } else {
            lang.say(
                format!("Ngừng lấy số từ {h}"),
                format!("Tickets stopped at {h}"),
            )
        }
    });
    (headline.into(), detail)
}

/// "Back to the start in 7 s".
pub fn countdown(lang: Lang, seconds: u64) -> String {
    lang.say(
        format!("Tự quay lại màn hình đầu sau {seconds} giây"),
        format!("Back to the start in {seconds} s"),
    )
}

/// The reset warning.
pub fn reset_warning(lang: Lang, seconds: u64) -> String {
    lang.say(
        format!("Màn hình sẽ quay lại từ đầu sau {seconds} giây — chạm để tiếp tục"),
        format!("The screen returns to the start in {seconds} seconds — touch to continue"),
    )
}

/// A rating's words: Vietnamese first, English under it.
pub fn score_label(score: u8) -> (&'static str, &'static str) {
    match score {
        5 => ("Rất hài lòng", "Very satisfied"),
        4 => ("Hài lòng", "Satisfied"),
        3 => ("Bình thường", "Neutral"),
        2 => ("Không hài lòng", "Dissatisfied"),
        _ => ("Rất không hài lòng", "Very dissatisfied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's English notes become a Vietnamese headline with the hour they name.
    #[test]
    fn issuing_notes_become_headlines() {
        let (h, d) = issuing_closed(Lang::Vi, Some("issuing stopped at 16:30 for today"));
        assert_eq!(h, "Đã hết giờ lấy số hôm nay");
        assert_eq!(d.as_deref(), Some("Ngừng lấy số từ 16:30"));
        let (h, d) = issuing_closed(Lang::Vi, Some("issuing starts at 07:30"));
        assert_eq!(h, "Chưa đến giờ lấy số");
        assert_eq!(d.as_deref(), Some("Bắt đầu lấy số lúc 07:30"));
        let (h, d) = issuing_closed(Lang::En, None);
        assert_eq!(h, "No more tickets today");
        assert_eq!(d, None);
    }

    /// Estimates round up to whole minutes and say plainly when nobody waits or nobody serves.
    #[test]
    fn estimates_in_plain_words() {
        assert_eq!(estimate(Lang::Vi, 3, 1, 61), "Khoảng 2 phút");
        assert_eq!(estimate(Lang::Vi, 0, 1, 0), "Không phải chờ");
        assert_eq!(estimate(Lang::En, 4, 0, 0), "No counter open yet");
        assert_eq!(ahead(Lang::Vi, 0), "Không có ai trước bạn");
    }
}
