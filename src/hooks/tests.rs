//! The hook supervisor without containers: /bin/sh scripts in a temp dir
//! stand in for hooks. A hook is `/bin/sh SCRIPT ARGS...`, executed as
//! given (no shell of brig's in between); the script is only read, so a
//! fork in a parallel test cannot make its exec fail with ETXTBSY.
//! No timing assertions: a timeout is only a hang guard or the case itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::*;

/// Generous: a supervisor that deadlocks fails the case instead of
/// hanging the run.
const HANG_GUARD: i64 = 60;

/// A script in `dir` and a file next to it for what it reports.
fn script(dir: &Path, name: &str, body: &str) -> (PathBuf, PathBuf) {
    let path = dir.join(format!("{name}.sh"));
    fs::write(&path, body).unwrap();
    (path, dir.join(format!("{name}.out")))
}

/// `/bin/sh SCRIPT OUT`, with the given env and timeout.
fn hook(script: &Path, out: &Path, env: Option<&[&str]>, timeout: Option<i64>) -> Hook {
    serde_json::from_value(json!({
        "path": "/bin/sh",
        "args": ["sh", script, out],
        "env": env,
        "timeout": timeout,
    }))
    .unwrap()
}

fn hooks_of(kind: Kind, list: Vec<Hook>) -> Hooks {
    serde_json::from_value(json!({ kind.name(): list })).unwrap()
}

fn state() -> Value {
    json!({"ociVersion": "1.2.1", "id": "c1", "status": "running", "pid": 42, "bundle": "/b"})
}

/// Runs `hook` as the one prestart hook with the runtime's environment.
fn run_prestart(hook: Hook) -> Result<()> {
    let hooks = hooks_of(Kind::Prestart, vec![hook]);
    run_in(
        Kind::Prestart,
        Some(&hooks),
        &state(),
        None,
        DefaultEnv::Runtime,
    )
}

/// How a hook ends, and the error line (after runc's "error running ...
/// hook #0: PATH: ") each ending gives.
#[test]
fn outcomes_and_their_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(200);
    let cases: &[(&str, &str, Option<i64>, Option<&str>)] = &[
        ("succeeds", "exit 0", None, None),
        (
            "exits non-zero: the last stderr line",
            "echo noise >&2\necho 'bad config' >&2\necho >&2\nexit 3",
            None,
            Some("exit status 3: stderr: bad config"),
        ),
        (
            "exits non-zero, silent",
            "exit 1",
            None,
            Some("exit status 1"),
        ),
        (
            "killed by a signal",
            "kill -KILL $$",
            None,
            Some("signal: killed (SIGKILL)"),
        ),
        (
            "times out: killed",
            "exec sleep 5",
            Some(1),
            Some("timed out after 1s and was killed"),
        ),
        (
            "timeout 0 counts as 1 s",
            "exec sleep 5",
            Some(0),
            Some("timed out after 1s and was killed"),
        ),
        (
            "a long stderr line is cut at 200 characters",
            "head -c 100000 /dev/zero | tr '\\0' x >&2\nexit 2",
            Some(HANG_GUARD),
            Some(&format!("exit status 2: stderr: {long}")),
        ),
        (
            "floods stdout and stderr without reading stdin: no deadlock",
            "head -c 4000000 /dev/zero\nhead -c 4000000 /dev/zero >&2",
            Some(HANG_GUARD),
            None,
        ),
    ];
    for (i, (what, body, timeout, want)) in cases.iter().enumerate() {
        let (s, out) = script(dir.path(), &format!("case{i}"), body);
        let got = run_prestart(hook(&s, &out, None, *timeout)).map_err(|e| e.chain());
        let want = want.map(|w| format!("error running prestart hook #0: /bin/sh: {w}"));
        assert_eq!(got, want.map_or(Ok(()), Err), "{what}");
    }
}

/// The fallback without a pidfd (init under a seccomp profile that refuses
/// pidfd_open) ends the same way.
#[test]
fn outcomes_without_a_pidfd() {
    let cases: &[(&str, &str, Option<u64>, &str)] = &[
        ("succeeds", "exit 0", None, "exit 0"),
        ("exits non-zero", "exit 3", None, "exit 3"),
        ("killed by a signal", "kill -TERM $$", None, "signal 15"),
        ("times out", "exec sleep 5", Some(1), "timed out"),
        (
            "floods stdout and stderr",
            "head -c 4000000 /dev/zero\nhead -c 4000000 /dev/zero >&2",
            Some(HANG_GUARD as u64),
            "exit 0",
        ),
    ];
    for (what, body, timeout, want) in cases {
        let mut child = Command::new("/bin/sh")
            .args(["-c", body])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let timeout = timeout.map(Duration::from_secs);
        let mut stderr = Vec::new();
        let got = match supervise(&mut child, None, b"{}", timeout, &mut stderr).unwrap() {
            Outcome::TimedOut(_) => "timed out".to_string(),
            Outcome::Exited(st) => match (st.code(), st.signal()) {
                (Some(c), _) => format!("exit {c}"),
                (_, Some(s)) => format!("signal {s}"),
                _ => unreachable!("{st:?}"),
            },
        };
        assert_eq!(got, *want, "{what}");
    }
}

/// Without a pidfd too, what the hook wrote to stderr just before it exited
/// is kept for the error line (it used to be lost when the exit was seen
/// first).
#[test]
fn stderr_of_a_quick_exit_without_a_pidfd() {
    for _ in 0..20 {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "echo last words >&2; exit 4"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Let it finish first: the exit is what the next round sees.
        while !std::path::Path::new(&format!("/proc/{}/stat", child.id())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
                .is_ok_and(|s| !s.contains(") Z "))
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut stderr = Vec::new();
        let got = supervise(&mut child, None, b"{}", None, &mut stderr).unwrap();
        assert!(matches!(got, Outcome::Exited(st) if st.code() == Some(4)));
        assert_eq!(String::from_utf8_lossy(&stderr), "last words\n");
    }
}

/// A hook reads the state on stdin with the status of its kind, the rest as
/// given, even when the state is larger than a pipe holds and the hook
/// writes a lot before it reads.
#[test]
fn state_json_on_stdin_with_the_kinds_status() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = script(
        dir.path(),
        "stdin",
        "head -c 1000000 /dev/zero >&2\ncat > \"$1\"",
    );
    let mut state = state();
    state["annotations"] = json!({"big": "y".repeat(1 << 20)});
    let want = [
        (Kind::Prestart, "creating"),
        (Kind::CreateRuntime, "creating"),
        (Kind::CreateContainer, "creating"),
        (Kind::StartContainer, "created"),
        (Kind::Poststart, "running"),
        (Kind::Poststop, "stopped"),
    ];
    for (kind, status) in want {
        let out = dir.path().join(kind.name());
        let hooks = hooks_of(kind, vec![hook(&s, &out, None, Some(HANG_GUARD))]);
        run_in(kind, Some(&hooks), &state, None, DefaultEnv::Runtime).unwrap();
        let got: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
        let mut expected = state.clone();
        expected["status"] = json!(status);
        assert!(got == expected, "{}: status {}", kind.name(), got["status"]);
    }
}

/// The hook's environment: exactly its own `env` when it has one, else the
/// default of its kind (DefaultEnv), read from /proc/PID/environ, which the
/// shell does not touch.
#[test]
fn environment_own_or_the_kinds_default() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = script(dir.path(), "env", "cat /proc/$$/environ > \"$1\"");
    let ours: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let process = ["PATH=/bin".to_string(), "FROM=process".to_string()];
    let strings = |l: &[&str]| l.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    // (what, the hook's env, its kind's default, what it gets)
    let cases = [
        (
            "own env, runtime kind",
            Some(&["A=1", "B=x=y"][..]),
            DefaultEnv::Runtime,
            strings(&["A=1", "B=x=y"]),
        ),
        (
            "own env wins over the given default",
            Some(&["A=1"][..]),
            DefaultEnv::Given(&process),
            strings(&["A=1"]),
        ),
        (
            "none: the runtime's own (prestart, poststop, ...)",
            None,
            DefaultEnv::Runtime,
            ours,
        ),
        (
            "none: the process's (startContainer)",
            None,
            DefaultEnv::Given(&process),
            process.to_vec(),
        ),
        (
            "an empty env counts as none",
            Some(&[][..]),
            DefaultEnv::Given(&process),
            process.to_vec(),
        ),
        (
            "none: nothing (createContainer)",
            None,
            DefaultEnv::Given(&[]),
            vec![],
        ),
    ];
    for (i, (what, env, default, mut want)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("env{i}"));
        let hooks = hooks_of(Kind::Prestart, vec![hook(&s, &out, env, None)]);
        run_in(Kind::Prestart, Some(&hooks), &state(), None, default).unwrap();
        let raw = fs::read(&out).unwrap();
        let mut got: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|e| !e.is_empty())
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{what}");
    }
}

/// args are passed as they are (no shell word splitting or expansion), and
/// the hook runs in the directory it is given.
#[test]
fn args_verbatim_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let (s, out) = script(
        dir.path(),
        "args",
        "printf '%s|' \"$@\" > \"$1\"\necho \"$PWD\" >> \"$1\"",
    );
    let odd = "a b;$(touch pwned)*";
    let h: Hook = serde_json::from_value(json!({
        "path": "/bin/sh",
        "args": ["sh", s, out, odd],
    }))
    .unwrap();
    let hooks = hooks_of(Kind::Prestart, vec![h]);
    let cwd = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(cwd.path()).unwrap();
    run_in(
        Kind::Prestart,
        Some(&hooks),
        &state(),
        Some(&cwd),
        DefaultEnv::Runtime,
    )
    .unwrap();
    let got = fs::read_to_string(&out).unwrap();
    assert_eq!(got, format!("{}|{odd}|{}\n", out.display(), cwd.display()));
    assert!(!cwd.join("pwned").exists());
}

#[test]
fn missing_path_is_an_exec_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-hook");
    let h: Hook = serde_json::from_value(json!({ "path": missing })).unwrap();
    let err = run_prestart(h).unwrap_err();
    assert_eq!(err.errno(), Some(nix::errno::Errno::ENOENT));
    let chain = err.chain();
    assert!(
        chain.starts_with(&format!(
            "error running prestart hook #0: {}: exec: ",
            missing.display()
        )),
        "{chain}"
    );
}

/// The first failure stops `run` (the hooks before it ran, the ones after
/// do not); `run_warn` (poststart, poststop) runs them all.
#[test]
fn first_failure_stops_run_but_not_run_warn() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = script(dir.path(), "ok", "echo ran > \"$1\"");
    let (bad, _) = script(dir.path(), "bad", "exit 1");
    let list = |tag: &str| -> (Vec<Hook>, [PathBuf; 3]) {
        let outs = [0, 1, 2].map(|i| dir.path().join(format!("{tag}{i}")));
        let hooks = vec![
            hook(&ok, &outs[0], None, None),
            hook(&bad, &outs[1], None, None),
            hook(&ok, &outs[2], None, None),
        ];
        (hooks, outs)
    };

    let (l, outs) = list("run");
    let hooks = hooks_of(Kind::CreateRuntime, l);
    let err = run(Kind::CreateRuntime, Some(&hooks), &state()).unwrap_err();
    assert_eq!(
        err.chain(),
        "error running createRuntime hook #1: /bin/sh: exit status 1"
    );
    assert!(outs[0].exists() && !outs[2].exists());

    let (l, outs) = list("warn");
    let hooks = hooks_of(Kind::Poststop, l);
    run_warn(Kind::Poststop, Some(&hooks), &state());
    assert!(outs[0].exists() && outs[2].exists());
}

#[test]
fn start_waits_only_with_start_container_or_poststart_hooks() {
    let h: Hook = serde_json::from_value(json!({"path": "/bin/true"})).unwrap();
    assert!(!start_waits_for_exec(None));
    for kind in Kind::ALL {
        let hooks = hooks_of(kind, vec![h.clone()]);
        let want = matches!(kind, Kind::StartContainer | Kind::Poststart);
        assert_eq!(start_waits_for_exec(Some(&hooks)), want, "{}", kind.name());
    }
}
