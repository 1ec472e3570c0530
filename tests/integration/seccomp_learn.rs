//! `brig seccomp learn` and `brig seccomp test` (brig only: runc has
//! neither): a busybox workload that forks and a probe that makes a
//! syscall from a second thread are recorded; the learned profile then
//! runs the same workload under `run`; a profile missing calls is
//! reported by name while the workload still completes; argument
//! conditions count; bad input fails cleanly.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{assert_clean_failure, is_brig, require_root, unique_id, Bundle, Out, Rt};

macro_rules! brig_only {
    () => {
        if !is_brig() {
            return crate::skip::test("brig only: runc has no seccomp learn/test");
        }
    };
}

/// x86_64 getpriority: made by the probe's second thread only.
const SYS_GETPRIORITY: &str = "140";

/// A subshell (a forked child) makes a directory, the probe's second thread
/// calls getpriority(PRIO_PROCESS, 0); the exit status is 7.
fn workload(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    b.args(&[
        "sh",
        "-c",
        &format!(
            "echo workload-start; (mkdir /tmp/from-child); /probe thread-syscall {SYS_GETPRIORITY} 0 0; exit 7"
        ),
    ]);
    b
}

/// Each run starts from a rootfs without the child's directory.
fn reset(b: &Bundle) {
    let _ = fs::remove_dir(b.rootfs().join("tmp/from-child"));
}

fn learn(rt: &Rt, b: &Bundle, out: &Path) -> Out {
    reset(b);
    let id = unique_id("learn");
    rt.track(&id);
    rt.run(&[
        "seccomp",
        "learn",
        "--output",
        out.to_str().unwrap(),
        "-b",
        b.path().to_str().unwrap(),
        &id,
    ])
}

fn test_profile(rt: &Rt, b: &Bundle, profile: &Path) -> Out {
    reset(b);
    let id = unique_id("sctest");
    rt.track(&id);
    rt.run(&[
        "seccomp",
        "test",
        "--profile",
        profile.to_str().unwrap(),
        "-b",
        b.path().to_str().unwrap(),
        &id,
    ])
}

fn names(profile: &Value) -> Vec<String> {
    profile["syscalls"][0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// The probe's line: the thread's getpriority succeeded.
fn thread_call_ran(out: &Out) -> bool {
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|v| v["nr"] == 140 && v["errno"] == 0)
}

/// Learns, checks the profile, and returns it with the bundle.
fn learned(rt: &Rt, dir: &Path) -> (Bundle, Value) {
    let b = workload(rt);
    let out_file = dir.join("learned.json");
    let out = learn(rt, &b, &out_file);
    assert_eq!(out.code(), Some(7), "the container's exit status: {out:?}");
    assert!(out.stdout.contains("workload-start"), "{out:?}");
    assert!(thread_call_ran(&out), "{out:?}");
    assert!(
        b.rootfs().join("tmp/from-child").is_dir(),
        "the child's mkdir ran"
    );
    let profile: Value = serde_json::from_str(&fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO", "{profile}");
    assert_eq!(profile["defaultErrnoRet"], 1, "{profile}");
    assert_eq!(profile["architectures"][0], "SCMP_ARCH_X86_64", "{profile}");
    assert_eq!(profile["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
    let n = names(&profile);
    let mut sorted = n.clone();
    sorted.sort();
    assert_eq!(n, sorted, "names sorted");
    for want in ["getpriority", "execve", "wait4", "exit_group"] {
        assert!(n.iter().any(|x| x == want), "{want} missing: {n:?}");
    }
    assert!(
        n.iter().any(|x| x == "mkdir" || x == "mkdirat"),
        "the child's mkdir: {n:?}"
    );
    assert!(
        n.iter().any(|x| x == "clone" || x == "clone3"),
        "fork and thread: {n:?}"
    );
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    (b, profile)
}

#[test]
fn seccomp_learn_records_child_and_thread_and_the_profile_runs() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, profile) = learned(&rt, dir.path());

    // The same workload under the learned profile, with plain `run`.
    b.edit(|c| c["linux"]["seccomp"] = profile.clone());
    reset(&b);
    let out = rt.run_bundle(&b, &unique_id("learned"), &[]);
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert!(out.stdout.contains("workload-start"), "{out:?}");
    assert!(thread_call_ran(&out), "{out:?}");
    assert!(b.rootfs().join("tmp/from-child").is_dir());

    // And without getpriority the thread's call fails: the filter is real.
    let mut strict = profile.clone();
    strict["syscalls"][0]["names"] = json!(names(&profile)
        .into_iter()
        .filter(|n| n != "getpriority")
        .collect::<Vec<_>>());
    b.edit(|c| c["linux"]["seccomp"] = strict);
    reset(&b);
    let out = rt.run_bundle(&b, &unique_id("strict"), &[]);
    assert!(
        out.stdout.contains(r#""nr":140"#) && !thread_call_ran(&out),
        "{out:?}"
    );
}

#[test]
fn seccomp_test_reports_missing_calls_and_honours_conditions() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let (b, profile) = learned(&rt, dir.path());

    // The complete profile: nothing would be denied.
    let full = dir.path().join("full.json");
    fs::write(&full, profile.to_string()).unwrap();
    let out = test_profile(&rt, &b, &full);
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("no syscall would be denied"), "{out:?}");
    assert!(
        out.stderr.contains("exited with status 7"),
        "the container's status on stderr: {out:?}"
    );

    // Without getpriority and mkdir: both reported, by name, with the
    // thread's name; the workload still completes, nothing denied.
    let mut partial = profile.clone();
    partial["syscalls"][0]["names"] = json!(names(&profile)
        .into_iter()
        .filter(|n| n != "getpriority" && n != "mkdir" && n != "mkdirat")
        .collect::<Vec<_>>());
    let partial_file = dir.path().join("partial.json");
    fs::write(&partial_file, partial.to_string()).unwrap();
    let out = test_profile(&rt, &b, &partial_file);
    assert_eq!(out.code(), Some(1), "{out:?}");
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_owned)
    };
    let g = line("getpriority").unwrap_or_else(|| panic!("getpriority: {out:?}"));
    assert!(g.ends_with("probe-thread"), "{g}");
    assert!(g.contains(" EPERM "), "what the profile would answer: {g}");
    assert!(line("mkdir").or(line("mkdirat")).is_some(), "{out:?}");
    assert!(out.stdout.contains("workload-start"), "{out:?}");
    assert!(thread_call_ran(&out), "not denied while testing: {out:?}");
    assert!(b.rootfs().join("tmp/from-child").is_dir());
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());

    // Conditions: getpriority allowed only for PRIO_PGRP (1) is a denial
    // of the probe's PRIO_PROCESS (0) call; allowed for 0, it is not.
    for (which, denied) in [(1, true), (0, false)] {
        let mut p = partial.clone();
        p["syscalls"][0]["names"] = json!(names(&profile)
            .into_iter()
            .filter(|n| n != "getpriority")
            .collect::<Vec<_>>());
        p["syscalls"].as_array_mut().unwrap().push(json!({
            "names": ["getpriority"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": which, "op": "SCMP_CMP_EQ"}]
        }));
        let f = dir.path().join(format!("cond{which}.json"));
        fs::write(&f, p.to_string()).unwrap();
        let out = test_profile(&rt, &b, &f);
        assert_eq!(out.code(), Some(i32::from(denied)), "{which}: {out:?}");
        assert_eq!(
            out.stdout.contains("getpriority"),
            denied,
            "{which}: {out:?}"
        );
    }
}

#[test]
fn seccomp_learn_and_test_bad_input_fail_cleanly() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let b = workload(&rt);
    let out_file = dir.path().join("out.json");
    let d = dir.path().to_str().unwrap();
    let bundle = b.path().to_str().unwrap();
    let missing_bundle = format!("{d}/no-such-bundle");
    let not_json = dir.path().join("not.json");
    fs::write(&not_json, "this is not json").unwrap();
    let not_profile = dir.path().join("config-like.json");
    fs::write(&not_profile, r#"{"ociVersion": "1.0.2"}"#).unwrap();
    let o = out_file.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "learn".into(),
                "-o".into(),
                o.into(),
                "-b".into(),
                missing_bundle.clone(),
            ],
            "no-such-bundle",
        ),
        (
            vec![
                "learn".into(),
                "-o".into(),
                format!("{d}/no-dir/out.json"),
                "-b".into(),
                bundle.into(),
            ],
            "no-dir",
        ),
        (
            vec![
                "learn".into(),
                "-o".into(),
                d.into(),
                "-b".into(),
                bundle.into(),
            ],
            "is a directory",
        ),
        (
            vec![
                "test".into(),
                "--profile".into(),
                format!("{d}/no-such-profile.json"),
                "-b".into(),
                bundle.into(),
            ],
            "no-such-profile.json",
        ),
        (
            vec![
                "test".into(),
                "--profile".into(),
                not_json.to_str().unwrap().into(),
                "-b".into(),
                bundle.into(),
            ],
            "not a linux.seccomp JSON object",
        ),
        (
            vec![
                "test".into(),
                "--profile".into(),
                not_profile.to_str().unwrap().into(),
                "-b".into(),
                bundle.into(),
            ],
            "defaultAction",
        ),
        (
            vec![
                "test".into(),
                "--profile".into(),
                full_profile_in(dir.path()),
                "-b".into(),
                missing_bundle.clone(),
            ],
            "no-such-bundle",
        ),
    ];
    for (args, want) in cases {
        let id = unique_id("bad");
        let mut full: Vec<&str> = vec!["seccomp"];
        full.extend(args.iter().map(String::as_str));
        full.push(&id);
        let out = rt.run(&full);
        assert_clean_failure(&rt, &out, &id, &format!("{args:?}"));
        assert!(out.stderr.contains(want), "{args:?}: {out:?}");
        assert!(!out_file.exists(), "{args:?} wrote the output");
    }
}

fn full_profile_in(dir: &Path) -> String {
    let p = dir.join("allow.json");
    fs::write(&p, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    p.to_str().unwrap().into()
}

/// Learning lets every syscall through: a node policy that enforces
/// seccomp refuses it (and `test` alike); one without seccomp rules does not.
#[test]
fn seccomp_learn_is_refused_under_a_seccomp_policy() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let b = workload(&rt);
    let out_file = dir.path().join("out.json");
    for verb in ["learn", "test"] {
        let id = unique_id("pol");
        let mut args = vec!["--policy", "baseline", "seccomp", verb];
        let profile = full_profile_in(dir.path());
        match verb {
            "learn" => args.extend(["-o", out_file.to_str().unwrap()]),
            _ => args.extend(["--profile", profile.as_str()]),
        }
        args.extend(["-b", b.path().to_str().unwrap(), id.as_str()]);
        let out = rt.run(&args);
        assert_clean_failure(&rt, &out, &id, verb);
        assert!(
            out.stderr.contains("refused by node policy \"baseline\""),
            "{out:?}"
        );
        assert!(!out_file.exists());
    }
    reset(&b);
    let id = unique_id("pol");
    rt.track(&id);
    let out = rt.run(&[
        "--policy",
        "privileged",
        "seccomp",
        "learn",
        "-o",
        out_file.to_str().unwrap(),
        "-b",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert!(out_file.exists());
}

/// `--exec`: one more process in a running container without a filter is
/// learnt and tested; a container with a filter is refused and untouched.
#[test]
fn seccomp_learn_and_test_exec_into_a_running_container() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "600"]);
    let id = unique_id("lexec");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    let out_file = dir.path().join("exec.json");
    let o = out_file.to_str().unwrap();
    let cmd = ["/probe", "thread-syscall", SYS_GETPRIORITY, "0", "0"];
    let seccomp = |verb: &str, file_flag: &str, file: &str, id: &str| {
        let mut args = vec!["seccomp", verb, file_flag, file, "--exec", id, "--"];
        args.extend(cmd);
        rt.run(&args)
    };
    let out = seccomp("learn", "-o", o, &id);
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(thread_call_ran(&out), "{out:?}");
    let profile: Value = serde_json::from_str(&fs::read_to_string(&out_file).unwrap()).unwrap();
    let n = names(&profile);
    for want in ["getpriority", "execve", "exit_group"] {
        assert!(n.iter().any(|x| x == want), "{want} missing: {n:?}");
    }

    let mut partial = profile.clone();
    partial["syscalls"][0]["names"] =
        json!(n.iter().filter(|x| *x != "getpriority").collect::<Vec<_>>());
    let partial_file = dir.path().join("partial.json");
    fs::write(&partial_file, partial.to_string()).unwrap();
    let out = seccomp("test", "--profile", partial_file.to_str().unwrap(), &id);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("getpriority") && l.ends_with("probe-thread")),
        "{out:?}"
    );
    assert!(thread_call_ran(&out), "{out:?}");
    let out = seccomp("test", "--profile", o, &id);
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert_eq!(rt.state(&id).unwrap()["status"], "running");

    // A container with a filter: its exec'd processes keep it.
    let mut filtered = Bundle::new(&rt);
    filtered.args(&["sleep", "600"]);
    filtered.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let fid = unique_id("lexecf");
    rt.run_bundle(&filtered, &fid, &["-d"]).expect_ok("run -d");
    let other = dir.path().join("other.json");
    for (verb, flag, file) in [
        ("learn", "-o", other.to_str().unwrap()),
        ("test", "--profile", o),
    ] {
        let out = seccomp(verb, flag, file, &fid);
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(
            out.stderr.contains("has a seccomp filter"),
            "{verb}: {out:?}"
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    }
    assert!(!other.exists());
    assert_eq!(rt.state(&fid).unwrap()["status"], "running");
}
