//! Every command line flag, in one place. Command files only wire these to library calls.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Write small event-driven workflows, run them locally, ship them to Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "pipedreamer", version, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format for commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON on stdout.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new workflow: workflow.yaml, two nodes, types and a secrets example.
    Init(InitArgs),
    /// Check a workflow and report every problem with file:line:col.
    Validate(ValidateArgs),
    /// Run a workflow locally with live reload (no Docker, no cluster).
    Dev(DevArgs),
    /// Build a minimal, reproducible OCI image (no Docker daemon needed).
    Build(BuildArgs),
}

/// `pipedreamer build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Image tag (default: `<name>:<version with dots as dashes>`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Registry (and optional namespace) to prefix the tag with, e.g. `ghcr.io/acme`.
    #[arg(long, short)]
    pub registry: Option<String>,
    /// Push to the registry over the OCI distribution API.
    #[arg(long)]
    pub push: bool,
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Write a tar that `docker load` and `podman load` accept.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Write an OCI image layout directory.
    #[arg(long)]
    pub oci_layout: Option<PathBuf>,
    /// Generate Dockerfile.pipedreamer and run `docker build` / `podman build` instead.
    #[arg(long)]
    pub dockerfile: bool,
    /// The static engine binary (default: $PIPEDREAMER_ENGINE, else next to `pipedreamer`).
    #[arg(long, env = "PIPEDREAMER_ENGINE")]
    pub engine: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the workflow in (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Workflow name (default: the directory name, made DNS-safe).
    #[arg(long)]
    pub name: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Port to listen on.
    #[arg(long, short, default_value_t = 8080, env = "PORT")]
    pub port: u16,
    /// Address to bind (loopback by default: dev servers should not face the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Do not reload when files change.
    #[arg(long)]
    pub no_watch: bool,
    /// Do not schedule cron triggers locally.
    #[arg(long)]
    pub no_cron: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = pipedreamer_engine::logging::LogFormat::Text)]
    pub log_format: pipedreamer_engine::logging::LogFormat,
}
