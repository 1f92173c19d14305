//! What the screen says, as plain text decided from the follower's view, the link and the
//! time: the drawing code in [`crate::ui`] only places these strings. Tests read them here.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use luot_shared::follow::{HeldStatus, ScreenView};

use crate::link::{LinkState, Live};
use crate::text::nfc;

/// The latest call, as the big panel says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCall {
    /// `1005`.
    pub number: String,
    /// `Quầy 3`.
    pub counter: String,
    /// Drawn highlighted.
    pub highlighted: bool,
    /// A repeated call.
    pub recall: bool,
}

/// One open counter's tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterTile {
    /// `Quầy 3`.
    pub name: String,
    /// The number it serves, or `—`.
    pub number: String,
    /// `Đang phục vụ`, `Đang mời`, `Sẵn sàng`.
    pub status: String,
}

/// One line of the waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingLine {
    /// Service name.
    pub service: String,
    /// Tickets waiting.
    pub waiting: String,
    /// `~12 phút`, or empty.
    pub estimate: String,
}

/// A message over the screen about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The headline: `Mất kết nối` or the refusal.
    pub title: String,
    /// Details: for how long, what the server said.
    pub detail: String,
    /// The token was refused: shown larger, it needs a person.
    pub refused: bool,
}

/// Everything on the screen at one instant, NFC-normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// Center name.
    pub center: String,
    /// `Thứ Hai, 01/12/2025`.
    pub date: String,
    /// `09:41:05`.
    pub clock: String,
    /// The big panel, when a call was made today.
    pub latest: Option<LatestCall>,
    /// Open counters.
    pub counters: Vec<CounterTile>,
    /// Recent calls: (number, counter name), newest first.
    pub recent: Vec<(String, String)>,
    /// Waiting per service.
    pub waiting: Vec<WaitingLine>,
    /// The admin's line, if any.
    pub ticker: Option<String>,
    /// The connection message, if any.
    pub banner: Option<Banner>,
}

/// Recent calls shown besides the latest.
pub const RECENT_SHOWN: usize = 6;

const WEEKDAYS: [&str; 7] = [
    "Thứ Hai",
    "Thứ Ba",
    "Thứ Tư",
    "Thứ Năm",
    "Thứ Sáu",
    "Thứ Bảy",
    "Chủ nhật",
];

/// A duration in Vietnamese words: `45 giây`, `2 phút 13 giây`, `1 giờ 5 phút`.
pub fn duration_words(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} giây"),
        (0, _) => format!("{m} phút {s} giây"),
        _ => format!("{h} giờ {m} phút"),
    }
}

/// The screen for `live` at `now` (the display's clock).
pub fn screen(live: &Live, now: Timestamp) -> Screen {
    let follower = &live.follower;
    let server_now = follower.server_now(now);
    let view = follower.view();
    let tz = view
        .and_then(|v| TimeZone::get(&v.timezone).ok())
        .unwrap_or_else(|| TimeZone::get("Asia/Ho_Chi_Minh").unwrap_or(TimeZone::UTC));
    let zoned = server_now.to_zoned(tz);
    let weekday = WEEKDAYS[usize::from(zoned.weekday().to_monday_zero_offset().unsigned_abs())];
    let date = format!("{weekday}, {}", zoned.strftime("%d/%m/%Y"));
    let clock = zoned.strftime("%H:%M:%S").to_string();
    let banner = banner(&live.link, view.is_some(), now);
    let Some(view) = view else {
        return Screen {
            center: "Lượt".into(),
            date,
            clock,
            latest: None,
            counters: Vec::new(),
            recent: Vec::new(),
            waiting: Vec::new(),
            ticker: None,
            banner,
        };
    };
    Screen {
        center: nfc(&view.center),
        date,
        clock,
        latest: view.latest.as_ref().map(|c| LatestCall {
            number: nfc(&c.number),
            counter: counter_name(view, c.counter, &c.counter_name),
            highlighted: follower.highlighted(now),
            recall: c.recall,
        }),
        counters: view
            .open_counters()
            .map(|c| {
                let (number, status) = match &c.current {
                    Some(t) if t.status == HeldStatus::Serving => (nfc(&t.number), "Đang phục vụ"),
                    Some(t) => (nfc(&t.number), "Đang mời"),
                    None => ("—".to_string(), "Sẵn sàng"),
                };
                CounterTile {
                    name: counter_name(view, c.id, &c.name),
                    number,
                    status: status.into(),
                }
            })
            .collect(),
        recent: view
            .recent_calls
            .iter()
            .skip(1)
            .take(RECENT_SHOWN)
            .map(|c| {
                (
                    nfc(&c.number),
                    counter_name(view, c.counter, &c.counter_name),
                )
            })
            .collect(),
        waiting: view
            .services
            .iter()
            .map(|s| WaitingLine {
                service: nfc(&s.name),
                waiting: s.waiting.to_string(),
                estimate: if s.waiting > 0 && s.open_counters > 0 && s.estimated_wait_s > 0 {
                    format!("~{} phút", s.estimated_wait_s.div_ceil(60))
                } else {
                    String::new()
                },
            })
            .collect(),
        ticker: view
            .ticker
            .as_deref()
            .map(nfc)
            .filter(|t| !t.trim().is_empty()),
        banner,
    }
}

fn counter_name(view: &ScreenView, id: u32, name: &str) -> String {
    let name = if name.trim().is_empty() {
        view.counter(id).map(|c| c.name.clone()).unwrap_or_default()
    } else {
        name.to_string()
    };
    if name.trim().is_empty() {
        format!("Quầy {id}")
    } else {
        nfc(&name)
    }
}

fn banner(link: &LinkState, has_view: bool, now: Timestamp) -> Option<Banner> {
    match link {
        LinkState::Online => None,
        LinkState::Connecting => Some(Banner {
            title: "Đang kết nối…".into(),
            detail: String::new(),
            refused: false,
        })
        .filter(|_| !has_view),
        LinkState::Offline { since, reason } => Some(Banner {
            title: "Mất kết nối".into(),
            detail: format!(
                "{} · {}",
                duration_words(now.duration_since(*since).as_secs()),
                nfc(reason)
            ),
            refused: false,
        }),
        LinkState::Refused { reason, .. } => Some(Banner {
            title: "Máy chủ từ chối màn hình này".into(),
            detail: format!(
                "Mã thiết bị không hợp lệ hoặc đã bị thu hồi — cần cấp mã mới ({})",
                nfc(reason)
            ),
            refused: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations read as Vietnamese words.
    #[test]
    fn durations_in_words() {
        assert_eq!(duration_words(45), "45 giây");
        assert_eq!(duration_words(133), "2 phút 13 giây");
        assert_eq!(duration_words(3900), "1 giờ 5 phút");
    }
}
