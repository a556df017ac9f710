//! The composition root: turns parsed command lines into engine calls and exit codes.

use crate::cli::{Cli, Command, PolicyArgs, PolicyCommand};
use crate::deid::{DeidError, Engine, Outcome};
use crate::io::{FileAt, ReadAt, write_atomically};
use crate::mount::{self, MountSpec};
use crate::policy::{self, Policy};
use crate::pseudonym::{Pseudonyms, SecretKey};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Exit status when a file is refused (not an error of the command itself).
pub const EXIT_REFUSED: u8 = 3;

pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("deidfs: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Keygen { keyfile } => {
            let key = SecretKey::generate_file(&keyfile).map_err(|e| e.to_string())?;
            println!(
                "wrote a new key to {} (key id {}); keep it secret and backed up",
                keyfile.display(),
                Pseudonyms::new(&key).key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Deid {
            input,
            output,
            key_file,
            policy,
        } => deid(&input, &output, &key_file, &policy),
        Command::Inspect {
            file,
            key_file,
            policy,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            print!("{}", inspect(&file, &keys, &policy)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { action } => policy_command(action),
        Command::Mount {
            source,
            mountpoint,
            key_file,
            policy,
            foreground,
            allow_other,
            cache_size,
            threads,
            ttl,
            log_file,
            audit_log,
            ready_pipe,
        } => {
            let ttl = std::time::Duration::from_secs(ttl);
            let spec = MountSpec {
                source,
                mountpoint,
                allow_other,
                threads,
                ttl,
            };
            if !foreground {
                mount::detach(std::env::args_os().skip(1).collect())?;
                let m = spec.mountpoint.display();
                println!("deidfs: mounted at {m}; unmount with `deidfs unmount {m}`");
                return Ok(ExitCode::SUCCESS);
            }
            init_logging(log_file.as_deref(), !ready_pipe)?;
            let (keys, policy) = setup(&key_file, &policy)?;
            let audit = match audit_log {
                Some(p) => Some(Arc::new(
                    crate::audit::AuditLog::open(&p)
                        .map_err(|e| format!("audit log {}: {e}", p.display()))?,
                )),
                None => None,
            };
            let cfg = view_config(policy, keys, cache_size, threads, audit);
            let stop = Arc::new(AtomicBool::new(false));
            mount::serve(&spec, cfg, stop, || {
                if ready_pipe {
                    mount::report_ready();
                } else {
                    eprintln!(
                        "deidfs: mounted at {}; Ctrl-C to unmount",
                        spec.mountpoint.display()
                    );
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve {
            view_path,
            source,
            key_file,
            policy,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let fs = offline_view(&source, keys, policy, PLANNERS)?;
            println!(
                "{}",
                crate::keyholder::resolve(&fs, &source, &view_path)?.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Crosswalk {
            source,
            key_file,
            policy,
            out,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let fs = offline_view(&source, keys.clone(), policy.clone(), PLANNERS)?;
            let n = crate::keyholder::crosswalk(&fs, &policy, &keys, &out)?;
            println!(
                "wrote {} (mode 0600): {} UIDs, {} patient IDs, {} paths",
                out.display(),
                n.uids,
                n.patients,
                n.paths
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            source,
            dest,
            key_file,
            policy,
            jobs,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let planner_id = format!("{}/{}", policy.id(), keys.key_id());
            // `jobs` threads in all: each lists a directory (planning its files) and then
            // writes them, while the others write theirs.
            let fs = offline_view(&source, keys.clone(), policy, 1)?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let start = std::time::Instant::now();
            let s = crate::keyholder::export(&fs, &keys, &planner_id, &dest, jobs, progress)?;
            let secs = start.elapsed().as_secs_f64();
            let hidden: Vec<String> = s.hidden.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!(
                "exported to {}: {} written ({:.1} MB, {:.1} MB/s), {} skipped (unchanged), {} failed; hidden: {}",
                dest.display(),
                s.written,
                s.bytes as f64 / 1e6,
                s.bytes as f64 / 1e6 / secs.max(1e-9),
                s.skipped,
                s.failed,
                if hidden.is_empty() {
                    "none".into()
                } else {
                    hidden.join(", ")
                }
            );
            Ok(if s.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Scan {
            source,
            policy,
            json,
            show_paths,
        } => {
            let policy = load_policy(&policy)?;
            // Visibility does not depend on the key: a throwaway one names nothing shown.
            let fs = offline_view(
                &source,
                Pseudonyms::new(&SecretKey::generate()),
                policy,
                PLANNERS,
            )?;
            let r = crate::keyholder::scan(&fs, show_paths)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", render_scan(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Unmount { mountpoint } => {
            mount::unmount(&mountpoint)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { exit } => {
            crate::demo::run(exit)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render_scan(r: &crate::keyholder::ScanReport) -> String {
    let mut out = format!(
        "visible: {}\nhidden: {}\n",
        r.visible,
        r.hidden.values().sum::<usize>()
    );
    for (title, map) in [
        ("hidden by reason", &r.hidden),
        ("visible by modality", &r.by_modality),
        ("visible by transfer syntax", &r.by_transfer_syntax),
    ] {
        let _ = writeln!(out, "{title}:");
        for (k, v) in map {
            let _ = writeln!(out, "  {k:<40} {v}");
        }
    }
    for (p, reason) in &r.hidden_paths {
        let _ = writeln!(out, "hidden {reason:<22} {p}");
    }
    out
}

/// The view's settings: the mounting user owns everything, the mount time is every timestamp.
pub fn view_config(
    policy: Policy,
    keys: Pseudonyms,
    cache_bytes: u64,
    threads: usize,
    audit: Option<Arc<crate::audit::AuditLog>>,
) -> crate::fs::Config {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::fs::Config {
        planner: Arc::new(crate::fs::Deidentify { policy, keys }),
        cache_bytes,
        // SAFETY: getuid/getgid have no preconditions and cannot fail.
        uid: unsafe { libc::getuid() },
        gid: unsafe { libc::getgid() },
        time: std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        workers: (threads * 2).clamp(4, 16),
        audit,
    }
}

/// Threads planning a directory's files for the key holder's listing tools.
const PLANNERS: usize = 8;

/// A view of `source` for the key holder's tools (no mount). `planners`: threads that plan a
/// directory's files when it is listed.
fn offline_view(
    source: &Path,
    keys: Pseudonyms,
    policy: Policy,
    planners: usize,
) -> Result<crate::fs::DeidFs, String> {
    let src = crate::source::LocalSource::new(source)
        .map_err(|e| format!("source {}: {e}", source.display()))?;
    let mut cfg = view_config(policy, keys, 256 << 20, 4, None);
    cfg.workers = planners;
    Ok(crate::fs::DeidFs::new(Arc::new(src), cfg))
}

/// Logs go to `file` (append, mode 0600), else to stderr when attached, else nowhere.
/// They name files by pseudonym only; the level comes from DEIDFS_LOG (default info).
pub fn init_logging(file: Option<&Path>, attached: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEIDFS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match file {
        Some(path) => {
            let f = crate::io::create_private(path, crate::io::Private::Append)
                .map_err(|e| format!("log file {}: {e}", path.display()))?;
            let _ = builder.with_writer(std::sync::Mutex::new(f)).try_init();
        }
        None if attached => {
            let _ = builder.with_writer(std::io::stderr).try_init();
        }
        None => {}
    }
    Ok(())
}

/// Loads the key and the policy (with command-line options) or explains what is wrong.
pub fn setup(key_file: &Path, args: &PolicyArgs) -> Result<(Pseudonyms, Policy), String> {
    let key = SecretKey::load(key_file).map_err(|e| e.to_string())?;
    let policy = load_policy(args)?;
    Ok((Pseudonyms::new(&key), policy))
}

pub fn load_policy(args: &PolicyArgs) -> Result<Policy, String> {
    let p = policy::load_policy(&args.policy).map_err(|e| e.to_string())?;
    policy::file::with_options(p, &args.options).map_err(|e| e.to_string())
}

fn open(path: &Path) -> Result<FileAt, String> {
    FileAt::open(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))
}

fn deid(
    input: &Path,
    output: &Path,
    key_file: &Path,
    args: &PolicyArgs,
) -> Result<ExitCode, String> {
    let (keys, policy) = setup(key_file, args)?;
    let src = open(input)?;
    let outcome = match Engine::new(&policy, &keys).plan(&src) {
        Ok(o) => o,
        Err(DeidError::Refused(r)) => {
            eprintln!("deidfs: {}: refused ({}): {r}", input.display(), r.reason());
            return Ok(ExitCode::from(EXIT_REFUSED));
        }
        Err(DeidError::Io(e)) => return Err(format!("{}: read error: {e}", input.display())),
    };
    write_atomically(output, true, |f| outcome.plan.write_to_file(&src, f))
        .map_err(|e| format!("{}: cannot write: {e}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn render_trace(out: &mut String, outcome: &Outcome) {
    let _ = writeln!(
        out,
        "{:<34} {:<36} {:<9} {:<32} BEFORE -> AFTER",
        "ELEMENT", "KEYWORD", "ACTION", "WHY"
    );
    for c in &outcome.trace {
        let _ = writeln!(
            out,
            "{:<34} {:<36} {:<9} {:<32} {:?} -> {:?}",
            c.path,
            c.keyword,
            c.action,
            c.why,
            c.before_text(),
            c.after_text()
        );
    }
}

pub fn inspect(path: &Path, keys: &Pseudonyms, policy: &Policy) -> Result<String, String> {
    let src = open(path)?;
    let mut engine = Engine::new(policy, keys);
    engine.trace = true;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "file: {}\npolicy: {} (id {})\nkey id: {}",
        path.display(),
        policy.name,
        policy.id(),
        keys.key_id()
    );
    match engine.plan(&src) {
        Ok(outcome) => {
            let _ = writeln!(
                out,
                "result: de-identified, {} bytes ({} in memory, the rest served from the source; source {} bytes)",
                outcome.plan.len(),
                outcome.plan.inline_bytes(),
                src.len()
            );
            render_trace(&mut out, &outcome);
        }
        Err(DeidError::Refused(r)) => {
            let _ = writeln!(out, "result: refused ({}): {r}", r.reason());
        }
        Err(DeidError::Io(e)) => return Err(format!("{}: read error: {e}", path.display())),
    }
    Ok(out)
}

fn policy_command(action: PolicyCommand) -> Result<ExitCode, String> {
    match action {
        PolicyCommand::List => {
            for name in policy::builtin_names() {
                let p = policy::load_builtin(name).map_err(|e| e.to_string())?;
                println!("{name:<10} {}", p.description);
            }
        }
        PolicyCommand::Show { name } => {
            let p = policy::load_policy(&name).map_err(|e| e.to_string())?;
            print!("{}", policy::file::describe(&p));
        }
        PolicyCommand::Check { path } => {
            let p = policy::load_policy(&path.to_string_lossy()).map_err(|e| e.to_string())?;
            println!("{}: ok (policy {}, id {})", path.display(), p.name, p.id());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The embedded demo: a synthetic CT slice full of fake PHI, de-identified with a throwaway key.
pub fn demo() -> Result<String, DeidError> {
    let source = crate::demo::ct_slice(0, 1, 2, 3, 64, 64);
    let keys = Pseudonyms::new(&SecretKey::generate());
    let policy = policy::load_builtin("basic").map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut engine = Engine::new(&policy, &keys);
    engine.trace = true;
    let outcome = engine.plan(&source)?;
    let result = outcome.plan.to_vec(&source)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deidfs demo: a synthetic CT slice with fake PHI, de-identified with policy 'basic' and a throwaway key\n"
    );
    let _ = writeln!(
        out,
        "{:<36} {:<9} {:<38} AFTER",
        "ATTRIBUTE", "ACTION", "BEFORE"
    );
    for c in outcome
        .trace
        .iter()
        .filter(|c| c.action != "keep" || c.keyword == "Modality")
    {
        let _ = writeln!(
            out,
            "{:<36} {:<9} {:<38} {}",
            c.keyword,
            c.action,
            c.before_text(),
            c.after_text()
        );
    }
    let pixels_same = source.ends_with(&result[result.len() - 64 * 64 * 2..]);
    let _ = writeln!(
        out,
        "\nsource {} bytes -> de-identified {} bytes; Pixel Data byte-identical: {}; plan: {} segments, {} bytes from the source",
        source.len(),
        result.len(),
        pixels_same,
        outcome.plan.segments().len(),
        outcome.plan.len() - outcome.plan.inline_bytes()
    );
    Ok(out)
}
