//! The command line, dispatched: each subcommand's arguments become calls into `run` (the
//! composition root) and `tools`, and their results become printed lines and exit codes.

use crate::archive::Archive;
use crate::cli::{Cli, Command, PolicyArgs, PolicyCommand};
use crate::mount::{self, MountSpec};
use crate::policy::{self, Policy};
use crate::pseudonym::{Pseudonyms, SecretKey};
use crate::run::{self, MountRequest, PLANNERS};
use crate::tools;
use std::path::Path;
use std::process::ExitCode;

/// Exit status when a file is refused (not an error of the command itself).
pub const EXIT_REFUSED: u8 = 3;

/// Runs the parsed command line; `args` is the command line it was parsed from (without the
/// program name), which a detaching mount hands to its daemon.
pub fn run(cli: Cli, args: Vec<std::ffi::OsString>) -> ExitCode {
    match dispatch(cli, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("deidfs: {}", crate::error_text(&e));
            ExitCode::FAILURE
        }
    }
}

fn setup(key_file: &Path, args: &PolicyArgs) -> anyhow::Result<(Pseudonyms, Policy)> {
    let keys = run::load_keys(key_file)?;
    Ok((keys, run::load_policy(&args.policy, &args.options)?))
}

fn dispatch(cli: Cli, args: Vec<std::ffi::OsString>) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen { keyfile } => {
            let key = SecretKey::generate_file(&keyfile)?;
            println!(
                "wrote a new key to {} (key id {}); keep it secret and backed up",
                keyfile.display(),
                Pseudonyms::new(&key).key_id()
            );
        }
        Command::Deid {
            input,
            output,
            key_file,
            policy,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            if let Some(r) = run::deid_file(&input, &output, &keys, &policy)? {
                eprintln!("deidfs: {}: refused ({}): {r}", input.display(), r.reason());
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
        }
        Command::Inspect {
            file,
            key_file,
            policy,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let (len, result) = run::trace_file(&file, &keys, &policy)?;
            print!(
                "{}",
                crate::report::inspect(&file, &keys, &policy, len, &result)
            );
        }
        Command::Policy { action } => policy_command(action)?,
        Command::Mount {
            source,
            mountpoint,
            key_file,
            policy,
            store,
            foreground,
            allow_other,
            group,
            uid,
            gid,
            file_mode,
            dir_mode,
            cache_size,
            threads,
            ttl,
            log_file,
            log_format,
            audit_log,
            audit_uncached,
            open_handles,
            metrics,
            index_dir,
            no_index,
            ready_pipe,
        } => {
            let spec = MountSpec {
                mountpoint,
                allow_other,
                threads,
                ttl: std::time::Duration::from_secs(ttl),
                metrics,
            };
            let access = crate::access::Access::from_args(&crate::access::AccessArgs {
                uid,
                gid,
                group,
                file_mode,
                dir_mode,
                allow_other,
            })?;
            // Said where the command was typed (a detached daemon's stderr goes nowhere),
            // once the view is live: a mount that fails says one line, its reason.
            let source = archive(&source, store)?;
            let exposure = source
                .local()
                .and_then(|local| access.exposure(local, allow_other));
            if !foreground {
                mount::detach(args)?;
                let m = spec.mountpoint.display();
                println!("deidfs: mounted at {m}; unmount with `deidfs unmount {m}`");
                if let Some(w) = exposure {
                    eprintln!("deidfs: {w}");
                }
                let syslog = std::path::Path::new(crate::syslog::SOCKET);
                if log_file.is_none() && crate::syslog::Syslog::connect(syslog).is_none() {
                    eprintln!(
                        "deidfs: warning: no system log listens at {} and no --log-file was given: the daemon's logs are lost; mount again with --log-file PATH to keep them",
                        syslog.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let req = MountRequest {
                source,
                spec,
                key_file,
                policy: policy.policy,
                options: policy.options,
                cache_bytes: cache_size,
                access,
                log_file,
                log_format,
                audit_log,
                audit_uncached,
                open_handles,
                attached: !ready_pipe,
                index: (!no_index).then(|| {
                    index_dir.unwrap_or_else(|| crate::archive::default_cache_dir().join("index"))
                }),
            };
            run::mount(&req, || {
                if ready_pipe {
                    mount::report_ready();
                } else {
                    eprintln!(
                        "deidfs: mounted at {}; Ctrl-C to unmount",
                        req.spec.mountpoint.display()
                    );
                }
                if let Some(w) = &exposure {
                    eprintln!("deidfs: {w}");
                }
            })?;
        }
        Command::Resolve {
            view_path,
            source,
            key_file,
            policy,
            store,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let source = archive(&source, store)?;
            let fs = run::offline_view(&source, keys, policy, PLANNERS)?;
            let rel = tools::resolve::resolve(&fs, &view_path)?;
            println!("{}", source.locate(&rel));
        }
        Command::Crosswalk {
            source,
            key_file,
            policy,
            store,
            out,
        } => {
            let (keys, policy) = setup(&key_file, &policy)?;
            let source = archive(&source, store)?;
            let fs = run::offline_view(&source, keys.clone(), policy.clone(), PLANNERS)?;
            let n = tools::crosswalk::crosswalk(&fs, &policy, &keys, &out)?;
            println!(
                "wrote {} (mode 0600): {} UIDs, {} patient IDs, {} paths",
                out.display(),
                n.uids,
                n.patients,
                n.paths
            );
        }
        Command::Export {
            source,
            dest,
            key_file,
            policy,
            store,
            jobs,
            shard,
        } => {
            let shard = shard
                .map(|s| {
                    tools::export::Shard::parse(&s, &|name| std::env::var(name).ok())
                        .map_err(anyhow::Error::msg)
                })
                .transpose()?;
            let source = archive(&source, store)?;
            return export(&source, &dest, &key_file, &policy, jobs, shard);
        }
        Command::Scan {
            source,
            policy,
            store,
            json,
            show_paths,
        } => {
            let policy = run::load_policy(&policy.policy, &policy.options)?;
            // Visibility does not depend on the key: a throwaway one names nothing shown.
            let keys = Pseudonyms::new(&SecretKey::generate());
            let source = archive(&source, store)?;
            let fs = run::offline_view(&source, keys, policy, PLANNERS)?;
            let progress = source
                .local()
                .filter(|_| std::io::IsTerminal::is_terminal(&std::io::stderr()));
            let r = tools::scan::scan(&fs, show_paths, progress)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", crate::report::scan(&r));
            }
        }
        Command::Unmount { mountpoint } => mount::unmount(&mountpoint)?,
        Command::Demo { exit } => crate::demo::run(exit)?,
        Command::Man { dir } => {
            use clap::CommandFactory;
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!("{}: {e}; give a folder you can write", dir.display())
            })?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            println!(
                "wrote deidfs.1 and a page per subcommand to {}; read with `man deidfs`",
                dir.display()
            );
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "deidfs", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The archive a SOURCE argument and the store flags name.
fn archive(source: &Path, store: crate::cli::StoreArgs) -> anyhow::Result<Archive> {
    let options = crate::archive::StoreOptions {
        endpoint: store.endpoint,
        unsigned: store.no_sign_request,
        cache_dir: store.cache_dir,
        cache_bytes: store.disk_cache_size,
    };
    Archive::parse(source, options)
}

fn export(
    source: &Archive,
    dest: &Path,
    key_file: &Path,
    policy: &PolicyArgs,
    jobs: usize,
    shard: Option<tools::export::Shard>,
) -> anyhow::Result<ExitCode> {
    if let Some(local) = source.local() {
        run::check_export_dest(local, dest)?;
    }
    let (keys, policy) = setup(key_file, policy)?;
    // `jobs` threads in all: each lists a directory (planning its files) and then writes
    // them, while the others write theirs.
    let fs = run::offline_view(source, keys.clone(), policy, 1)?;
    let progress = source
        .local()
        .filter(|_| std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let start = std::time::Instant::now();
    let s = tools::export::export(&fs, &keys, dest, jobs, progress, shard)?;
    let secs = start.elapsed().as_secs_f64();
    if s.cleaned > 0 {
        eprintln!(
            "deidfs: removed {} temporary files an interrupted export left",
            s.cleaned
        );
    }
    if s.interrupted {
        println!(
            "interrupted: {} written ({:.1} MB), {} skipped, {} failed, kept in {}; run the same command again to resume",
            s.written,
            s.bytes as f64 / 1e6,
            s.skipped,
            s.failed,
            dest.display()
        );
        return Ok(ExitCode::from(130));
    }
    let hidden: Vec<String> = s.hidden.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!(
        "exported to {}: {} written ({:.1} MB, {:.1} MB/s), {} skipped (unchanged), {} removed (no longer shown), {} failed; hidden: {}",
        dest.display(),
        s.written,
        s.bytes as f64 / 1e6,
        s.bytes as f64 / 1e6 / secs.max(1e-9),
        s.skipped,
        s.removed,
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

fn policy_command(action: PolicyCommand) -> anyhow::Result<()> {
    match action {
        PolicyCommand::List => {
            for name in policy::builtin_names() {
                let p = policy::load_builtin(name)?;
                println!("{name:<10} {}", p.description);
            }
        }
        PolicyCommand::Show { name } => {
            let p = policy::load_policy(&name)?;
            print!("{}", policy::file::describe(&p));
        }
        PolicyCommand::Check { path } => {
            let p = policy::load_policy(&path.to_string_lossy())?;
            println!("{}: ok (policy {}, id {})", path.display(), p.name, p.id());
        }
    }
    Ok(())
}
