//! `pipedreamer completions SHELL`: the shell completion script (clap_complete) on stdout, built
//! from the same command definition the CLI parses with, so it cannot drift from the flags.

use crate::cli::CompletionsArgs;

/// Runs the command.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = crate::cli::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(())
}
