//! `--debug`: the setup steps are traced at debug level in runc's words
//! ("nsexec container setup", "child process in init()", ...), which users
//! and tools grep for; on stderr without `--log`, only in the `--log` file
//! with it, as text or JSON lines.

use std::fs;

use serde_json::Value;

use crate::common::{require_root, unique_id, Bundle, Rt};

/// Lines runc 1.1.5 writes at debug level while creating a container.
const CREATE_STEPS: &[&str] = &[
    "nsexec container setup",
    "child process in init()",
    "init: closing the pipe to signal completion",
];

/// Lines runc 1.1.5 writes at debug level for `exec`.
const EXEC_STEPS: &[&str] = &[
    "nsexec container setup",
    "child process in init()",
    "setns_init: about to exec",
];

fn assert_steps(text: &str, steps: &[&str]) {
    for s in steps {
        assert!(text.contains(s), "no {s:?} in:\n{text}");
    }
}

fn echo_bundle(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(&["echo", "Hello World"]);
    b
}

#[test]
fn debug_goes_to_stderr_without_log() {
    require_root!();
    let rt = Rt::new();
    let b = echo_bundle(&rt);
    let id = unique_id("debug");
    rt.track(&id);
    let out = rt.run(&[
        "--debug",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout.trim(), "Hello World", "{out:?}");
    assert!(out.stderr.contains("level=debug"), "{out:?}");
    assert_steps(&out.stderr, CREATE_STEPS);
}

#[test]
fn debug_goes_only_to_the_log_file_in_its_format() {
    require_root!();
    let rt = Rt::new();
    let b = echo_bundle(&rt);
    for format in [None, Some("text"), Some("json")] {
        let log = b
            .path()
            .join(format!("log-{}.out", format.unwrap_or("default")));
        let id = unique_id("debuglog");
        rt.track(&id);
        let mut args = vec!["--log", log.to_str().unwrap()];
        if let Some(f) = format {
            args.extend(["--log-format", f]);
        }
        args.extend([
            "--debug",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let out = rt.run(&args);
        assert!(out.ok(), "{format:?}: {out:?}");
        assert!(!out.stderr.contains("level=debug"), "{format:?}: {out:?}");
        let text = fs::read_to_string(&log).expect("log file written");
        assert_steps(&text, CREATE_STEPS);
        if format == Some("json") {
            for l in text.lines() {
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"));
                assert!(v["level"].is_string() && v["msg"].is_string(), "{l}");
            }
            assert!(text.contains(r#""level":"debug""#), "{text}");
        } else {
            assert!(text.contains("level=debug"), "{format:?}: {text}");
        }
    }
}

#[test]
fn debug_exec_to_stderr_and_to_log() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "600"]);
    let id = unique_id("debugexec");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");

    let out = rt.run(&["--debug", "exec", &id, "true"]);
    assert!(out.ok(), "{out:?}");
    assert!(out.stderr.contains("level=debug"), "{out:?}");
    assert_steps(&out.stderr, EXEC_STEPS);

    let log = b.path().join("exec-log.out");
    let out = rt.run(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "exec",
        &id,
        "true",
    ]);
    assert!(out.ok(), "{out:?}");
    assert!(!out.stderr.contains("level=debug"), "{out:?}");
    let text = fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("level=debug"), "{text}");
    assert_steps(&text, EXEC_STEPS);
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
}
