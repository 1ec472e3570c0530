//! `brig`: parse the command line, set up logging, run, print the error
//! chain once, exit. Exit codes are decided here and only here.
//!
//! brig starts from its own C `main`, not Rust's runtime start
//! (`no_main`): that one asks glibc where the main thread's stack ends,
//! which for the main thread means reading and scanning
//! /proc/self/maps, and installs a stack overflow handler with its own
//! stack, about 0.1 ms on each of the two starts of every container and
//! every call from a client (issue 15). What of it brig needs is done by
//! [`brig::process::start`]: descriptors 0-2 open, SIGPIPE ignored. A stack
//! overflow is still caught by the kernel's guard gap (the process dies of
//! SIGSEGV instead of printing a line first). `std::env::args` works as
//! before: glibc hands argv to the standard library's initializer.
#![no_main]

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::FromArgMatches;

use brig::cli::{Cli, Command};
use brig::commands;
use brig::commands::help;
use brig::logging::Logger;

/// The process's entry, called by glibc's start code. Never returns:
/// every path ends in `std::process::exit`, which flushes stdout.
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    brig::process::start::runtime_init();
    brig_main()
}

fn brig_main() -> ! {
    // The container's init is re-executed as `brig init`: skip clap and
    // logging on that path.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init") {
        brig::process::init::main();
    }
    let program = help::program_name(&std::env::args_os().next().unwrap_or_default());
    let (mut cli, root_given) = match parse() {
        Ok(parsed) => parsed,
        // Help, the version and every misuse are reported by the command
        // with runc's help templates: parsed again with it, the same words
        // give the same outcome.
        Err(_) => match parse_with(help::command(&program)) {
            Ok(parsed) => parsed,
            Err(e) => std::process::exit(usage_error(&program, e)),
        },
    };
    if cli.version {
        print!("{}", help::version_text(help::version_name(&program)));
        std::process::exit(0);
    }
    let Some(cmd) = cli.command.as_ref() else {
        // As runc: no command prints the help.
        let _ = help::command(&program).print_help();
        std::process::exit(0);
    };
    if !root_given {
        if let Err(e) = use_user_state_root(&mut cli.global.root) {
            eprintln!("brig: {}", e.chain());
            std::process::exit(1);
        }
    }
    let g = &cli.global;
    let logger = Logger::new(g.log.as_deref(), g.log_format, g.debug);
    let to_file = logger.is_file();
    let logger = std::sync::Arc::new(logger);
    let _ = tracing::subscriber::set_global_default(ArcSubscriber(logger.clone()));

    let code = match commands::dispatch(g, cmd) {
        Ok(code) => code,
        Err(e) => {
            let line = format!("{}: {}", commands::subject(cmd), e.chain());
            // The last "level":"error" line of the log is what containerd
            // and podman show their users; stderr gets the same line once.
            if to_file {
                logger.write_line(tracing::Level::ERROR, &line);
            }
            eprintln!("brig: {line}");
            // As runc: a failed exec exits 255, so it cannot be taken for
            // the exit status of the process it was to run.
            if matches!(cmd, Command::Exec(_)) {
                255
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

/// The command line as clap parses it, and whether `--root` was given.
/// The command used is built bare (no help templates: they are only
/// read when help is printed) and is not dropped, only the process's exit
/// frees it: building and freeing it is most of a brig start's work.
fn parse() -> Result<(Cli, bool), clap::Error> {
    parse_with(<Cli as clap::CommandFactory>::command())
}

fn parse_with(mut cmd: clap::Command) -> Result<(Cli, bool), clap::Error> {
    let m = cmd.try_get_matches_from_mut(std::env::args_os());
    std::mem::forget(cmd);
    let m = m?;
    Ok((Cli::from_arg_matches(&m)?, root_given(&m)))
}

/// True when `--root` was on the command line.
fn root_given(m: &clap::ArgMatches) -> bool {
    matches!(
        m.value_source("root"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    )
}

/// An ordinary user's state root is `$XDG_RUNTIME_DIR/brig` (runc's
/// `$XDG_RUNTIME_DIR/runc`): made 0700 and sticky, as runc does, because
/// the XDG spec has files there without the sticky bit cleaned up.
fn use_user_state_root(root: &mut std::path::PathBuf) -> brig::Result<()> {
    use brig::error::IoResultExt;
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = brig::rootless::default_state_root(
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
        nix::unistd::geteuid().is_root(),
        brig::rootless::in_user_ns(),
        std::env::var_os("USER").as_deref(),
    ) else {
        return Ok(());
    };
    brig::state::ensure_root(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1700))
        .or_io(|| format!("chmod {}", dir.display()))?;
    *root = dir;
    Ok(())
}

/// What clap could not parse, as runc reports it: help on stdout (exit
/// 0); an unknown command is "No help topic" (exit 3); any other misuse
/// is clap's message on stderr, exit 1 (runc's exit status for it).
fn usage_error(name: &str, e: clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let topic = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            eprintln!("{name}: No help topic for '{topic}'");
            3
        }
        _ => {
            let _ = e.print();
            1
        }
    }
}

struct ArcSubscriber(std::sync::Arc<Logger>);

impl tracing::Subscriber for ArcSubscriber {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.0.new_span(a)
    }
    fn record(&self, s: &tracing::span::Id, r: &tracing::span::Record<'_>) {
        self.0.record(s, r)
    }
    fn record_follows_from(&self, a: &tracing::span::Id, b: &tracing::span::Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &tracing::Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &tracing::span::Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &tracing::span::Id) {
        self.0.exit(s)
    }
}
