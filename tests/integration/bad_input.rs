//! Bad input: a non-zero exit, one clear line, and nothing left behind.

use serde_json::json;

use crate::common::{assert_clean_failure, is_brig, require_root, unique_id, Bundle, Rt};

#[test]
fn malformed_json() {
    require_root!();
    let rt = Rt::new();
    let b = Bundle::new(&rt);
    for text in [
        "{ not json",
        "",
        "[]",
        "{\"ociVersion\": \"1.0.2\", \"process\": ",
    ] {
        b.write_raw(text);
        let id = unique_id("badjson");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, &format!("config {text:?}"));
    }
}

#[test]
fn wrong_types() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let good = b.config.clone();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "args is a string",
            Box::new(|c| c["process"]["args"] = json!("/probe")),
        ),
        (
            "uid is a string",
            Box::new(|c| c["process"]["user"]["uid"] = json!("root")),
        ),
        (
            "mounts is an object",
            Box::new(|c| c["mounts"] = json!({"a": 1})),
        ),
        (
            "root.path is a number",
            Box::new(|c| c["root"]["path"] = json!(7)),
        ),
    ];
    for (what, edit) in edits {
        b.config = good.clone();
        b.edit(edit);
        let id = unique_id("types");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, what);
    }
}

#[test]
fn bad_ids() {
    require_root!();
    let rt = Rt::new();
    let b = Bundle::new(&rt);
    let long = "x".repeat(1025);
    for id in ["../x", "a/b", ".", "..", "", "a b", "/abs", long.as_str()] {
        let out = rt.create(&b, id, &[]);
        assert!(!out.ok(), "id {id:?} accepted");
        assert!(!out.stderr.trim().is_empty(), "id {id:?}: no error");
        if is_brig() {
            assert_eq!(out.stderr.trim().lines().count(), 1, "brig-only: {out:?}");
        }
        assert!(
            rt.root_entries().is_empty(),
            "id {id:?} left {:?}",
            rt.root_entries()
        );
        assert!(!b.path().parent().unwrap().join("x").exists() || id != "../x");
    }
}

#[test]
fn missing_rootfs_and_config() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let id = unique_id("norootfs");
    let out = rt.create(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "missing rootfs");

    std::fs::remove_file(b.path().join("config.json")).unwrap();
    let id = unique_id("noconfig");
    let out = rt.create(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "missing config.json");
}

#[test]
fn bad_hooks_are_refused() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    // runc fails these later (exec of a relative path); brig before any
    // process, with the hook named.
    let cases = [
        (
            json!({"prestart": [{"path": "relative/hook"}]}),
            "hooks.prestart[0]: path",
        ),
        (
            json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]}),
            "hooks.createRuntime[0]: timeout 0",
        ),
    ];
    for (i, (hooks, want)) in cases.into_iter().enumerate() {
        if i > 0 && !is_brig() {
            break;
        }
        b.edit(|c| c["hooks"] = hooks);
        let id = unique_id("badhook");
        let out = rt.run_bundle(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, want);
        if is_brig() {
            assert!(out.stderr.contains(want), "{want:?} not in {out:?}");
        }
    }
}

#[test]
fn args0_not_found() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/no/such/binary"]);
    let id = unique_id("noexec");
    let out = rt.run_bundle(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "args[0] not found");
    b.args(&["not-in-path"]);
    let id = unique_id("nopath");
    let out = rt.run_bundle(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "args[0] not in PATH");
}

#[test]
fn duplicate_id_leaves_the_first_alone() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("dup");
    rt.create(&b, &id, &[]).expect_ok("create");
    let pid = rt.state(&id).unwrap()["pid"].clone();
    let out = rt.create(&b, &id, &[]);
    assert!(!out.ok(), "second create with the same id: {out:?}");
    let st = rt.state(&id).expect("first container gone");
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
}

/// Inputs runc refuses are refused before anything exists: a label brig
/// cannot apply, an env entry that is no KEY=VALUE, a non-procfs /proc, a
/// mount over a kernel file under /proc, a root.path through a symlink.
#[test]
fn inputs_runc_refuses() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let good = b.config.clone();
    let link = b.path().join("rootfs-link");
    std::os::unix::fs::symlink("rootfs", &link).unwrap();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let mut edits: Vec<(&str, Edit)> = vec![
        (
            "process.selinuxLabel without SELinux",
            Box::new(|c| {
                c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2")
            }),
        ),
        (
            "env entry without '='",
            Box::new(|c| c["process"]["env"] = json!(["PATH=/bin", "NOEQUALS"])),
        ),
        (
            "tmpfs on /proc",
            Box::new(|c| {
                let mounts = c["mounts"].as_array_mut().unwrap();
                for m in mounts.iter_mut() {
                    if m["destination"] == "/proc" {
                        *m = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
                    }
                }
            }),
        ),
        (
            "bind over /proc/sys/kernel/core_pattern",
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/proc/sys/kernel/core_pattern", "type": "bind",
                    "source": "/etc/hostname", "options": ["bind"]}))
            }),
        ),
        (
            "root.path is a symlink",
            Box::new(|c| c["root"]["path"] = json!("rootfs-link")),
        ),
    ];
    if is_brig() {
        // runc 1.1 drops a mount label silently on a host without SELinux.
        edits.push((
            "linux.mountLabel without SELinux",
            Box::new(|c| {
                c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2")
            }),
        ));
    }
    for (what, edit) in edits {
        b.config = good.clone();
        b.edit(edit);
        let id = unique_id("refused");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, what);
        // run too: nothing may be left to trip a retry.
        let out = rt.run_bundle(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, what);
    }
}

/// A lxcfs-style bind over /proc/meminfo is allowed, as with runc.
#[test]
fn bind_over_lxcfs_proc_file_is_allowed() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let fake = b.path().join("meminfo");
    std::fs::write(&fake, "MemTotal: 42 kB\n").unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/proc/meminfo", "type": "bind",
            "source": fake.to_str().unwrap(), "options": ["bind", "ro"]}))
    });
    b.args(&["cat", "/proc/meminfo"]);
    let out = rt.run_bundle(&b, &unique_id("lxcfs"), &[]).expect_ok("run");
    assert_eq!(out.stdout.trim(), "MemTotal: 42 kB");
}

/// The state directory is 0711, or stricter under the caller's umask (as
/// runc): never more open, even with umask 0.
#[test]
fn state_dir_mode_follows_runc() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "30"]);
    for mask in [0o000, 0o077] {
        let id = unique_id("mode");
        rt.track(&id);
        let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        // SAFETY: umask is async-signal-safe and only changes the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                libc::umask(mask);
                Ok(())
            });
        }
        rt.run_cmd(cmd).expect_ok("create");
        let meta = std::fs::metadata(rt.root.path().join(&id)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        assert_eq!(mode, 0o711 & !mask, "umask {mask:o}");
        rt.run(&["delete", "--force", &id]).expect_ok("delete");
    }
}

/// A `run` whose start fails (a failing startContainer hook) removes the
/// container: the same id can be used again at once.
#[test]
fn failed_run_leaves_nothing() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["true"]);
    b.edit(|c| c["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]}));
    let id = unique_id("failrun");
    for attempt in 0..2 {
        let out = rt.run_bundle(&b, &id, &[]);
        assert!(!out.ok(), "attempt {attempt}: {out:?}");
        assert!(
            !out.stderr.contains("already exists"),
            "attempt {attempt}: {out:?}"
        );
        assert!(rt.state(&id).is_none(), "attempt {attempt}: container left");
        assert!(crate::common::cgroup_leftovers(&id).is_empty());
    }
}
