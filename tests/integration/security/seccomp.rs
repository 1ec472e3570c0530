//! Seccomp profiles from inside the container: errnoRet, argument
//! conditions, brig's default profile with real programs, ENOSYS for
//! syscalls newer than the profile, and refused profiles.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{
    assert_clean_failure, is_brig, json_lines, require_root, unique_id, Bundle, Rt,
};

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const SYS_PERSONALITY: i64 = 135;
const SYS_GETPRIORITY: i64 = 140;
const SYS_MOUNT: i64 = 165;
const SYS_KEYCTL: i64 = 250;
const SYS_UNSHARE: i64 = 272;
/// file_getattr (Linux 6.17): newer than libseccomp 2.5 and any profile
/// written with it.
const SYS_FILE_GETATTR: i64 = 468;

/// Runs `sh -c SCRIPT` in a fresh container and returns the probe's JSON
/// lines.
fn run_lines(rt: &Rt, b: &mut Bundle, script: &str) -> Vec<Value> {
    b.args(&["sh", "-c", script]);
    let out = rt.run_bundle(b, &unique_id("sec"), &[]).expect_ok("run");
    json_lines(&out.stdout)
}

fn errnos(lines: &[Value]) -> Vec<i64> {
    lines.iter().map(|l| l["errno"].as_i64().unwrap()).collect()
}

#[test]
fn errno_ret_reaches_the_program() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOMSG}],
        });
    });
    let lines = run_lines(
        &rt,
        &mut b,
        "/probe mkdir /tmp/blocked; /probe stat /tmp/blocked; /probe",
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["errno"], libc::ENOMSG, "{}", lines[0]);
    assert_eq!(lines[1]["errno"], libc::ENOENT, "{}", lines[1]);
    assert_eq!(lines[2]["status"]["Seccomp"], "2", "{}", lines[2]["status"]);
}

/// One condition (EQ), a masked one (MASKED_EQ), and two conditions on two
/// arguments of one rule (both must hold).
#[test]
fn argument_conditions() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EDOM,
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ERANGE,
                 "args": [{"index": 0, "value": 0xff00, "valueTwo": 0x0400, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 99999, "op": "SCMP_CMP_EQ"}]},
            ],
        });
    });
    let p = SYS_PERSONALITY;
    let g = SYS_GETPRIORITY;
    let script = format!(
        "/probe syscall {p} 8; /probe syscall {p} 0x0400; /probe syscall {p} 0x0408; \
         /probe syscall {p} 0xffffffff; /probe syscall {g} 0 99999; /probe syscall {g} 1 99999; \
         /probe syscall {g} 0 0"
    );
    let lines = run_lines(&rt, &mut b, &script);
    assert_eq!(
        errnos(&lines),
        [
            libc::EDOM,   // arg0 == 8
            libc::ERANGE, // arg0 & 0xff00 == 0x0400
            libc::ERANGE,
            0,           // query: no rule matches
            libc::EXDEV, // both conditions hold
            libc::ESRCH, // arg0 differs: the kernel answers (no such group)
            0,
        ]
        .map(i64::from),
        "{lines:?}"
    );
}

/// brig's default profile, as `brig spec --seccomp` writes it (with its capabilities),
/// whatever runtime runs it.
fn default_profile() -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_brig"))
        .args([
            "spec",
            "--seccomp",
            "--bundle",
            dir.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    (
        spec["linux"]["seccomp"].clone(),
        spec["process"]["capabilities"].clone(),
    )
}

fn default_profile_bundle(rt: &Rt) -> Bundle {
    let (seccomp, caps) = default_profile();
    assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ERRNO", "{seccomp}");
    let mut b = Bundle::new(rt);
    b.edit(|c| {
        c["linux"]["seccomp"] = seccomp;
        c["process"]["capabilities"] = caps;
    });
    b
}

#[test]
fn default_profile_blocks_privileged_calls_and_runs_busybox() {
    require_root!();
    let rt = Rt::new();
    let mut b = default_profile_bundle(&rt);
    let script = format!(
        "/probe syscall {SYS_UNSHARE} 0x20000; /probe syscall {SYS_MOUNT}; \
         /probe syscall {SYS_KEYCTL}; /probe syscall {SYS_PERSONALITY} 0xffffffff"
    );
    let lines = run_lines(&rt, &mut b, &script);
    assert_eq!(
        errnos(&lines),
        [libc::EPERM, libc::EPERM, libc::EPERM, 0].map(i64::from),
        "{lines:?}"
    );
    // Ordinary programs work under it; busybox unshare is refused.
    b.args(&[
        "sh",
        "-c",
        "ls / >/dev/null && cat /etc/passwd >/dev/null && ps >/dev/null && \
         id -u && echo a | grep -q a && stat / >/dev/null && echo ok; \
         unshare -m true || echo unshare-refused",
    ]);
    let out = rt.run_bundle(&b, &unique_id("sec"), &[]).expect_ok("run");
    assert_eq!(out.stdout, "0\nok\nunshare-refused\n", "{out:?}");
    assert!(out.stderr.contains("unshare"), "{out:?}");
}

/// A syscall the profile does not know gets ENOSYS (libc falls back), while
/// a known, refused one keeps the default errno.
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("ENOSYS for new syscalls: a brig-only guarantee");
    }
    let rt = Rt::new();
    let mut b = default_profile_bundle(&rt);
    let script = format!("/probe syscall {SYS_FILE_GETATTR}; /probe syscall {SYS_KEYCTL}");
    let lines = run_lines(&rt, &mut b, &script);
    assert_eq!(
        errnos(&lines),
        [libc::ENOSYS, libc::EPERM].map(i64::from),
        "{lines:?}"
    );
}

#[test]
fn unknown_action_arch_and_flag_are_refused() {
    require_root!();
    let rt = Rt::new();
    let cases = [
        ("SCMP_ACT_MAYBE", json!({"defaultAction": "SCMP_ACT_MAYBE"})),
        (
            "SCMP_ARCH_VAX",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
        ),
        (
            "SECCOMP_FILTER_FLAG_NOPE",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
        ),
        (
            "SCMP_ACT_SOMETIMES",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_SOMETIMES"}]}),
        ),
    ];
    for (bad, seccomp) in cases {
        let mut b = Bundle::new(&rt);
        b.edit(|c| c["linux"]["seccomp"] = seccomp);
        let id = unique_id("secbad");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, bad);
        if is_brig() {
            assert!(out.stderr.contains(bad), "{bad}: {}", out.stderr);
        }
    }
}

/// A profile written for the program, not for the runtime: it kills on
/// every call brig makes to set up descriptors, the umask and the
/// credentials. With and without no_new_privs (which decides whether the
/// filter is loaded before or after the user change), the container still
/// runs: nothing but execve follows the filter. runc 1.1 calls close_range,
/// setuid and capset after its filter, so this is brig's own guarantee.
#[test]
fn strict_profile_without_runtime_calls_still_starts() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc makes these calls after its filter");
    }
    let rt = Rt::new();
    for nnp in [true, false] {
        let mut b = Bundle::new(&rt);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1000]});
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    // busybox itself needs brk, prctl, setuid and setgid; brig's own calls
                    // of those come before the filter as well.
                    "names": ["close_range", "fcntl", "umask", "capset", "setgroups",
                              "setresuid", "setresgid", "sendmsg",
                              "close", "dup2", "dup3", "mmap", "munmap", "openat"],
                    "action": "SCMP_ACT_KILL_PROCESS",
                }],
            });
        });
        b.args(&["echo", "started"]);
        let out = rt.run_bundle(&b, &unique_id("strict"), &[]);
        assert!(out.ok(), "noNewPrivileges {nnp}: {out:?}");
        assert_eq!(out.stdout.trim(), "started", "noNewPrivileges {nnp}");
    }
}

/// A startContainer hook runs under the container's filter: a call the
/// profile kills kills the hook, and the error says so in Go's words
/// ("signal: bad system call"), which runc's users match.
#[test]
fn start_container_hook_runs_under_the_filter() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 runs startContainer hooks differently (no filter)");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/bin/true"]).edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
        });
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/foo"]}
        ]});
    });
    let id = unique_id("schook");
    let out = rt.run_bundle(&b, &id, &[]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("error running startContainer hook #0")
            && out.stderr.contains("signal: bad system call (SIGSYS)"),
        "{out:?}"
    );
}

/// `--debug` names the filter flags as runc does: none given is SPEC_ALLOW
/// (4), `[]` is 0, LOG is 2, TSYNC is ignored (init is single-threaded).
#[test]
fn debug_log_names_the_filter_flags() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 has no such debug line");
    }
    let rt = Rt::new();
    for (flags, want) in [
        (None, 4),
        (Some(json!([])), 0),
        (Some(json!(["SECCOMP_FILTER_FLAG_LOG"])), 2),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
            ])),
            4,
        ),
    ] {
        let mut b = Bundle::new(&rt);
        b.args(&["/bin/true"]).edit(|c| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
            ]});
            if let Some(f) = flags.clone() {
                c["linux"]["seccomp"]["flags"] = f;
            }
        });
        let id = unique_id("scflags");
        rt.track(&id);
        let b_path = b.path().to_str().unwrap();
        let out = rt
            .run(&["--debug", "run", "--bundle", b_path, &id])
            .expect_ok("run with --debug");
        assert!(
            out.stderr
                .contains(&format!("seccomp filter flags: {want}\"")),
            "{flags:?}: {out:?}"
        );
    }
}

/// `brig seccomp default` prints plain OCI JSON that a bundle can carry
/// as it is: the probe runs under it with brig and with runc, and keyctl
/// (denied by the profile, harmless without it) fails with EPERM in both.
#[test]
fn printed_default_profile_runs_from_a_bundle_under_both_runtimes() {
    require_root!();
    let brig = Rt::with_bin(crate::common::runtime_bin());
    if !is_brig() {
        return crate::skip::test("brig only: runc has no `seccomp default`");
    }
    let printed = brig
        .run(&["seccomp", "default"])
        .expect_ok("seccomp default");
    let profile: Value = serde_json::from_str(&printed.stdout).expect("JSON");
    let admin = brig
        .run(&["seccomp", "default", "--cap", "CAP_SYS_ADMIN"])
        .expect_ok("seccomp default --cap");
    let admin: Value = serde_json::from_str(&admin.stdout).unwrap();
    assert_ne!(profile, admin, "CAP_SYS_ADMIN allows more");
    let mut runtimes = vec![brig];
    runtimes.extend(Rt::runc_to_compare());
    for rt in &runtimes {
        let mut b = Bundle::new(rt);
        let keyctl = SYS_KEYCTL.to_string();
        b.args(&["/probe", "syscall", &keyctl, "0"]);
        let free = rt
            .run_bundle(&b, &unique_id("scfree"), &[])
            .expect_ok("no filter");
        assert_ne!(free.json()["errno"], json!(libc::EPERM), "{free:?}");
        b.edit(|c| c["linux"]["seccomp"] = profile.clone());
        let out = rt
            .run_bundle(&b, &unique_id("scdef"), &[])
            .expect_ok("run under the printed profile");
        assert_eq!(
            out.json()["errno"],
            json!(libc::EPERM),
            "{}: {out:?}",
            rt.bin.display()
        );
    }
}
