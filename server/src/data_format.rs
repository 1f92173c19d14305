//! The data directory's format version, in a small file beside sled's.
//!
//! A directory records the newest format written into it. A build opens a directory of its
//! own format or an older one (and records its own once it has opened it: older records are
//! read and upgraded as the store meets them), and refuses a newer one with a message, so
//! installing an older package over data it cannot read stops at the start rather than
//! misreading it. Directories from before the file existed are format 1.

use std::io::Write as _;
use std::path::Path;

/// The format this build writes. Raise it when a change makes the data unreadable by the
/// builds before it, and keep `packaging/server/debian/preinst` in step (a test checks).
pub const DATA_FORMAT: u32 = 1;

/// The file, in the data directory.
pub const FORMAT_FILE: &str = "luot-data-format";

/// Why a data directory's format is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Written by a newer build.
    #[error(
        "{dir} holds data of format {found}, written by a newer luot-server; this one \
         ({version}) reads up to format {DATA_FORMAT}. Nothing was changed. Install the newer \
         luot-server again, or import an export into a new directory \
         (luot-server --data NEW-DIR import FILE)"
    )]
    Newer {
        /// The directory.
        dir: String,
        /// The format it records.
        found: u32,
        /// This build's version.
        version: &'static str,
    },
    /// The file is there but does not hold a format number.
    #[error("{path} does not hold a data format number ({detail}); nothing was changed")]
    Unreadable {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// The format a directory records: `None` when it has no format file (a new directory, or
/// one from before the file existed).
pub fn recorded(dir: &Path) -> Result<Option<u32>, FormatError> {
    let path = dir.join(FORMAT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(FormatError::Unreadable {
                path: path.display().to_string(),
                detail: e.to_string(),
            });
        }
    };
    let first = text.split_whitespace().next().unwrap_or("");
    first
        .parse::<u32>()
        .map(Some)
        .map_err(|_| FormatError::Unreadable {
            path: path.display().to_string(),
            detail: format!("it starts with {first:?}"),
        })
}

/// Refuses a directory of a newer format; otherwise records this build's format in it (when
/// it records an older one, or none). Called before the database is opened.
pub fn check_and_record(dir: &Path) -> Result<(), FormatError> {
    let found = recorded(dir)?;
    match found {
        Some(found) if found > DATA_FORMAT => Err(FormatError::Newer {
            dir: dir.display().to_string(),
            found,
            version: env!("CARGO_PKG_VERSION"),
        }),
        Some(found) if found == DATA_FORMAT => Ok(()),
        _ => write(dir).map_err(|e| FormatError::Unreadable {
            path: dir.join(FORMAT_FILE).display().to_string(),
            detail: format!("cannot write it: {e}"),
        }),
    }
}

/// Writes the file through a temporary one, so it is never half written.
fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FORMAT_FILE);
    let partial = dir.join(format!("{FORMAT_FILE}.partial"));
    let mut file = std::fs::File::create(&partial)?;
    writeln!(file, "{DATA_FORMAT}")?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A new directory gets this build's format; a newer one is refused and left unchanged;
    /// an older one is raised to this build's.
    #[test]
    fn records_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        check_and_record(dir.path()).unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), Some(DATA_FORMAT));

        std::fs::write(dir.path().join(FORMAT_FILE), "0\n").unwrap();
        check_and_record(dir.path()).unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), Some(DATA_FORMAT));

        std::fs::write(dir.path().join(FORMAT_FILE), "7\n").unwrap();
        let err = check_and_record(dir.path()).unwrap_err();
        assert!(matches!(err, FormatError::Newer { found: 7, .. }), "{err}");
        assert!(err.to_string().contains("reads up to format 1"), "{err}");
        assert_eq!(recorded(dir.path()).unwrap(), Some(7));

        std::fs::write(dir.path().join(FORMAT_FILE), "seven").unwrap();
        assert!(matches!(
            check_and_record(dir.path()),
            Err(FormatError::Unreadable { .. })
        ));
    }
}
