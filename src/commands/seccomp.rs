//! `seccomp default [--cap CAP]...`: brig's default seccomp profile as
//! plain OCI JSON, for an operator to put in a bundle (or hand to runc).
//! `seccomp learn`: the profile a workload needs, recorded while it runs.
//! `seccomp test`: what a profile would deny that workload, denying
//! nothing. Both run the bundle as `run` does with brig's own supervisor
//! (process/supervisor.rs) in place of `linux.seccomp`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use crate::cli::{CreateArgs, GlobalOpts, RunArgs, SeccompArgs, SeccompCommand};
use crate::error::{Error, IoResultExt, Result};
use crate::linux::seccomp::learned::{self, Call, Recording};
use crate::linux::seccomp::{self, default_profile_for, DEFAULT_CAPS};
use crate::process::exec::{self, ExecOpts};
use crate::process::supervisor::{Agent, Running};
use crate::state::State;

pub fn run(global: &GlobalOpts, a: &SeccompArgs) -> Result<i32> {
    match &a.command {
        SeccompCommand::Default { caps } => default(caps),
        SeccompCommand::Learn {
            output,
            bundle,
            exec,
            id,
            command,
        } => learn(
            global,
            output,
            &Target::new(bundle, exec.exec, id, command)?,
        ),
        SeccompCommand::Test {
            profile,
            bundle,
            exec,
            id,
            command,
        } => test(
            global,
            profile,
            &Target::new(bundle, exec.exec, id, command)?,
        ),
    }
}

/// What runs under the supervisor.
enum Target<'a> {
    /// A new container from a bundle, as `run`.
    Bundle { bundle: &'a Path, id: &'a str },
    /// One more process in a running container, as `exec`.
    Exec { id: &'a str, args: &'a [String] },
}

impl<'a> Target<'a> {
    fn new(bundle: &'a Path, exec: bool, id: &'a str, command: &'a [String]) -> Result<Self> {
        match (exec, command.is_empty()) {
            (false, true) => Ok(Target::Bundle { bundle, id }),
            (true, false) => Ok(Target::Exec { id, args: command }),
            (true, true) => Err(Error::invalid("--exec needs a command after --")),
            (false, false) => Err(Error::invalid(
                "a command after -- is only for --exec (a bundle runs its own process)",
            )),
        }
    }

    fn id(&self) -> &str {
        match self {
            Target::Bundle { id, .. } | Target::Exec { id, .. } => id,
        }
    }

    /// Runs it with `agent`: the exit status and what was recorded.
    fn run(&self, global: &GlobalOpts, agent: Agent) -> Result<(i32, Option<Recording>)> {
        match self {
            Target::Bundle { bundle, id } => {
                crate::commands::run::run_with(global, &run_args(bundle, id), Some(agent))
            }
            Target::Exec { id, args } => exec_supervised(global, id, args, agent),
        }
    }

    /// Refused before anything runs (the plan checks again).
    fn check(&self, global: &GlobalOpts) -> Result<()> {
        if let Target::Exec { id, .. } = self {
            let st = State::load(&global.root, id)?;
            if st
                .config
                .linux()
                .as_ref()
                .is_some_and(|l| l.seccomp().is_some())
            {
                return Err(Error::invalid(format!(
                    "container {id} has a seccomp filter, which an exec'd process must keep: \
                     learn or test with the bundle instead"
                )));
            }
        }
        Ok(())
    }
}

/// `exec` of `args` (config.json's process otherwise) into container
/// `id`, in the foreground, with `agent` in place of the filter.
fn exec_supervised(
    global: &GlobalOpts,
    id: &str,
    args: &[String],
    agent: Agent,
) -> Result<(i32, Option<Recording>)> {
    let st = State::load(&global.root, id)?;
    exec::check_status(st.current_status(&global.root), false)?;
    let mut process = super::exec::base_process(&st)?;
    process.set_args(Some(args.to_vec()));
    process.set_terminal(Some(false));
    let execed = exec::exec(
        &super::runtime_opts(global),
        &st,
        process,
        ExecOpts {
            policy: super::selected_policy(global)?,
            console_socket: None,
            pidfd_socket: None,
            pid_file: None,
            preserve_fds: 0,
            sub_cgroups: &[],
            supervised: Some(agent),
        },
    )?;
    super::run::forward_signals_to(execed.pid)?;
    let code = crate::linux::pid::wait_exit_code(execed.pid, "exec'd process")?;
    let recording = execed.supervisor.map(Running::finish).transpose()?;
    Ok((code, recording))
}

/// Runs the bundle and writes what it called to `output` as an allow-list.
fn learn(global: &GlobalOpts, output: &Path, target: &Target) -> Result<i32> {
    refuse_under_seccomp_policy(global, "learn")?;
    check_output(output)?;
    target.check(global)?;
    let id = target.id();
    let agent = Agent::new(seccomp::learn_filter(seccomp::new_cookie()?)?, None)?;
    let (code, recording) = target.run(global, agent)?;
    let calls = recorded(recording);
    for c in calls.iter().filter(|c| !c.known) {
        eprintln!(
            "brig: seccomp learn {id}: {} has no name libseccomp knows; it is not in the profile",
            c.name
        );
    }
    let profile = learned::learned_profile(&calls);
    let mut json = serde_json::to_string_pretty(&profile)
        .map_err(|e| Error::json("render the learned profile", e))?;
    json.push('\n');
    std::fs::write(output, json).or_io(|| format!("write {}", output.display()))?;
    let n = calls.iter().filter(|c| c.known).count();
    eprintln!(
        "brig: seccomp learn {id}: {n} syscalls written to {}",
        output.display()
    );
    Ok(code)
}

/// Runs the bundle under `profile` in report mode: exit 1 and the table
/// when it would deny anything.
fn test(global: &GlobalOpts, profile_path: &Path, target: &Target) -> Result<i32> {
    refuse_under_seccomp_policy(global, "test")?;
    let profile = read_profile(profile_path)?;
    target.check(global)?;
    let id = target.id();
    let (filter, verdicts) = seccomp::report_filter(&profile, seccomp::new_cookie()?)
        .map_err(|e| e.context(format!("profile {}", profile_path.display())))?;
    let agent = Agent::new(filter, Some(verdicts))?;
    let (code, recording) = target.run(global, agent)?;
    let calls = recorded(recording);
    let what = match target {
        Target::Bundle { .. } => "the container",
        Target::Exec { .. } => "the exec'd process",
    };
    eprintln!("brig: seccomp test {id}: {what} exited with status {code}");
    if calls.is_empty() {
        println!("no syscall would be denied by {}", profile_path.display());
        return Ok(0);
    }
    println!(
        "{} syscalls would be denied by {}:",
        calls.len(),
        profile_path.display()
    );
    print!("{}", learned::denial_table(&calls));
    Ok(1)
}

fn recorded(r: Option<Recording>) -> Vec<Call> {
    r.map(|r| r.calls()).unwrap_or_default()
}

/// `run -b BUNDLE ID` in the foreground, removed afterwards.
fn run_args(bundle: &Path, id: &str) -> RunArgs {
    RunArgs {
        create: CreateArgs {
            bundle: bundle.to_path_buf(),
            console_socket: None,
            pidfd_socket: None,
            pid_file: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            id: id.to_owned(),
        },
        detach: false,
        keep: false,
        no_subreaper: false,
    }
}

/// Refused before anything runs: a directory, or a file in a directory
/// that does not exist.
fn check_output(output: &Path) -> Result<()> {
    if output.is_dir() {
        return Err(Error::invalid(format!(
            "--output {}: is a directory",
            output.display()
        )));
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "--output {}: no directory {}",
            output.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// A `linux.seccomp` object, checked as `run` would check it.
fn read_profile(path: &Path) -> Result<LinuxSeccomp> {
    let text =
        std::fs::read_to_string(path).or_io(|| format!("read profile {}", path.display()))?;
    let profile: LinuxSeccomp = serde_json::from_str(&text).map_err(|e| {
        Error::json(
            format!(
                "profile {}: not a linux.seccomp JSON object",
                path.display()
            ),
            e,
        )
    })?;
    seccomp::validate(&profile).map_err(|e| e.context(format!("profile {}", path.display())))?;
    Ok(profile)
}

/// Learn and test let every syscall through, so under a node policy that
/// enforces seccomp (a profile for unconfined containers, or syscalls to
/// deny) they would be a way around it: refused. The policy's other rules
/// apply as they do to `run`.
fn refuse_under_seccomp_policy(global: &GlobalOpts, verb: &str) -> Result<()> {
    let Some(p) = super::selected_policy(global)? else {
        return Ok(());
    };
    if crate::policy::enforces_seccomp(&p) {
        return Err(Error::policy(
            p.name.clone(),
            "seccomp",
            "linux.seccomp",
            format!("seccomp {verb} lets every syscall through; this policy requires a filter"),
        ));
    }
    Ok(())
}

fn default(caps: &[String]) -> Result<i32> {
    let known = crate::linux::capabilities::known();
    let caps: Vec<String> = if caps.is_empty() {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    } else {
        caps.iter()
            .map(|c| {
                let name = if c.starts_with("CAP_") {
                    c.to_uppercase()
                } else {
                    format!("CAP_{}", c.to_uppercase())
                };
                if known.contains(&name) {
                    Ok(name)
                } else {
                    Err(Error::invalid(format!(
                        "--cap {c}: not a capability this kernel knows"
                    )))
                }
            })
            .collect::<Result<_>>()?
    };
    let profile = serde_json::to_string_pretty(&default_profile_for(&caps))
        .map_err(|e| Error::json("render the default profile", e))?;
    println!("{profile}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_from_flags() {
        let b = Path::new("b");
        let cmd = ["sh".to_string()];
        assert!(matches!(
            Target::new(b, false, "c", &[]),
            Ok(Target::Bundle { id: "c", .. })
        ));
        assert!(matches!(
            Target::new(b, true, "c", &cmd),
            Ok(Target::Exec { id: "c", .. })
        ));
        let e = |r: Result<Target>| r.err().unwrap().chain();
        assert!(e(Target::new(b, true, "c", &[])).contains("--exec needs a command"));
        assert!(e(Target::new(b, false, "c", &cmd)).contains("only for --exec"));
    }

    #[test]
    fn output_must_be_a_file_in_a_directory() {
        let d = tempfile::tempdir().unwrap();
        assert!(check_output(&d.path().join("p.json")).is_ok());
        assert!(check_output(Path::new("p.json")).is_ok());
        let e = check_output(d.path()).unwrap_err().chain();
        assert!(e.contains("is a directory"), "{e}");
        let e = check_output(&d.path().join("no/p.json"))
            .unwrap_err()
            .chain();
        assert!(e.contains("no directory"), "{e}");
    }
}
