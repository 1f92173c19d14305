//! The findings of the `doctor` commands (`luot-server doctor`, `luot-display doctor`,
//! `luot-kiosk doctor`): what each check found and what to fix, in Vietnamese and English, and
//! how they are printed.

use std::fmt::Write as _;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Worth a look; the program works.
    Warn,
    /// Must be fixed.
    Fail,
}

/// One check's result, in both languages.
#[derive(Debug, Clone)]
pub struct Finding {
    /// How it went.
    pub verdict: Verdict,
    /// What was found, in Vietnamese.
    pub vi: String,
    /// What was found, in English.
    pub en: String,
    /// What to do, in Vietnamese and in English.
    pub fix: Option<(String, String)>,
}

impl Finding {
    /// A check that passed.
    pub fn ok(vi: impl Into<String>, en: impl Into<String>) -> Finding {
        Finding {
            verdict: Verdict::Ok,
            vi: vi.into(),
            en: en.into(),
            fix: None,
        }
    }

    /// A check that did not, with what to do.
    pub fn bad(
        verdict: Verdict,
        vi: impl Into<String>,
        en: impl Into<String>,
        fix_vi: impl Into<String>,
        fix_en: impl Into<String>,
    ) -> Finding {
        Finding {
            verdict,
            vi: vi.into(),
            en: en.into(),
            fix: Some((fix_vi.into(), fix_en.into())),
        }
    }
}

/// Writes findings as the doctor prints them.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let tag = match f.verdict {
            Verdict::Ok => "[ OK ]",
            Verdict::Warn => "[CHÚ Ý / WARN]",
            Verdict::Fail => "[LỖI / FAIL]",
        };
        let _ = writeln!(out, "{tag} {}", f.vi);
        let _ = writeln!(out, "       {}", f.en);
        if let Some((vi, en)) = &f.fix {
            let _ = writeln!(out, "       Cách sửa: {vi}");
            let _ = writeln!(out, "       Fix: {en}");
        }
    }
    let count = |v| findings.iter().filter(|f| f.verdict == v).count();
    let (fails, warns) = (count(Verdict::Fail), count(Verdict::Warn));
    let _ = writeln!(
        out,
        "{fails} lỗi, {warns} chú ý / {fails} to fix, {warns} to look at"
    );
    out
}

/// Whether any finding must be fixed.
pub fn failed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Fail)
}
