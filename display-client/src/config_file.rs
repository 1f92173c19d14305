//! `--config FILE`: the client's flags from a TOML file, for a machine that starts the client
//! by itself (`/etc/luot/display.toml`, `/etc/luot/kiosk.toml`).
//!
//! Each key is a long flag without its dashes: `server = "http://192.168.1.10:8080"`,
//! `token = "lt_…"`, `espeak_voice = "vi"` or `espeak-voice = "vi"`, `mute = true`. A flag
//! given on the command line wins over the file. The keys become flags before the command
//! line is parsed, so the file is checked exactly as the flags are; a key no command knows is
//! refused, so a typo does not go unnoticed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Command};

/// Largest configuration file read.
const MAX_BYTES: u64 = 64 * 1024;

/// Why a configuration file is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is larger than any configuration.
    #[error("{0} is larger than 64 KiB: not a configuration file")]
    TooLarge(PathBuf),
    /// It is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key names no flag, or has a value a flag cannot take.
    #[error("{path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--config` without a file.
    #[error("--config needs a file")]
    Missing,
}

/// The command line with the flags of the `--config` file put in, or unchanged without
/// `--config`. `command` is the client's clap command (`Cli::command()`).
pub fn expand_args(
    args: Vec<OsString>,
    command: &Command,
) -> Result<Vec<OsString>, ConfigFileError> {
    let mut args = args;
    let Some(path) = take_config(&mut args)? else {
        return Ok(args);
    };
    let table = read_table(&path)?;
    let key_error = |message: String| ConfigFileError::Key {
        path: path.clone(),
        message,
    };
    // The subcommand on the command line, if any: the first word that names one and is not
    // the value of a flag.
    let mut sub_at = None;
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy().into_owned();
        if let Some(long) = word.strip_prefix("--") {
            let takes_value = !long.contains('=')
                && command
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .is_some_and(|a| a.get_action().takes_values());
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if command.find_subcommand(&word).is_some() {
            sub_at = Some(i);
            break;
        }
        i += 1;
    }
    let sub = sub_at.and_then(|at| command.find_subcommand(args[at].to_string_lossy().as_ref()));
    let given = |long: &str, from: usize, to: usize| {
        args[from..to].iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{long}") || a.starts_with(&format!("--{long}="))
        })
    };
    let mut root_flags = Vec::new();
    let mut sub_flags = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let in_root = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()));
        let in_sub = sub.and_then(|s| {
            s.get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))
        });
        let known_anywhere = in_root.is_some()
            || command.get_subcommands().any(|s| {
                s.get_arguments()
                    .any(|a| a.get_long() == Some(long.as_str()))
            });
        if !known_anywhere || long == "config" {
            return Err(key_error(format!("unknown key {key:?}")));
        }
        let (arg, out, from, to) = match (in_sub, in_root, sub_at) {
            (Some(arg), _, Some(at)) => (arg, &mut sub_flags, at + 1, args.len()),
            (None, Some(arg), Some(at)) if !command.is_args_conflicts_with_subcommands_set() => {
                (arg, &mut root_flags, 1, at)
            }
            (None, Some(arg), None) => (arg, &mut root_flags, 1, args.len()),
            // A key for another command (the touch screen's window, for `doctor`).
            _ => continue,
        };
        if given(&long, from, to) {
            continue;
        }
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        match value {
            toml::Value::Boolean(on) if switch => {
                if *on {
                    out.push(OsString::from(format!("--{long}")));
                }
            }
            _ if switch => return Err(key_error(format!("{key} is true or false"))),
            // An empty value is a key not filled in yet (`token = ""`): not set.
            toml::Value::String(s) if s.is_empty() => {}
            toml::Value::String(s) => out.push(OsString::from(format!("--{long}={s}"))),
            toml::Value::Integer(n) => out.push(OsString::from(format!("--{long}={n}"))),
            toml::Value::Float(x) => out.push(OsString::from(format!("--{long}={x}"))),
            _ => {
                return Err(key_error(format!(
                    "{key} takes a string or a number, like on the command line"
                )));
            }
        }
    }
    if let Some(at) = sub_at {
        args.splice(at + 1..at + 1, sub_flags);
    }
    args.splice(1..1, root_flags);
    Ok(args)
}

/// Removes `--config FILE` (or `--config=FILE`) from `args` and returns the file.
fn take_config(args: &mut Vec<OsString>) -> Result<Option<PathBuf>, ConfigFileError> {
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy().into_owned();
        if word == "--" {
            break;
        }
        if word == "--config" {
            if i + 1 >= args.len() {
                return Err(ConfigFileError::Missing);
            }
            let path = PathBuf::from(args.remove(i + 1));
            args.remove(i);
            return Ok(Some(path));
        }
        if let Some(path) = word.strip_prefix("--config=") {
            let path = PathBuf::from(path);
            args.remove(i);
            return Ok(Some(path));
        }
        i += 1;
    }
    Ok(None)
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigFileError> {
    let read = |source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if meta.len() > MAX_BYTES {
        return Err(ConfigFileError::TooLarge(path.to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    toml::from_str(&text).map_err(|e: toml::de::Error| ConfigFileError::Syntax {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Debug, Parser)]
    struct Cli {
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        espeak_voice: Option<String>,
        #[arg(long)]
        mute: bool,
        #[arg(long)]
        repeat: Option<u32>,
        #[command(subcommand)]
        command: Option<Cmd>,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        Doctor {
            #[arg(long)]
            printer: Option<String>,
        },
    }

    fn expand(file: &str, line: &[&str]) -> Result<Cli, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, file).unwrap();
        let mut args: Vec<OsString> = vec!["prog".into()];
        args.extend(
            line.iter()
                .map(|s| OsString::from(s.replace("FILE", path.to_str().unwrap()))),
        );
        let args = expand_args(args, &<Cli as clap::CommandFactory>::command())
            .map_err(|e| e.to_string())?;
        Cli::try_parse_from(args).map_err(|e| e.to_string())
    }

    /// The file's keys become flags, the command line wins, and a subcommand gets the keys
    /// it takes.
    #[test]
    fn keys_become_flags() {
        let cli = expand(
            "server = \"http://s:8080\"\nespeak_voice = \"vi\"\nmute = true\nrepeat = 3\n",
            &["--config", "FILE", "--server", "http://other:1"],
        )
        .unwrap();
        assert_eq!(cli.server.as_deref(), Some("http://other:1"));
        assert_eq!(cli.espeak_voice.as_deref(), Some("vi"));
        assert!(cli.mute);
        assert_eq!(cli.repeat, Some(3));

        let cli = expand("server = \"\"\n", &["--config", "FILE"]).unwrap();
        assert_eq!(cli.server, None, "an empty value is not set");

        let cli = expand(
            "server = \"http://s:8080\"\nprinter = \"usb:/dev/usb/lp0\"\n",
            &["--config=FILE", "doctor"],
        )
        .unwrap();
        assert_eq!(cli.server.as_deref(), Some("http://s:8080"));
        let Some(Cmd::Doctor { printer }) = cli.command else {
            panic!("no doctor")
        };
        assert_eq!(printer.as_deref(), Some("usb:/dev/usb/lp0"));
    }

    /// A typo, a wrong type and a broken file are refused with the file's name.
    #[test]
    fn bad_files_refused() {
        let err = expand("sever = \"x\"\n", &["--config", "FILE"]).unwrap_err();
        assert!(err.contains("unknown key \"sever\""), "{err}");
        let err = expand("mute = \"yes\"\n", &["--config", "FILE"]).unwrap_err();
        assert!(err.contains("true or false"), "{err}");
        let err = expand("server = [1]\n", &["--config", "FILE"]).unwrap_err();
        assert!(err.contains("string or a number"), "{err}");
        let err = expand("server = \n", &["--config", "FILE"]).unwrap_err();
        assert!(err.contains("not valid TOML"), "{err}");
        let err = expand("", &["--config", "/nonexistent/x.toml"]).unwrap_err();
        assert!(err.contains("cannot read /nonexistent/x.toml"), "{err}");
    }
}
