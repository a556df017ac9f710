use clap::Parser;

fn main() -> std::process::ExitCode {
    deidfs::commands::run(deidfs::cli::Cli::parse())
}
