//! `luot-display doctor`: checks a lobby TV's machine — the server and the token, the sound
//! device and the voice — and says what to fix, in Vietnamese and English. The findings and
//! their rendering are shared with `luot-kiosk doctor`.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::audio::{AudioOut, SpeakerOut};
use crate::voice::{Espeak, RecordedClips, Voice};

pub use luot_shared::doctor::{Finding, Verdict, failed, render};

/// The server answers `GET /api/v1/state` with this device's token. `role` names the token
/// in the fix (`display`, `kiosk`, `kiosk --counter N`).
pub fn server_and_token(server: &str, token: Option<&str>, role: &str) -> Finding {
    let make = format!("luot-server token create --role {role}");
    let Some(token) = token else {
        return Finding::bad(
            Verdict::Fail,
            "Chưa có mã thiết bị (token).",
            "No device token is set.",
            format!(
                "tạo trong /admin → Thiết bị (hoặc {make}) rồi ghi vào token = \"…\" trong tệp cấu hình"
            ),
            format!(
                "make one in /admin → Devices (or {make}) and put it as token = \"…\" in the configuration file"
            ),
        );
    };
    match get_status(server, "/api/v1/state", token) {
        Ok(200) => Finding::ok(
            format!("Máy chủ {server} trả lời và nhận mã thiết bị."),
            format!("The server {server} answers and accepts the device token."),
        ),
        Ok(401) => Finding::bad(
            Verdict::Fail,
            format!("Máy chủ {server} không nhận mã thiết bị (sai hoặc đã bị thu hồi)."),
            format!("The server {server} refuses the device token (wrong or revoked)."),
            format!("tạo mã mới trong /admin → Thiết bị (hoặc {make}) và thay vào tệp cấu hình"),
            format!(
                "make a new one in /admin → Devices (or {make}) and put it in the configuration file"
            ),
        ),
        Ok(status) => Finding::bad(
            Verdict::Fail,
            format!("Máy chủ {server} trả lời mã lỗi {status}."),
            format!("The server {server} answers with status {status}."),
            "xem nhật ký máy chủ: sudo journalctl -u luot-server",
            "read the server's log: sudo journalctl -u luot-server",
        ),
        Err(e) => Finding::bad(
            Verdict::Fail,
            format!("Không kết nối được máy chủ {server}: {e}"),
            format!("Cannot reach the server {server}: {e}"),
            "kiểm tra địa chỉ server = \"http://IP-MÁY-CHỦ:8080\" trong tệp cấu hình, dây mạng, và máy chủ đang chạy (sudo luot-server doctor trên máy chủ)",
            "check server = \"http://SERVER-IP:8080\" in the configuration file, the network cable, and that the server runs (sudo luot-server doctor on it)",
        ),
    }
}

/// The status of a plain HTTP `GET` with a bearer token (`http://` URLs only).
pub fn get_status(server: &str, path: &str, token: &str) -> Result<u16, String> {
    let Some(rest) = server.trim_end_matches('/').strip_prefix("http://") else {
        return Err("only http:// addresses are checked here".into());
    };
    let host = rest.split('/').next().unwrap_or(rest);
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = String::from_utf8_lossy(&head[..got]);
    line.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())
}

/// The sound device opens; with `play`, `clip` is played on it so the installer hears it.
pub fn sound(play: Option<&crate::audio::Clip>) -> Finding {
    let fix_vi = "kiểm tra loa hoặc cáp HDMI và âm lượng (aplay -l; alsamixer); người dùng chạy màn hình cần thuộc nhóm audio";
    let fix_en = "check the speaker or HDMI cable and the volume (aplay -l; alsamixer); the user the screen runs as must be in the audio group";
    match SpeakerOut::open() {
        Ok(mut out) => match play {
            Some(clip) => match out.play(clip) {
                Ok(()) => Finding::ok(
                    format!(
                        "Đã phát câu thử ({:.1} giây) ra loa: hãy nghe xem có rõ không.",
                        clip.duration().as_secs_f32()
                    ),
                    format!(
                        "Played the test sentence ({:.1} s) on the speaker: listen that it is clear.",
                        clip.duration().as_secs_f32()
                    ),
                ),
                Err(e) => Finding::bad(
                    Verdict::Fail,
                    format!("Thiết bị âm thanh mở được nhưng không phát được: {e}"),
                    format!("The sound device opens but does not play: {e}"),
                    fix_vi,
                    fix_en,
                ),
            },
            None => Finding::ok(
                "Thiết bị âm thanh mở được (thêm --play để nghe thử).",
                "The sound device opens (add --play to hear a test).",
            ),
        },
        Err(e) => Finding::bad(
            Verdict::Fail,
            format!("Không mở được thiết bị âm thanh: {e} — màn hình sẽ chỉ hiện số, không đọc."),
            format!(
                "The sound device cannot be opened: {e} — the screen will show calls without speaking."
            ),
            fix_vi,
            fix_en,
        ),
    }
}

/// Which voice the client speaks with.
#[derive(Debug, Clone)]
pub enum VoiceChoice {
    /// espeak-ng with this voice.
    Espeak(String),
    /// Recorded clips in this folder.
    Clips(Option<std::path::PathBuf>),
    /// None: the chime only.
    None,
}

/// The voice says a test sentence; returns the finding and the spoken clip.
pub fn voice(choice: &VoiceChoice, sentence: &str) -> (Finding, Option<crate::audio::Clip>) {
    let opened: Result<Box<dyn Voice>, String> = match choice {
        VoiceChoice::None => {
            return (
                Finding::bad(
                    Verdict::Warn,
                    "Không dùng giọng đọc: chỉ có tiếng chuông.",
                    "No voice is set: calls get the chime only.",
                    "bỏ voice = \"none\" khỏi tệp cấu hình để dùng espeak-ng",
                    "remove voice = \"none\" from the configuration file to use espeak-ng",
                ),
                None,
            );
        }
        VoiceChoice::Espeak(name) => Espeak::new(name)
            .map(|v| Box::new(v) as Box<dyn Voice>)
            .map_err(|e| e.to_string()),
        VoiceChoice::Clips(Some(dir)) => RecordedClips::load(dir)
            .map(|v| Box::new(v) as Box<dyn Voice>)
            .map_err(|e| e.to_string()),
        VoiceChoice::Clips(None) => Err("voice = \"clips\" needs clips = \"/path\"".into()),
    };
    let fix_vi = "sudo apt install espeak-ng (giọng vi), hoặc kiểm tra thư mục giọng thu sẵn";
    let fix_en = "sudo apt install espeak-ng (voice vi), or check the folder of recorded clips";
    let mut voice = match opened {
        Ok(v) => v,
        Err(e) => {
            return (
                Finding::bad(
                    Verdict::Fail,
                    format!("Không có giọng đọc: {e}"),
                    format!("No voice: {e}"),
                    fix_vi,
                    fix_en,
                ),
                None,
            );
        }
    };
    match voice.speak(&[sentence.to_owned()]) {
        Ok(clip) if clip.duration() > Duration::from_millis(300) => (
            Finding::ok(
                format!(
                    "Giọng đọc đọc được câu thử ({:.1} giây).",
                    clip.duration().as_secs_f32()
                ),
                format!(
                    "The voice says the test sentence ({:.1} s).",
                    clip.duration().as_secs_f32()
                ),
            ),
            Some(clip),
        ),
        Ok(_) => (
            Finding::bad(
                Verdict::Fail,
                "Giọng đọc không đọc ra tiếng.",
                "The voice produced no speech.",
                fix_vi,
                fix_en,
            ),
            None,
        ),
        Err(e) => (
            Finding::bad(
                Verdict::Fail,
                format!("Giọng đọc lỗi: {e}"),
                format!("The voice failed: {e}"),
                fix_vi,
                fix_en,
            ),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that is not there, and a token it refuses, are failures that say what to do.
    #[test]
    fn server_checks_fail_clearly() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let f = server_and_token(&format!("http://{addr}"), Some("t"), "display");
        assert_eq!(f.verdict, Verdict::Fail);
        assert!(f.en.contains("Cannot reach"), "{}", f.en);
        let f = server_and_token("http://127.0.0.1:1", None, "display");
        assert!(
            f.fix
                .as_ref()
                .is_some_and(|(_, en)| en.contains("--role display"))
        );

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        });
        let f = server_and_token(&format!("http://{addr}"), Some("t"), "display");
        answer.join().expect("join");
        assert_eq!(f.verdict, Verdict::Fail);
        assert!(f.en.contains("refuses the device token"), "{}", f.en);
    }
}
