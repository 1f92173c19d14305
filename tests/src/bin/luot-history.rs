//! `luot-history DIR DAYS`: writes DAYS days of a center's history ending yesterday into the
//! new data directory DIR (the benchmark's generator), for looking at the report page with a
//! month or a year of figures:
//!
//! ```text
//! cargo run -p luot-tests --bin luot-history -- /tmp/luot-month 31
//! luot-server --data /tmp/luot-month token create --role admin
//! luot-server --data /tmp/luot-month
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "luot-bench/history.rs"]
mod history;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(days)) = (args.next(), args.next().and_then(|d| d.parse().ok())) else {
        eprintln!("usage: luot-history DIR DAYS");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        eprintln!(
            "{} exists: the history goes into a new directory",
            dir.display()
        );
        std::process::exit(2);
    }
    let tickets = history::generate(&dir, days);
    println!("{tickets} tickets over {days} days in {}", dir.display());
}
