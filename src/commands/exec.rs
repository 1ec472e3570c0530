//! `exec`: run one more process in a container, as runc does. The process
//! is `--process FILE`, or config.json's process with the command line's
//! changes. In the foreground brig forwards signals to it, proxies its
//! terminal when it holds one, and exits with its status (128+N when
//! killed by signal N); a failed exec exits 255 (main.rs).

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxCapabilities, Process};

use crate::cli::{ExecArgs, GlobalOpts};
use crate::error::{Error, IoResultExt, Result};
use crate::process::exec::{self, ExecOpts};
use crate::process::launch::ConsoleSocket;
use crate::state::State;

pub fn run(global: &GlobalOpts, a: &ExecArgs) -> Result<i32> {
    let st = State::load(&global.root, &a.id)?;
    exec::check_status(st.current_status(&global.root), a.ignore_paused)?;
    let process = match &a.process {
        Some(p) => read_process(p)?,
        None => from_flags(&base_process(&st)?, a)?,
    };
    // A terminal in the foreground without a console socket: brig holds
    // the pty itself, as `run` does.
    let mut own_console = None;
    let console_socket = match &a.console_socket {
        Some(p) => Some(ConsoleSocket::Path(p)),
        None if process.terminal().unwrap_or(false) && !a.detach => {
            let (ours, theirs) =
                UnixStream::pair().or_io(|| "socketpair for the console".into())?;
            own_console = Some(ours);
            Some(ConsoleSocket::Connected(theirs))
        }
        None => None,
    };
    let execed = exec::exec(
        &super::runtime_opts(global),
        &st,
        process,
        ExecOpts {
            policy: super::selected_policy(global)?,
            console_socket,
            pidfd_socket: a.pidfd_socket.as_deref(),
            pid_file: a.pid_file.as_deref(),
            preserve_fds: a.preserve_fds,
            sub_cgroups: &a.cgroup,
            supervised: None,
        },
    )?;
    if a.detach {
        return Ok(0);
    }
    super::run::forward_signals_to(execed.pid)?;
    if let Some(sock) = own_console {
        super::console::attach(&sock, execed.pidfd.as_fd())?;
    }
    crate::linux::pid::wait_exit_code(execed.pid, "exec'd process")
}

/// The process exec starts from without `--process`: the bundle's
/// config.json as it is now, as runc reads it; the namespaces, cgroup and
/// seccomp filter always come from the config saved at create. With the
/// bundle's config.json gone, the saved process (runc fails there).
pub(crate) fn base_process(st: &State) -> Result<Process> {
    let path = st.bundle.join("config.json");
    let spec = match std::fs::read(&path) {
        Ok(data) => crate::bundle::parse_spec(&data, &path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (*st.config).clone(),
        Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
    };
    spec.process()
        .clone()
        .ok_or_else(|| Error::invalid(format!("{} has no process", path.display())))
}

/// `--process FILE`: an OCI `process` object, used as it is (runc ignores
/// the other process flags then, and so does brig). `user` may be left
/// out: uid 0, gid 0, as runc takes it.
fn read_process(path: &Path) -> Result<Process> {
    let data = std::fs::read(path).or_io(|| format!("read {}", path.display()))?;
    crate::bundle::parse_process(&data, path)
}

/// config.json's process changed as runc's `exec` flags say: args from the
/// command line; env entries added or replaced by key; cwd, user,
/// AppArmor profile and label replaced when given; additional gids
/// appended; `--cap` added to the bounding, effective and permitted sets;
/// no_new_privs set when either asks; a terminal only with -t. Rlimits,
/// oomScoreAdj, umask and the rest stay config.json's. Pure.
pub fn from_flags(base: &Process, a: &ExecArgs) -> Result<Process> {
    if a.args.is_empty() {
        return Err(Error::invalid("process args cannot be empty"));
    }
    let mut p = base.clone();
    p.set_args(Some(a.args.clone()));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    p.set_env(Some(merge_env(
        base.env().as_deref().unwrap_or(&[]),
        &a.env,
    )));
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        p.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        let mut gids = base.user().additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        p.user_mut().set_additional_gids(Some(gids));
    }
    if !a.cap.is_empty() {
        p.set_capabilities(Some(add_caps(base.capabilities().as_ref(), &a.cap)?));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    p.set_terminal(Some(a.tty));
    Ok(p)
}

/// `-u UID[:GID]`, numbers only (as runc).
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>)> {
    let num = |v: &str, what: &str| {
        v.parse::<u32>()
            .map_err(|_| Error::invalid(format!("--user {s:?}: {what} {v:?} is not a number")))
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((num(u, "uid")?, Some(num(g, "gid")?))),
        None => Ok((num(s, "uid")?, None)),
    }
}

/// `base` followed by `extra`, each key once with its last value, where
/// it was given last: as runc appends `--env` to config.json's env and
/// its init reduces duplicates (the init does the same to any env).
pub fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let all: Vec<String> = base.iter().chain(extra).cloned().collect();
    crate::process::env::dedup(&all)
}

/// The spec's capabilities with `names` ("NET_ADMIN" or "CAP_NET_ADMIN")
/// added to bounding, effective and permitted, and to ambient when the
/// spec names an inheritable set (ambient needs it; runc's rule). Never
/// to inheritable (CVE-2022-29162). Sets the spec leaves out stay empty
/// (never the library's defaults); an unknown name is warned about and
/// ignored, as runc does.
fn add_caps(base: Option<&LinuxCapabilities>, names: &[String]) -> Result<LinuxCapabilities> {
    let mut caps: LinuxCapabilities = match base {
        Some(c) => c.clone(),
        None => serde_json::from_str("{}").map_err(|e| Error::json("empty capabilities", e))?,
    };
    let mut add: HashSet<Capability> = HashSet::new();
    for n in names {
        match crate::bundle::capability(n) {
            Some(cap) => {
                add.insert(cap);
            }
            None => tracing::warn!("--cap {n:?}: unknown capability, ignored"),
        }
    }
    let grow = |set: &Option<HashSet<Capability>>| {
        let mut s = set.clone().unwrap_or_default();
        s.extend(add.iter().cloned());
        Some(s)
    };
    let (b, e, p) = (
        grow(caps.bounding()),
        grow(caps.effective()),
        grow(caps.permitted()),
    );
    if caps.inheritable().is_some() {
        let a = grow(caps.ambient());
        caps.set_ambient(a);
    }
    caps.set_bounding(b);
    caps.set_effective(e);
    caps.set_permitted(p);
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> ExecArgs {
        let mut full = vec!["brig", "exec"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Some(Command::Exec(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "terminal": true,
            "user": {"uid": 0, "gid": 0, "additionalGids": [5]},
            "args": ["/probe"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
            "noNewPrivileges": false,
            "apparmorProfile": "spec-profile",
            "oomScoreAdj": 100,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        }))
        .unwrap()
    }

    #[test]
    fn user_parsing() {
        for (s, want) in [
            ("1000", Some((1000, None))),
            ("1000:1001", Some((1000, Some(1001)))),
            ("0:0", Some((0, Some(0)))),
            ("root", None),
            ("1000:", None),
            (":1000", None),
            ("-1", None),
            ("1:2:3", None),
        ] {
            assert_eq!(parse_user(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn env_merge_overrides_by_key() {
        let base = vec!["PATH=/bin".to_string(), "A=1".into(), "A=dup".into()];
        for (extra, want) in [
            (vec![], vec!["PATH=/bin", "A=dup"]),
            (vec!["B=2"], vec!["PATH=/bin", "A=dup", "B=2"]),
            (vec!["A=9"], vec!["PATH=/bin", "A=9"]),
            (vec!["PATH=/x", "A="], vec!["PATH=/x", "A="]),
            (vec!["B=1", "B=2"], vec!["PATH=/bin", "A=dup", "B=2"]),
            // runc's order: a key given again moves to where it was last.
            (vec!["PATH=/y", "C=3"], vec!["A=dup", "PATH=/y", "C=3"]),
        ] {
            let extra: Vec<String> = extra.into_iter().map(String::from).collect();
            assert_eq!(merge_env(&base, &extra), want, "{extra:?}");
        }
    }

    #[test]
    fn process_from_spec_and_flags() {
        let p = from_flags(&base(), &args(&["c1", "echo", "-n", "hi"])).unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["echo", "-n", "hi"]);
        // Everything else is the spec's, but no terminal without -t.
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.oom_score_adj(), Some(100));
        assert_eq!(p.rlimits(), base().rlimits());
        let bounding = |p: &Process| p.capabilities().as_ref().unwrap().bounding().clone();
        assert_eq!(bounding(&p), bounding(&base()));
        assert_eq!(p.apparmor_profile().as_deref(), Some("spec-profile"));

        let p = from_flags(
            &base(),
            &args(&[
                "-t",
                "--cwd",
                "/tmp",
                "-e",
                "A=2",
                "-e",
                "B=3",
                "-u",
                "1000:1001",
                "--additional-gids",
                "7",
                "--cap",
                "NET_ADMIN",
                "-c",
                "CAP_SYS_TIME",
                "--no-new-privs",
                "--apparmor",
                "other",
                "c1",
                "sh",
            ]),
        )
        .unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5, 7][..]));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.apparmor_profile().as_deref(), Some("other"));
        let caps = p.capabilities().as_ref().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::NetAdmin), "{set:?}");
            assert!(set.contains(&Capability::SysTime), "{set:?}");
        }
        // What the spec had stays (its permitted set was empty).
        for set in [caps.bounding(), caps.effective()] {
            assert!(set.as_ref().unwrap().contains(&Capability::Chown));
        }
        // Only bounding, effective and permitted grow.
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());

        // -u with a uid only keeps the spec's gid.
        let p = from_flags(&base(), &args(&["-u", "5", "c1", "id"])).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (5, 0));
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(from_flags(&base(), &args(&["c1"])).is_err());
        assert!(from_flags(&base(), &args(&["-u", "x", "c1", "id"])).is_err());
        // An unknown --cap is ignored with a warning (runc).
        let p = from_flags(&base(), &args(&["--cap", "NOPE", "c1", "id"])).unwrap();
        let bounding = |p: &Process| p.capabilities().as_ref().unwrap().bounding().clone();
        assert_eq!(bounding(&p), bounding(&base()));
        // No capabilities in the spec: --cap gives only what it names.
        let mut b = base();
        b.set_capabilities(None);
        let p = from_flags(&b, &args(&["--cap", "kill", "c1", "id"])).unwrap();
        let caps = p.capabilities().as_ref().unwrap();
        assert_eq!(
            caps.bounding().as_ref().unwrap(),
            &HashSet::from([Capability::Kill])
        );
        assert!(caps.ambient().is_none());

        // With an inheritable set in the spec, --cap also raises ambient,
        // never inheritable (runc; CVE-2022-29162).
        let mut b = base();
        b.set_capabilities(Some(
            serde_json::from_str(r#"{"bounding":["CAP_CHOWN"],"inheritable":[]}"#).unwrap(),
        ));
        let p = from_flags(&b, &args(&["--cap", "kill", "c1", "id"])).unwrap();
        let caps = p.capabilities().as_ref().unwrap();
        assert_eq!(
            caps.ambient().as_ref().unwrap(),
            &HashSet::from([Capability::Kill])
        );
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
    }
}
