//! One file per command; each wires parsed flags to library calls and prints the result.

pub mod build;
pub mod ci;
pub mod cluster;
pub mod completions;
pub mod deploy;
pub mod dev;
pub mod init;
pub mod kube;
pub mod ops;
pub mod runs;
pub mod server;
pub mod test;
pub mod validate;
