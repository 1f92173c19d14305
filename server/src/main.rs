//! `luot-server`: flags, logging, listening socket, signals; the rest is the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use luot_server::store::Store;
use luot_server::{CenterFile, Options, Server, auth, raise_open_files_limit};
use luot_shared::protocol::Role;
use tracing_subscriber::EnvFilter;

/// Lượt queue server: ticket kiosks, counter consoles, lobby screens.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "LUOT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory (event log, snapshots, accounts).
    #[arg(long, env = "LUOT_DATA", default_value = "luot-data")]
    data: PathBuf,
    /// Center file (TOML) that replaces the default center.
    #[arg(long, env = "LUOT_CONFIG")]
    config: Option<PathBuf>,
    /// This center's id in its province (with `--ship`).
    #[arg(long, env = "LUOT_SITE")]
    site: Option<String>,
    /// Ships the log to the province's NATS JetStream: `nats://HOST:PORT` (commas between the
    /// servers of a cluster).
    #[arg(long, env = "LUOT_SHIP", requires = "site")]
    ship: Option<String>,
    /// The key this site's events are signed with, as `luot-server hub site add` printed it
    /// (better in the environment than on the command line).
    #[arg(long, env = "LUOT_SHIP_KEY", hide_env_values = true)]
    ship_key: Option<String>,
    /// The province's id (the stream `LUOT_<PROVINCE>`, subjects `luot.<province>.<site>`).
    #[arg(long, env = "LUOT_PROVINCE", default_value = "province", global = true)]
    province: String,
    /// Log format.
    #[arg(long, env = "LUOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Device and script tokens (on a stopped server's data directory).
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Writes the data directory (of a stopped server) to a file as JSON lines: the event log,
    /// tokens, accounts and settings, each record checked. Refuses and says what is damaged
    /// when something cannot be read.
    Export {
        /// The file to write (replaced only once the export is complete).
        #[arg(long)]
        to: PathBuf,
        /// On a damaged directory, write what is intact (the log up to the damage, every
        /// readable credential) and list what is lost.
        #[arg(long)]
        salvage: bool,
    },
    /// Rebuilds a new data directory (`--data`, absent or empty) from an export file.
    Import {
        /// The export file.
        file: PathBuf,
    },
    /// Checks this machine for a center: time zone, clock sync, free disk, open-files limit,
    /// the port, the center file and the data directory; says what to fix. Without flags it
    /// checks what the installed service uses.
    Doctor {
        /// Free disk (MB) below which the data directory's disk is reported.
        #[arg(long, default_value_t = luot_server::doctor::DEFAULT_MIN_FREE_BYTES >> 20)]
        min_free_mb: u64,
    },
    /// Backs up a running server: its export (GET /api/v1/admin/export) into a new file of
    /// DIR, checked before it is kept; the oldest beyond --keep are deleted.
    Backup {
        /// The running server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A file holding an admin token (not readable by everyone).
        #[arg(long)]
        token_file: PathBuf,
        /// The directory of the backups.
        #[arg(long)]
        to_dir: PathBuf,
        /// How many backups are kept.
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u16).range(1..))]
        keep: u16,
    },
    /// The province's hub: projects every site's shipped log from NATS JetStream into
    /// PostgreSQL and serves the provincial page `/province` and its API.
    Hub(HubArgs),
}

#[derive(clap::Args)]
struct HubArgs {
    /// PostgreSQL connection string (`postgres://USER:PASSWORD@HOST/DB`).
    #[arg(long, env = "LUOT_HUB_POSTGRES")]
    postgres: String,
    /// NATS server(s) with JetStream: `nats://HOST:PORT`, commas between a cluster's servers.
    #[arg(long, env = "LUOT_HUB_NATS")]
    nats: Option<String>,
    /// Address the provincial page and API listen on.
    #[arg(long, env = "LUOT_HUB_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Replicas of the province's stream when the hub creates it (3 in a three-node cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    #[command(subcommand)]
    action: Option<HubCmd>,
}

#[derive(Subcommand)]
enum HubCmd {
    /// Tokens for the province's API.
    Token {
        #[command(subcommand)]
        action: HubTokenCmd,
    },
    /// Accounts of the provincial page.
    User {
        #[command(subcommand)]
        action: HubUserCmd,
    },
    /// The sites the province takes events from.
    Site {
        #[command(subcommand)]
        action: HubSiteCmd,
    },
}

#[derive(Subcommand)]
enum HubSiteCmd {
    /// Enrolls a site; prints its key (for the site's --ship-key) as the last line. For a site
    /// already enrolled, prints the key it has.
    Add {
        /// The site's id (its --site).
        site: String,
        /// The key the site already has (a database rebuilt from the stream, a second hub):
        /// its `--ship-key`.
        #[arg(long)]
        key: Option<String>,
    },
    /// Lists the enrolled sites.
    List,
    /// Removes a site's key: its events are refused from now on (what was projected stays).
    Remove {
        /// The site's id.
        site: String,
    },
}

#[derive(Subcommand)]
enum HubTokenCmd {
    /// Creates a token and prints it as the last line.
    Create {
        /// Role: admin or viewer.
        #[arg(long)]
        role: String,
        /// A label shown in the logs.
        #[arg(long)]
        label: Option<String>,
    },
    /// Lists the tokens (ids, roles, labels; never the tokens).
    List,
    /// Revokes a token: the token itself or its id.
    Revoke {
        /// `lh_…`, or the id `list` shows.
        token: String,
    },
}

#[derive(Subcommand)]
enum HubUserCmd {
    /// Creates an account (or sets its password and role); prints a new password as the last
    /// line unless `--password-stdin` gives one.
    Set {
        /// User name.
        name: String,
        /// Role: admin or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deletes an account; its sessions end.
    Delete {
        /// User name.
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Creates a token and prints it as the last line.
    Create {
        /// Role: kiosk, display, staff or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// For a staff token: the one counter it may act at.
        #[arg(long)]
        counter: Option<u32>,
        /// A label shown in lists and recorded as the actor.
        #[arg(long)]
        label: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}; use kiosk, display, staff or admin"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes, without a backtrace: these are messages for the
            // person at the console.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    match cli.command {
        Some(Cmd::Token { action }) => return token(&cli.data, action),
        Some(Cmd::Export { to, salvage }) => return export(&cli.data, &to, salvage),
        Some(Cmd::Import { file }) => return import(&cli.data, &file),
        Some(Cmd::Hub(args)) => return hub(args, &cli.province),
        Some(Cmd::Doctor { min_free_mb }) => {
            return doctor(&mut cli, &matches, min_free_mb);
        }
        Some(Cmd::Backup {
            server,
            token_file,
            to_dir,
            keep,
        }) => {
            return backup(luot_server::backup_job::BackupOptions {
                server,
                token_file,
                dir: to_dir,
                keep: usize::from(keep),
            });
        }
        None => {}
    }
    let ship = match (&cli.ship, &cli.site) {
        (Some(url), Some(site)) => {
            let key = cli.ship_key.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "--ship needs the site's key (--ship-key or LUOT_SHIP_KEY), from `luot-server hub site add {site}`"
                )
            })?;
            Some(
                luot_server::ship::ShipConfig::new(url, site, &cli.province, key)
                    .map_err(|e| anyhow::anyhow!(e))?,
            )
        }
        (None, Some(_)) => anyhow::bail!("--site names this center for --ship; give both"),
        _ => None,
    };
    raise_open_files_limit();
    let center = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                CenterFile::parse(&text)
                    .with_context(|| format!("invalid center file {}", path.display()))?,
            )
        }
        None => None,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let server = Server::open(Options {
            data_dir: cli.data.clone(),
            center,
            ship,
        })?;
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        let addr = listener.local_addr()?;
        say(&format!("Lượt is serving http://{addr}"));
        say(&format!("  counter console  http://{addr}/counter"));
        say(&format!("  admin            http://{addr}/admin"));
        say(&format!(
            "  lobby screen     http://{addr}/display?token=<a display token from /admin>"
        ));
        say(&format!("  state            http://{addr}/api/v1/state"));
        say(&format!("  events           ws://{addr}/ws"));
        say(&format!("  metrics          http://{addr}/metrics"));
        say(&format!("  data             {}", cli.data.display()));
        if let Some(password) = &server.first_admin_password {
            say(&format!(
                "First run: log in as 'admin' with password {password} (shown only this once)"
            ));
        }
        server.run(listener, shutdown_signal()).await
    })
}

fn hub(args: HubArgs, province: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match args.action {
            Some(HubCmd::Token {
                action: HubTokenCmd::Create { role, label },
            }) => {
                let token = luot_server::hub::create_token(&args.postgres, &role, label).await?;
                say(&format!("created {role} token for the province's API"));
                say(&token);
                Ok(())
            }
            Some(HubCmd::Site { action }) => match action {
                HubSiteCmd::Add { site, key } => {
                    let (key, new) =
                        luot_server::hub::add_site(&args.postgres, &site, key.as_deref()).await?;
                    say(&if new {
                        format!("site {site:?} enrolled; give it this key (--ship-key or LUOT_SHIP_KEY):")
                    } else {
                        format!("site {site:?} is enrolled already; its key:")
                    });
                    say(&key);
                    Ok(())
                }
                HubSiteCmd::List => {
                    for (site, created) in luot_server::hub::list_sites(&args.postgres).await? {
                        say(&format!("{site}\t{created}"));
                    }
                    Ok(())
                }
                HubSiteCmd::Remove { site } => {
                    luot_server::hub::remove_site(&args.postgres, &site).await?;
                    say(&format!("site {site:?} removed; its events are refused from now on"));
                    Ok(())
                }
            },
            Some(HubCmd::Token {
                action: HubTokenCmd::List,
            }) => {
                for (id, role, label, created) in
                    luot_server::hub::list_tokens(&args.postgres).await?
                {
                    say(&format!("{id}\t{role}\t{label}\t{created}"));
                }
                Ok(())
            }
            Some(HubCmd::Token {
                action: HubTokenCmd::Revoke { token },
            }) => {
                let label = luot_server::hub::revoke_token(&args.postgres, &token).await?;
                say(&format!("revoked token {label:?}"));
                Ok(())
            }
            Some(HubCmd::User {
                action: HubUserCmd::Delete { name },
            }) => {
                luot_server::hub::delete_user(&args.postgres, &name).await?;
                say(&format!("account {name:?} deleted"));
                Ok(())
            }
            Some(HubCmd::User {
                action:
                    HubUserCmd::Set {
                        name,
                        role,
                        password_stdin,
                    },
            }) => {
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    (line.trim_end_matches(['\r', '\n']).to_owned(), false)
                } else {
                    (luot_server::auth::random_hex(8), true)
                };
                luot_server::hub::set_user(&args.postgres, &name, &role, &password).await?;
                say(&format!("account {name:?} ({role}) set"));
                if generated {
                    say(&password);
                }
                Ok(())
            }
            None => {
                let nats = args
                    .nats
                    .ok_or_else(|| anyhow::anyhow!("the hub needs --nats nats://HOST:PORT"))?;
                luot_server::ship::check_id("province", province)
                    .map_err(|e| anyhow::anyhow!(e))?;
                luot_server::ship::NatsAuth::of(&nats).map_err(|e| anyhow::anyhow!(e))?;
                // Before the page is announced: once it is, the schema is there.
                luot_server::hub::migrate(&args.postgres).await?;
                let listener = tokio::net::TcpListener::bind(args.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", args.listen))?;
                let addr = listener.local_addr()?;
                say(&format!(
                    "Lượt hub of province {province} is serving http://{addr}/province"
                ));
                luot_server::hub::run(
                    luot_server::hub::HubConfig {
                        nats,
                        postgres: args.postgres,
                        province: province.to_owned(),
                        replicas: args.replicas,
                    },
                    listener,
                    shutdown_signal(),
                )
                .await
            }
        }
    })
}

/// Prints a line for the person who started the server. A closed stdout (piped into `head`,
/// a supervisor that stopped reading) must not stop the server, so write errors are ignored
/// rather than panicking as `println!` would.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn token(data: &std::path::Path, action: TokenCmd) -> anyhow::Result<()> {
    let TokenCmd::Create {
        role,
        counter,
        label,
    } = action;
    if counter.is_some() && !matches!(role, Role::Staff | Role::Kiosk) {
        anyhow::bail!("--counter applies to staff and kiosk (rating screen) tokens only");
    }
    std::fs::create_dir_all(data)?;
    let store = Store::open(data).with_context(|| {
        format!(
            "cannot open {} (is the server running on it?)",
            data.display()
        )
    })?;
    let (token, record) = auth::create_token(&store, role, counter, label)?;
    say(&format!(
        "created {} token {:?} (id {})",
        role.as_str(),
        record.label,
        record.id
    ));
    say(&token);
    Ok(())
}

fn export(data: &std::path::Path, to: &std::path::Path, salvage: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    if !data.join("db").is_file() {
        anyhow::bail!("{} is not a data directory (no db file)", data.display());
    }
    let store = Store::open(data).with_context(|| {
        format!(
            "cannot open {} (is the server running on it? use GET /api/v1/admin/export then)",
            data.display()
        )
    })?;
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut options = std::fs::File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = luot_server::backup::export(&store, &mut out, salvage);
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&partial);
            if let luot_server::backup::ExportError::Damaged(damage) = &e {
                anyhow::bail!(
                    "nothing exported: {}
{}",
                    damage,
                    if salvage {
                        String::new()
                    } else {
                        format!(
                            "Add --salvage to export what is intact (events 1 to {}) and list what is lost.",
                            damage.intact_events
                        )
                    }
                );
            }
            return Err(e.into());
        }
    };
    out.flush()?;
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    say(&format!(
        "exported {} events, {} tokens, {} accounts, {} settings to {}",
        summary.events,
        summary.tokens,
        summary.users,
        summary.meta,
        to.display()
    ));
    for lost in &summary.lost {
        say(&format!("LOST (damaged, not exported): {lost}"));
    }
    Ok(())
}

fn import(data: &std::path::Path, file: &std::path::Path) -> anyhow::Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let summary = luot_server::backup::import(data, std::io::BufReader::new(input))
        .with_context(|| format!("import of {} refused", file.display()))?;
    say(&format!(
        "imported {} events, {} tokens, {} accounts, {} settings into {}",
        summary.events,
        summary.tokens,
        summary.users,
        summary.meta,
        data.display()
    ));
    for note in &summary.lost {
        say(&format!("note: {note}"));
    }
    Ok(())
}

fn doctor(cli: &mut Cli, matches: &clap::ArgMatches, min_free_mb: u64) -> anyhow::Result<()> {
    use clap::parser::ValueSource;
    use luot_server::doctor;
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    // Without flags, check what the installed service runs with.
    for (flag, value) in doctor::service_flags() {
        match flag.as_str() {
            "data" if !given("data") => cli.data = PathBuf::from(value),
            "config" if !given("config") => cli.config = Some(PathBuf::from(value)),
            "listen" if !given("listen") => {
                if let Ok(addr) = value.parse() {
                    cli.listen = addr;
                }
            }
            _ => {}
        }
    }
    let findings = doctor::run(&doctor::DoctorOptions {
        data: cli.data.clone(),
        center_file: cli.config.clone(),
        listen: cli.listen,
        min_free_bytes: min_free_mb.saturating_mul(1 << 20),
    });
    say(doctor::render(&findings).trim_end());
    if findings.iter().any(|f| f.verdict == doctor::Verdict::Fail) {
        anyhow::bail!("the checks above found something to fix / có lỗi cần sửa ở trên");
    }
    Ok(())
}

fn backup(options: luot_server::backup_job::BackupOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let written = runtime.block_on(luot_server::backup_job::run(&options))?;
    say(&format!(
        "backed up {} events ({} bytes) to {}",
        written.events,
        written.bytes,
        written.path.display()
    ));
    for old in &written.deleted {
        say(&format!("deleted {}", old.display()));
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
