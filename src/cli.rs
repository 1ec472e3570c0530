//! The command line, flag for flag as runc speaks it. No logic here.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "brig",
    about = "brig: an OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The state root when --root is not given.
pub const DEFAULT_ROOT: &str = "/run/brig";

#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// Directory holding container state.
    #[arg(long, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Write logs to this file instead of stderr.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", default_value = "text",
          value_parser = PossibleValuesParser::new(["text", "json"]).map(|s| match s.as_str() {
              "json" => LogFormat::Json,
              _ => LogFormat::Text,
          }))]
    pub log_format: LogFormat,
    /// Log debug messages.
    #[arg(long)]
    pub debug: bool,
    /// Manage cgroups through systemd.
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Node policy for create, run, exec and seccomp learn/test: a preset, a name in
    /// /etc/brig/policies, or a TOML file (invoked as `brig-NAME`: NAME).
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// Accepted for runc compatibility; brig has no checkpoint support.
    #[arg(long, hide = true)]
    pub criu: Option<String>,
    /// true|false|auto: with --systemd-cgroup, whether the systemd is the
    /// user's own (auto: an ordinary user, or root of a user namespace with
    /// a user bus). Rootless cgroupfs needs no flag (brig goes by the
    /// cgroup's permissions).
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

// Each verb's arguments are built only when that verb is parsed (or its
// help, completion or manual page is asked for): building all of them for
// every call cost each brig start about 1 ms and 45 page faults.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Run the user process of a created container.
    Start(IdArg),
    /// Print the state of a container as JSON.
    State(IdArg),
    /// Send a signal to the container's init (or all its processes).
    Kill(KillArgs),
    /// Delete a container and everything it holds.
    Delete(DeleteArgs),
    /// Create and start a container.
    Run(RunArgs),
    /// List containers under --root.
    List(ListArgs),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Print what this runtime supports, as runtime-spec features JSON.
    Features,
    /// Run a new process inside a container.
    Exec(ExecArgs),
    /// Change a container's cgroup resources.
    Update(UpdateArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Print container events and statistics.
    Events(EventsArgs),
    /// Checkpoint a running container (needs criu; brig checks the
    /// arguments as runc does, then refuses).
    Checkpoint(CheckpointArgs),
    /// Restore a container from a checkpoint (not supported: brig has no CRIU support).
    Restore(UnsupportedArgs),
    /// Node policies (brig's own): list them, show one, or explain what
    /// one does to a bundle or a container.
    Policy(PolicyArgs),
    /// Seccomp profiles (brig's own): `default` prints brig's default
    /// profile as plain OCI `linux.seccomp` JSON; `learn` writes the
    /// profile a workload needs; `test` reports what a profile would deny.
    Seccomp(SeccompArgs),
    /// A posture report (brig's own): how a bundle or a container is
    /// confined, concern by concern, and which Pod Security Standard
    /// levels it meets; for a running container, the kernel's view too.
    Check(CheckArgs),
    /// Print a shell completion script (brig's own) for bash, zsh, fish,
    /// elvish or powershell.
    Completion(CompletionArgs),
    /// Write the manual pages (brig's own) into a directory: brig.8 and
    /// one per command.
    Man(ManArgs),
    /// AppArmor on this host (brig's own): `status` says whether it is
    /// enabled and which profiles are loaded; `load` loads brig-default.
    Apparmor(ApparmorArgs),
    /// The container's init (internal; started by brig itself).
    #[command(hide = true)]
    Init,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// The presets and the policies in /etc/brig/policies.
    List,
    /// A policy as brig reads it (TOML).
    Show {
        /// A preset, a name in /etc/brig/policies, or a file.
        policy: String,
    },
    /// The node's user-namespace pool: each leased range of host ids,
    /// the pod (or container) it belongs to and the containers holding it
    /// (dead holders are dropped first).
    Leases {
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// What the policy (--policy, or a container's own) refuses, clamps
    /// or would change for a bundle or a container; exits 1 when it
    /// refuses.
    Explain {
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// A bundle directory (with config.json) or a container id.
        target: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SeccompArgs {
    #[command(subcommand)]
    pub command: SeccompCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SeccompCommand {
    /// brig's default profile for this machine (its architectures and
    /// kernel) and the given capabilities, as config.json's
    /// `linux.seccomp`: usable straight from a bundle, by brig or runc.
    Default {
        /// A capability the process has (repeatable; default: containerd's
        /// default set). The profile allows what each one needs.
        #[arg(long = "cap", value_name = "CAP")]
        caps: Vec<String>,
    },
    /// Run the bundle as `run` does (foreground, stdio passed through, the
    /// container's exit status), recording every syscall of every thread
    /// and child without changing what they do, then write the allow-list
    /// profile that covers them (`linux.seccomp` JSON). Not a confinement:
    /// nothing is denied while learning.
    Learn {
        /// Where to write the profile.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The bundle (config.json's `linux.seccomp` is not used).
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        #[command(flatten)]
        exec: SeccompExec,
        /// The container's id while it runs (with --exec: the running
        /// container to exec into).
        id: String,
        /// With --exec: the command to run in the container.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Run the bundle as `run` does under a profile in report mode: every
    /// syscall the profile would deny is recorded and let through. Prints
    /// each (name, count, first pid and command) and exits 1 when there is
    /// any, 0 when there is none; the container's exit status goes to
    /// stderr.
    Test {
        /// The profile (`linux.seccomp` JSON, as `learn` and `default`
        /// write it).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// The bundle (config.json's `linux.seccomp` is not used).
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        #[command(flatten)]
        exec: SeccompExec,
        /// The container's id while it runs (with --exec: the running
        /// container to exec into).
        id: String,
        /// With --exec: the command to run in the container.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SeccompExec {
    /// Instead of running a bundle, exec `-- COMMAND...` into running
    /// container ID, as `exec` does (config.json's process with these
    /// args, no terminal). The container must run without a seccomp
    /// filter: the exec'd process would otherwise have to keep it.
    #[arg(long = "exec")]
    pub exec: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApparmorArgs {
    #[command(subcommand)]
    pub command: ApparmorCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ApparmorCommand {
    /// Whether AppArmor is enabled, the profiles loaded, and brig-default's mode.
    Status {
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Load (or replace) brig's default profile, brig-default, with
    /// apparmor_parser; it is also written to /etc/apparmor.d so the
    /// distribution loads it at boot.
    Load,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Exit 1 when the config fails this Pod Security Standard level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub require: Option<CheckLevel>,
    /// A bundle directory (with config.json) or a container id.
    pub target: String,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Where the pages go (created if missing).
    pub dir: PathBuf,
}

/// A Pod Security Standard level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckLevel {
    Privileged,
    Baseline,
    Restricted,
}

// Whatever runc's verb takes: brig refuses the verb itself. (A doc
// comment here would replace the verb's description in --help.)
#[derive(Debug, Clone, Args)]
pub struct UnsupportedArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when terminal is true.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Write the container's init pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra descriptors (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// Signal every process in the container, not just init.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Signal name (KILL or SIGKILL) or number; default SIGTERM.
    pub signal: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Kill the container if it is running.
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SpecArgs {
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a spec for a rootless container.
    #[arg(long)]
    pub rootless: bool,
    /// Also embed brig's default seccomp profile (a brig extension; the
    /// spec is otherwise runc's, which has none).
    #[arg(long)]
    pub seccomp: bool,
    /// brig's secure defaults (a brig extension): a user namespace with a
    /// mapping, no capabilities, brig's default seccomp profile for none,
    /// no_new_privs, a read-only root, brig-default AppArmor where enabled.
    #[arg(long)]
    pub hardened: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// A process.json describing the process to run.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the exec'd process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run in an existing sub-cgroup: [CONTROLLER[,CONTROLLER]:]PATH (repeatable).
    #[arg(long)]
    pub cgroup: Vec<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// A JSON LinuxResources file, or - for stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// cgroup SCHED_IDLE: 1, or 0 (the default behaviour).
    #[arg(long = "cpu-idle", allow_negative_numbers = true)]
    pub cpu_idle: Option<i64>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Debug, Clone, Args)]
pub struct PsArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Extra arguments for ps(1) in table format.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

// runc's `checkpoint` flags, so that callers get the same argument errors.
// (A doc comment here would replace the verb's description in --help.)
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Path for saving criu image files (default: ./checkpoint).
    #[arg(long)]
    pub image_path: Option<std::path::PathBuf>,
    /// Path for saving work files and logs.
    #[arg(long)]
    pub work_path: Option<std::path::PathBuf>,
    /// Path of the previous criu images (pre-dump), relative to --image-path.
    #[arg(long)]
    pub parent_path: Option<std::path::PathBuf>,
    #[arg(long)]
    pub leave_running: bool,
    #[arg(long)]
    pub tcp_established: bool,
    #[arg(long)]
    pub ext_unix_sk: bool,
    #[arg(long)]
    pub shell_job: bool,
    #[arg(long)]
    pub lazy_pages: bool,
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub status_fd: i32,
    #[arg(long)]
    pub page_server: Option<String>,
    #[arg(long)]
    pub file_locks: bool,
    #[arg(long)]
    pub pre_dump: bool,
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    #[arg(long)]
    pub empty_ns: Vec<String>,
    #[arg(long)]
    pub auto_dedup: bool,
    pub id: String,
}
