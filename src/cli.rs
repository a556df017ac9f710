//! Command-line types only (clap). Converted to plain values by `commands`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "deidfs",
    version,
    about = "DICOM de-identification per PS3.15 Annex E, as a read-only view of an archive"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// Built-in policy name (basic, research) or path to a policy .toml file.
    #[arg(long, default_value = "basic")]
    pub policy: String,
    /// Add a PS3.15 option (e.g. retain-longitudinal-modified-dates); repeatable.
    #[arg(long = "option", value_name = "NAME")]
    pub options: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new random secret key (mode 0600). Never overwrites an existing file.
    Keygen { keyfile: PathBuf },
    /// De-identify one file.
    Deid {
        input: PathBuf,
        output: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Show, per attribute, the action and the value before and after (key holder only: shows PHI).
    Inspect {
        file: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List, show or check policies.
    Policy {
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// De-identify an embedded sample with a throwaway key and print it before and after.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The built-in policies.
    List,
    /// What a policy does (built-in name or path).
    Show { name: String },
    /// Check a policy file; prints the first error with its line.
    Check { path: PathBuf },
}
