use clap::Parser;
use deidfs::cli::Cli;
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    // Run by mount(8) (fstab, systemd): the helper's arguments mean a `deidfs mount`.
    match deidfs::helper::mount_args(&argv) {
        None => {}
        Some(Ok(args)) => argv.splice(1.., args).for_each(drop),
        Some(Err(e)) => {
            eprintln!("deidfs: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse_from(&argv);
    deidfs::commands::run(cli, argv.split_off(1))
}
