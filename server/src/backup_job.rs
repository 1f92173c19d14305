//! `luot-server backup`: the nightly backup of a running server.
//!
//! A copy of the files of a running server can be inconsistent, and `export` needs the
//! server stopped; so the backup asks the running server for its export
//! (`GET /api/v1/admin/export`, one consistent pass over the log), streams it into a
//! `.partial` file, checks it (header first, no error line, an end line whose counts and
//! CRC32 match the lines), makes it durable, renames it to `luot-YYYYMMDD-HHMMSS.jsonl`, and
//! deletes the oldest backups beyond `--keep`.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Prefix and suffix of a backup file's name.
const PREFIX: &str = "luot-";
const SUFFIX: &str = ".jsonl";
/// How long the server may stay silent mid-export, and how long to connect.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Another export running (`409`) or a server not listening yet: tries, and the pause
/// between them.
const BUSY_TRIES: u32 = 10;
const BUSY_PAUSE: Duration = Duration::from_secs(15);
/// Longest line of an export, as import reads it.
const MAX_LINE: usize = 1 << 20;
/// Largest token file.
const MAX_TOKEN_FILE: u64 = 4096;

/// What to back up, and where.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The running server's base URL, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// A file holding an admin token.
    pub token_file: PathBuf,
    /// The directory of the backups.
    pub dir: PathBuf,
    /// How many backups are kept.
    pub keep: usize,
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The new file.
    pub path: PathBuf,
    /// Its events.
    pub events: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Older backups deleted.
    pub deleted: Vec<PathBuf>,
}

/// Reads the admin token from its file, refusing one that everybody may read.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o004 != 0 {
            bail!(
                "{} can be read by every user of the machine; it holds an admin token: \
                 chmod o-r {}",
                path.display(),
                path.display()
            );
        }
    }
    if meta.len() > MAX_TOKEN_FILE {
        bail!("{} is too large to be a token file", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        bail!(
            "{} does not hold one token (create one: luot-server token create --role admin)",
            path.display()
        );
    }
    Ok(token.to_owned())
}

/// Takes one backup of the running server and rotates the directory.
pub async fn run(options: &BackupOptions) -> anyhow::Result<Written> {
    if options.keep == 0 {
        bail!("--keep must be at least 1");
    }
    let token = read_token(&options.token_file)?;
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;
    let url = format!(
        "{}/api/v1/admin/export",
        options.server.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()?;
    let stamp = jiff::Zoned::now().strftime("%Y%m%d-%H%M%S").to_string();
    let name = format!("{PREFIX}{stamp}{SUFFIX}");
    let path = options.dir.join(&name);
    let partial = options.dir.join(format!(".{name}.partial"));
    let mut tries = 0;
    let mut response = loop {
        tries += 1;
        let response = match client.get(&url).bearer_auth(&token).send().await {
            // Right after boot the timer may fire before the server listens.
            Err(e) if e.is_connect() && tries < BUSY_TRIES => {
                tracing::info!(error = %e, "the server does not answer yet; trying again shortly");
                tokio::time::sleep(BUSY_PAUSE).await;
                continue;
            }
            other => other.with_context(|| format!("cannot reach the server at {url}"))?,
        };
        let status = response.status();
        if status == reqwest::StatusCode::CONFLICT && tries < BUSY_TRIES {
            tracing::info!("another export is running; trying again shortly");
            tokio::time::sleep(BUSY_PAUSE).await;
            continue;
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let hint = match status.as_u16() {
                401 => " (the token is wrong or revoked: make a new admin token)",
                403 => " (the token is not an admin token)",
                _ => "",
            };
            bail!(
                "the server answered {status}{hint}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        break response;
    };
    let written = async {
        let mut options_file = std::fs::File::options();
        options_file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options_file, 0o600);
        let file = options_file
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut out = std::io::BufWriter::new(file);
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the export stopped before its end")?
        {
            out.write_all(&chunk)
                .with_context(|| format!("cannot write {}", partial.display()))?;
        }
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let bytes = file.metadata()?.len();
        let events = check_file(&partial)
            .with_context(|| format!("the export received is not complete ({url})"))?;
        Ok::<_, anyhow::Error>((events, bytes))
    }
    .await;
    let (events, bytes) = match written {
        Ok(ok) => ok,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if path.exists() {
        let _ = std::fs::remove_file(&partial);
        anyhow::bail!(
            "{} exists already (another backup in the same second); nothing replaced",
            path.display()
        );
    }
    std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    if let Ok(dir) = std::fs::File::open(&options.dir) {
        let _ = dir.sync_all();
    }
    let deleted = rotate(&options.dir, options.keep, &path)?;
    Ok(Written {
        path,
        events,
        bytes,
        deleted,
    })
}

/// Checks an export file as import would before replaying it: a header first, no error line,
/// an end line last whose counts and CRC32 match the lines before it. Returns its events.
pub fn check_file(path: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::open(path)?;
    let mut input = std::io::BufReader::new(file);
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = Vec::new();
    let (mut events, mut records, mut line_no) = (0u64, 0u64, 0u64);
    let mut end: Option<serde_json::Value> = None;
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut input, MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            bail!("line {line_no} is too long for an export");
        }
        if end.is_some() {
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            bail!("line {line_no} comes after the end line");
        }
        let line: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&buf)
            .with_context(|| format!("line {line_no} is not a line of an export"))?;
        let Some((kind, value)) = line.into_iter().next() else {
            bail!("line {line_no} is empty");
        };
        match kind.as_str() {
            "header" if line_no == 1 => {}
            _ if line_no == 1 => bail!("the file does not start with an export header"),
            "end" => {
                end = Some(value);
                continue;
            }
            "error" => bail!("the server stopped the export with an error: {value}"),
            "event" => {
                events += 1;
                records += 1;
            }
            "token" | "user" | "meta" => records += 1,
            other => bail!("line {line_no}: unknown line {other:?}"),
        }
        hasher.update(&buf);
    }
    let Some(end) = end else {
        bail!("the file ends before its end line: it was cut short");
    };
    let crc = format!("{:08x}", hasher.finalize());
    if end.get("crc32").and_then(|v| v.as_str()) != Some(crc.as_str()) {
        bail!("checksum mismatch: the file is damaged");
    }
    if end.get("events").and_then(serde_json::Value::as_u64) != Some(events)
        || end.get("records").and_then(serde_json::Value::as_u64) != Some(records)
    {
        bail!("the end line's counts do not match the lines");
    }
    Ok(events)
}

/// Deletes the oldest backups (by name, which is their time) beyond `keep`, and leftover
/// `.partial` files of interrupted runs.
pub fn rotate(dir: &Path, keep: usize, written: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut backups = Vec::new();
    let mut deleted = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() {
            continue;
        }
        // Only this program's own names are rotated: `luot-YYYYMMDD-HHMMSS.jsonl`, and the
        // `.partial` files of runs interrupted more than an hour ago (one may be running).
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if name.starts_with(&format!(".{PREFIX}")) && name.ends_with(".partial") {
            if stale {
                std::fs::remove_file(entry.path())?;
                deleted.push(entry.path());
            }
        } else if is_backup_name(&name) && entry.path() != written {
            backups.push(entry.path());
        }
    }
    backups.sort();
    // The one just written counts among the kept and is never deleted.
    let excess = backups.len().saturating_sub(keep.saturating_sub(1));
    for old in backups.into_iter().take(excess) {
        std::fs::remove_file(&old).with_context(|| format!("cannot delete {}", old.display()))?;
        deleted.push(old);
    }
    Ok(deleted)
}

/// Whether a file name is one this program gives a backup: `luot-YYYYMMDD-HHMMSS.jsonl`.
fn is_backup_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .is_some_and(|stamp| {
            stamp.len() == 15
                && stamp.bytes().enumerate().all(|(i, b)| {
                    if i == 8 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Rotation keeps the newest of its own backups by name with the one just written, never
    /// deletes that one (even when a clock set back makes it sort first), and leaves alone files
    /// it did not name and a partial file that may still be written.
    #[test]
    fn rotation_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "luot-20260101-020000.jsonl",
            "luot-20260102-020000.jsonl",
            "luot-20260103-020000.jsonl",
            "luot-manual.jsonl",
            "luot-0before-upgrade.jsonl",
            ".luot-20260104-020000.jsonl.partial",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let written = dir.path().join("luot-20260103-020000.jsonl");
        let deleted = rotate(dir.path(), 2, &written).unwrap();
        assert_eq!(deleted, [dir.path().join("luot-20260101-020000.jsonl")]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".luot-20260104-020000.jsonl.partial",
                "luot-0before-upgrade.jsonl",
                "luot-20260102-020000.jsonl",
                "luot-20260103-020000.jsonl",
                "luot-manual.jsonl",
                "notes.txt"
            ]
        );
        // A clock set back: the new backup sorts first and is kept, the older ones go.
        let early = dir.path().join("luot-20250101-020000.jsonl");
        std::fs::write(&early, "x").unwrap();
        rotate(dir.path(), 1, &early).unwrap();
        assert!(early.exists());
        assert!(!dir.path().join("luot-20260103-020000.jsonl").exists());
    }

    /// A file cut short, altered or ending in an error line is refused.
    #[test]
    fn check_refuses_incomplete_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("data")).unwrap();
        let mut bytes = Vec::new();
        crate::backup::export(&store, &mut bytes, false).unwrap();
        let good = dir.path().join("good.jsonl");
        std::fs::write(&good, &bytes).unwrap();
        assert_eq!(check_file(&good).unwrap(), 0);

        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let cut = dir.path().join("cut.jsonl");
        std::fs::write(&cut, lines[..lines.len() - 1].join("\n")).unwrap();
        let err = check_file(&cut).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");

        let altered = dir.path().join("altered.jsonl");
        let mut changed = lines.clone();
        changed.insert(1, r#"{"meta":{"key":"x","hex":"00"}}"#);
        std::fs::write(&altered, changed.join("\n")).unwrap();
        assert!(check_file(&altered).is_err());

        let failed = dir.path().join("failed.jsonl");
        std::fs::write(&failed, format!("{}\n{{\"error\":\"disk\"}}\n", lines[0])).unwrap();
        let err = check_file(&failed).unwrap_err().to_string();
        assert!(err.contains("error"), "{err}");
    }
}
