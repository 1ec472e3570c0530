//! `--help`, `--version` and an unknown command, in the shape runc (with
//! urfave/cli) prints them, which its test suite and clients read: help
//! starts with `NAME:` and `   PROGRAM - Open Container Initiative runtime`
//! (a command's with `   PROGRAM COMMAND - ...`); the version is
//! `NAME version X`, `commit: ...`, `spec: X.Y.Z`, `libseccomp: X.Y.Z`
//! (containerd's go-runc and Docker parse these lines); an unknown command
//! is "No help topic for 'foo'", exit status 3.
//!
//! PROGRAM is the name brig was started as (as in clap's usage lines).
//! NAME is brig, or runc when brig is installed under that name (a drop-in
//! runc, where clients and runc's tests expect `runc version`).

use std::ffi::OsStr;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// The name brig was started as (argv[0]'s file name; "brig" without
/// one). Pure.
pub fn program_name(argv0: &OsStr) -> String {
    match Path::new(argv0).file_name() {
        Some(n) if !n.is_empty() => n.to_string_lossy().into_owned(),
        _ => "brig".into(),
    }
}

/// The name `--version` gives: "runc" when started as runc, else "brig".
/// Pure.
pub fn version_name(program: &str) -> &'static str {
    if program == "runc" {
        "runc"
    } else {
        "brig"
    }
}

/// The `--version` text.
pub fn version_text(name: &str) -> String {
    format!(
        "{name} version {version}\ncommit: {commit}\nspec: {spec}\nlibseccomp: {seccomp}\n",
        version = env!("CARGO_PKG_VERSION"),
        // A packager may name the source it built (as Debian names its
        // package version for runc); else brig's version.
        commit = option_env!("BRIG_COMMIT").unwrap_or(concat!("v", env!("CARGO_PKG_VERSION"))),
        spec = crate::OCI_VERSION,
        seccomp = libseccomp_version(),
    )
}

fn libseccomp_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".into(),
    }
}

/// What brig is, in the NAME line of `--help` and of brig(8).
pub(crate) const ABOUT: &str = "Open Container Initiative runtime";

/// What `--help` and brig(8) say under the NAME line.
pub(crate) fn description(name: &str) -> String {
    format!(
        "{name} runs containers from OCI bundles (a config.json and a root
filesystem) and speaks runc's command line, so containerd, podman and
Docker can use it in runc's place. To run one:

    # {name} run [ -b bundle ] <container-id>"
    )
}

/// The clap command with runc-shaped help for `program` and every verb.
/// The manual pages and shell completions are generated from it too
/// (commands/man.rs, commands/completion.rs), so they cannot drift from
/// what brig parses.
pub fn command(program: &str) -> clap::Command {
    let name = program;
    let top = format!(
        "NAME:
   {name} - {ABOUT}

{description}

USAGE:
   {name} [global options] command [command options] [arguments...]

VERSION:
{version}
COMMANDS:
{{subcommands}}

GLOBAL OPTIONS:
{{options}}
",
        description = description(name),
        version = version_text(version_name(program))
            .split_once(" version ")
            .map(|(_, v)| format!("   {v}"))
            .unwrap_or_default(),
    );
    Cli::command().help_template(top).mut_subcommands(|c| {
        let verb = format!(
            "NAME:
   {program} {} - {{about}}

USAGE:
   {{usage}}

OPTIONS:
{{options}}
",
            c.get_name()
        );
        c.help_template(verb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (argv0, program, version) in [
            ("brig", "brig", "brig"),
            ("/usr/local/bin/brig", "brig", "brig"),
            ("/usr/sbin/runc", "runc", "runc"),
            ("runc", "runc", "runc"),
            ("/opt/runc-compat", "runc-compat", "brig"),
            ("", "brig", "brig"),
        ] {
            let p = program_name(OsStr::new(argv0));
            assert_eq!(
                (p.as_str(), version_name(&p)),
                (program, version),
                "{argv0:?}"
            );
        }
    }

    #[test]
    fn version_lines() {
        let v = version_text("brig");
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(
            lines[0],
            concat!("brig version ", env!("CARGO_PKG_VERSION"))
        );
        assert!(lines[1].starts_with("commit: "), "{v}");
        assert_eq!(lines[2], format!("spec: {}", crate::OCI_VERSION));
        assert!(lines[3].starts_with("libseccomp: "), "{v}");
    }

    #[test]
    fn help_shapes() {
        let mut c = command("brig");
        let top = c.render_help().to_string();
        let lines: Vec<&str> = top.lines().collect();
        assert_eq!(lines[0], "NAME:");
        assert_eq!(lines[1], "   brig - Open Container Initiative runtime");
        assert!(
            top.contains("COMMANDS:") && top.contains("GLOBAL OPTIONS:"),
            "{top}"
        );
        let mut c = command("brig");
        c.build();
        let create = c.find_subcommand_mut("create").unwrap();
        let text = create.render_help().to_string();
        assert!(text.starts_with("NAME:\n   brig create - "), "{text}");
    }
}
