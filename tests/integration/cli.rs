//! Commands that need no container: --version, spec, features, global flags.

use std::fs;

use serde_json::Value;

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

/// `--version` as containerd's go-runc, Docker and runc's version.bats
/// read it: `NAME version X.Y.Z`, `commit: ...`, `spec: X.Y.Z`.
#[test]
fn version_names_the_runtime_and_spec() {
    let rt = Rt::new();
    for flag in ["--version", "-v"] {
        let out = rt.run(&[flag]).expect_ok(flag);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let (name, version) = lines[0].split_once(" version ").unwrap_or_default();
        assert!(
            !name.is_empty() && dotted(version),
            "{flag}: {:?}",
            out.stdout
        );
        assert!(lines[1].starts_with("commit: "), "{flag}: {:?}", out.stdout);
        let spec = lines[2].strip_prefix("spec: ").unwrap_or_default();
        assert!(
            spec.starts_with("1.") && dotted(spec),
            "{flag}: {:?}",
            out.stdout
        );
        assert!(
            lines.iter().any(|l| l.starts_with("libseccomp: ")),
            "{:?}",
            out.stdout
        );
        if is_brig() {
            assert_eq!(name, "brig", "brig-only: {:?}", out.stdout);
        }
    }
    if is_brig() {
        // brig-only: installed as runc, it answers as runc, which is what
        // clients and runc's own tests look for.
        let dir = tempfile::tempdir().unwrap();
        let runc = dir.path().join("runc");
        fs::copy(&rt.bin, &runc).unwrap();
        let out = Rt::with_bin(runc)
            .run(&["--version"])
            .expect_ok("runc --version");
        assert!(out.stdout.starts_with("runc version "), "{:?}", out.stdout);
    }
}

/// "1.2.3", "1.0.2-dev", "1.1.5+ds1": three dotted numbers first.
fn dotted(v: &str) -> bool {
    let nums: Vec<&str> = v.splitn(3, '.').collect();
    nums.len() == 3
        && nums[..2]
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && nums[2].starts_with(|c: char| c.is_ascii_digit())
}

/// runc's help.bats: `-h`/`--help` (and no command at all) print help that
/// starts `NAME:` / `   PROGRAM - Open Container Initiative runtime`;
/// every verb's starts `NAME:` / `   PROGRAM VERB - ...`; an unknown verb
/// is "No help topic", exit status 3.
#[test]
fn help_and_unknown_commands_as_runc_prints_them() {
    let rt = Rt::new();
    let program = rt.bin.file_name().unwrap().to_string_lossy().into_owned();
    for args in [&["-h"][..], &["--help"], &[]] {
        let out = rt.run(args).expect_ok("help");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], "NAME:", "{args:?}: {:?}", out.stdout);
        assert_eq!(
            lines[1],
            format!("   {program} - Open Container Initiative runtime"),
            "{args:?}"
        );
    }
    for verb in [
        "checkpoint",
        "create",
        "delete",
        "events",
        "exec",
        "kill",
        "list",
        "pause",
        "ps",
        "restore",
        "resume",
        "run",
        "spec",
        "start",
        "state",
        "update",
        "features",
    ] {
        for flag in ["-h", "--help"] {
            let out = rt.run(&[verb, flag]).expect_ok("verb help");
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(lines[0], "NAME:", "{verb} {flag}: {:?}", out.stdout);
            assert!(
                lines[1].starts_with(&format!("   {program} {verb} - ")),
                "{verb} {flag}: {:?}",
                out.stdout
            );
        }
    }
    for args in [&["foo"][..], &["foo", "-h"], &["help", "foo"]] {
        let out = rt.run(args);
        assert_eq!(out.code(), Some(3), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("No help topic for 'foo'"),
            "{args:?}: {out:?}"
        );
    }
    if is_brig() {
        // Refused with a reason, not taken for an unknown command.
        let out = rt.run(&["restore", "c1"]);
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(out.stderr.contains("not supported"), "{out:?}");
    }
}

#[test]
fn spec_writes_a_default_config_and_refuses_to_overwrite() {
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    rt.run(&["spec", "--bundle", d]).expect_ok("spec");
    let c: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap())
            .expect("spec JSON");
    assert!(c["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(c["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(c["root"]["path"], "rootfs");
    assert_eq!(c["root"]["readonly"], true);
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want), "spec lacks {want} namespace: {ns:?}");
    }
    assert!(c["linux"]["maskedPaths"].as_array().unwrap().len() > 3);
    assert!(!c["linux"]["readonlyPaths"].as_array().unwrap().is_empty());
    // Safe by default: no ambient-everything, no privileged extras.
    let caps = c["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert!(!caps.iter().any(|c| c == "CAP_SYS_ADMIN"), "{caps:?}");

    let again = rt.run(&["spec", "--bundle", d]);
    assert!(!again.ok(), "spec overwrote config.json: {again:?}");
}

#[test]
fn spec_rootless_maps_ids_in_a_user_namespace() {
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    rt.run(&[
        "spec",
        "--rootless",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .expect_ok("spec --rootless");
    let c: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    let ns = c["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"), "{ns:?}");
    assert!(!ns.iter().any(|n| n["type"] == "network"), "{ns:?}");
    assert_eq!(c["linux"]["uidMappings"][0]["containerID"], 0);
    assert_eq!(c["linux"]["gidMappings"][0]["containerID"], 0);
}

#[test]
fn features_is_runtime_spec_json() {
    let rt = Rt::new();
    let out = rt.run(&["features"]).expect_ok("features");
    let f: Value = serde_json::from_str(&out.stdout).expect("features JSON");
    assert!(f["ociVersionMin"].as_str().unwrap().starts_with("1."));
    assert!(f["ociVersionMax"].is_string());
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let hooks = list(&f["hooks"]);
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&kind.to_string()), "{kind} not in {hooks:?}");
    }
    let opts = list(&f["mountOptions"]);
    for o in [
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "bind",
        "rbind",
        "strictatime",
    ] {
        assert!(opts.contains(&o.to_string()), "mount option {o} missing");
    }
    let linux = &f["linux"];
    let ns = list(&linux["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&n.to_string()), "namespace {n} missing: {ns:?}");
    }
    let caps = list(&linux["capabilities"]);
    assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
    let sc = &linux["seccomp"];
    assert_eq!(sc["enabled"], true);
    assert!(list(&sc["actions"]).contains(&"SCMP_ACT_ERRNO".to_string()));
    assert!(list(&sc["operators"]).contains(&"SCMP_CMP_MASKED_EQ".to_string()));
    assert!(list(&sc["archs"]).contains(&"SCMP_ARCH_X86_64".to_string()));
    assert!(linux["apparmor"]["enabled"].is_boolean());
    assert!(linux["selinux"]["enabled"].is_boolean());

    if is_brig() {
        // brig-only: all eight namespaces (runc 1.1.5 has no time namespace),
        // every capability the kernel knows, and idmapped mounts reported.
        assert_eq!(ns.len(), 8, "brig-only: {ns:?}");
        assert!(ns.contains(&"time".to_string()), "brig-only: {ns:?}");
        assert!(
            caps.contains(&"CAP_CHECKPOINT_RESTORE".to_string()),
            "brig-only"
        );
        assert!(caps.contains(&"CAP_BPF".to_string()), "brig-only");
        assert!(opts.contains(&"rro".to_string()), "brig-only: rro");
        assert!(
            linux["mountExtensions"]["idmap"]["enabled"].is_boolean(),
            "brig-only: {f}"
        );
    }
}

#[test]
fn global_flags_are_accepted() {
    let rt = Rt::new();
    rt.run(&["--debug", "list"]).expect_ok("--debug list");
    rt.run(&["--systemd-cgroup", "list"])
        .expect_ok("--systemd-cgroup list");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    rt.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "list",
    ])
    .expect_ok("--log --log-format json list");
}

/// Global flags go before the verb, as runc's command line has them
/// (urfave/cli: "flag provided but not defined"): after it they are a
/// usage error, exit status 1, and no verb's help lists them.
#[test]
fn global_flags_only_before_the_verb() {
    let mut rts = vec![Rt::new()];
    rts.extend(Rt::runc_to_compare());
    for rt in &rts {
        let name = rt.bin.display();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        for args in [
            &["state", "--root", root, "c1"][..],
            &["list", "--debug"],
            &["delete", "--log-format", "json", "c1"],
        ] {
            let mut cmd = std::process::Command::new(&rt.bin);
            let out = rt.run_cmd({
                cmd.args(args);
                cmd
            });
            assert_eq!(out.code(), Some(1), "{name} {args:?}: {out:?}");
            let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
            assert!(
                out.stderr.contains(flag.trim_start_matches('-')),
                "{name} {args:?}: {out:?}"
            );
        }
        let help = rt.run(&["state", "--help"]).expect_ok("state --help");
        assert!(!help.stdout.contains("--root"), "{name}: {}", help.stdout);
    }
}

/// A standard stream brig is started without is opened on /dev/null
/// first: the `--log` file must not become fd 2 and get the error line
/// meant for stderr among its JSON lines.
#[test]
fn closed_stderr_does_not_end_up_in_the_log() {
    let rt = Rt::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let script = format!(
        "exec 2>&- 1>&-; exec \"$0\" --root {} --log {} --log-format json state no-such-container",
        rt.root.path().display(),
        log.display()
    );
    let out = rt.run_cmd({
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(script).arg(&rt.bin);
        c
    });
    assert_eq!(out.code(), Some(1), "{out:?}");
    let text = fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("does not exist"), "{text}");
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"));
    }
}

/// With `--log-format json`, the failure is the last `"level":"error"` line
/// of the log file: what containerd and podman show their users.
#[test]
fn json_log_ends_with_the_error() {
    require_root!();
    let rt = Rt::new();
    let b = Bundle::new(&rt);
    b.write_raw("{ not json");
    let log = b.path().join("log.json");
    let id = unique_id("log");
    rt.track(&id);
    let out = rt.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!out.ok(), "{out:?}");
    let text = fs::read_to_string(&log).expect("log file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect();
    let last_error = lines
        .iter()
        .rev()
        .find(|l| l["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {text}"));
    assert!(!last_error["msg"].as_str().unwrap().is_empty());
    assert!(last_error["time"].is_string());
    for l in &lines {
        let level = l["level"].as_str().unwrap();
        assert_eq!(level, level.to_lowercase(), "upper-case level: {l}");
    }
}

/// `brig spec --hardened` writes a config that runs as it is: root inside
/// a user namespace mapped far from the host's users, no capabilities,
/// seccomp on, no_new_privs, a read-only root; `brig check` says it meets
/// the restricted level; runc runs the same bundle alike.
#[test]
fn hardened_spec_runs_confined_and_passes_restricted() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("brig only: runc has no spec --hardened");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let dir = b.path().to_str().unwrap().to_string();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    rt.run(&["spec", "--hardened", "--bundle", &dir])
        .expect_ok("spec --hardened");
    let text = std::fs::read_to_string(b.path().join("config.json")).unwrap();
    b.config = serde_json::from_str(&text).unwrap();
    b.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(false);
        c["process"]["args"] = serde_json::json!([
            "sh", "-c",
            "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/uid_map; touch /x 2>&1; true"
        ]);
    });
    let check = rt.run(&["check", "--require", "restricted", &dir]);
    assert_eq!(check.code(), Some(0), "{check:?}");
    let mut runtimes = vec![rt];
    runtimes.extend(Rt::runc_to_compare());
    for rt in &runtimes {
        let out = rt
            .run_bundle(&b, &unique_id("hardened"), &[])
            .expect_ok("run the hardened bundle");
        let s = &out.stdout;
        for want in [
            "CapEff:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "NoNewPrivs:\t1",
            "Seccomp:\t2",
            "2147483648",
            "Read-only file system",
        ] {
            assert!(
                s.contains(want),
                "{}: {want:?} not in {s}",
                rt.bin.display()
            );
        }
        assert!(s.starts_with("0\n"), "root inside: {s}");
    }
}

/// `brig apparmor status` tells the truth about this host (the AppArmor
/// VM test proves the enabled case); `load` without AppArmor is one clear
/// line, non-zero, and writes nothing.
#[test]
fn apparmor_status_and_load_say_what_the_host_has() {
    if !is_brig() {
        return crate::skip::test("brig only: runc has no apparmor verb");
    }
    let rt = Rt::new();
    let enabled = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim_start().starts_with('Y'))
        && fs::read_to_string("/sys/kernel/security/lsm").is_ok_and(|l| l.contains("apparmor"));
    let out = rt
        .run(&["apparmor", "status", "--format", "json"])
        .expect_ok("apparmor status");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["enabled"], Value::Bool(enabled), "{v}");
    if !enabled {
        let out = rt.run(&["apparmor", "load"]);
        assert!(!out.ok());
        assert_eq!(
            out.stderr.trim(),
            "brig: apparmor: AppArmor is not enabled in this kernel"
        );
    }
}
