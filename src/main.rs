//! `brig`: parse the command line, set up logging, run, print the error
//! chain once, exit. Exit codes are decided here and only here.

use clap::Parser;

use brig::cli::{Cli, Command};
use brig::commands;
use brig::logging::Logger;

fn main() {
    // The container's init is re-executed as `brig init`: skip clap and
    // logging on that path.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init") {
        brig::process::init::main();
    }
    let cli = Cli::parse();
    if cli.version {
        println!(
            "brig version {}\nspec: {}\nlibseccomp: {}",
            env!("CARGO_PKG_VERSION"),
            brig::OCI_VERSION,
            libseccomp_version()
        );
        std::process::exit(0);
    }
    let Some(cmd) = cli.command.as_ref() else {
        eprintln!("brig: no command given; see brig --help");
        std::process::exit(1);
    };
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

fn libseccomp_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".into(),
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
