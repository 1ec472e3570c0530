//! The pure cgroup v2 view: every runtime command runs in a private mount
//! namespace where /sys/fs/cgroup is cgroup2 (on this hybrid host only
//! hugetlb is delegable there; freeze, kill and the eBPF device program are
//! core cgroup2 features). Brig-only: runc 1.1 is not the reference here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cgroups::{cgroup_dirs, mknod_fuse, open_in, FUSE};
use crate::common::{self, require_root, unique_id, Bundle, Rt, DEADLINE};

/// A runtime whose every command runs in the cgroup2-only view, or None
/// (the calling test recorded as skipped) when that view cannot be made
/// here.
#[track_caller]
fn v2_runtime() -> Option<(Rt, tempfile::TempDir)> {
    if !common::is_brig() {
        crate::skip::test("cgroup v2 view: brig-only (runc 1.1 is not checked in this view)");
        return None;
    }
    if !PathBuf::from("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        crate::skip::test(
            "cgroup v2 view: this host has no cgroup2 mount at /sys/fs/cgroup/unified",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("brig-v2");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -m sh -c 'umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"' {} \"$@\"\n",
            common::runtime_bin().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    Some((Rt::with_bin(wrapper), dir))
}

fn bundle(rt: &Rt, args: &[&str], resources: Value) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(args);
    b.edit(|c| {
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    b
}

fn unified_dir(rt: &Rt, id: &str) -> PathBuf {
    let pid = rt.state(id).expect("state")["pid"].as_i64().unwrap();
    cgroup_dirs(pid)["unified"].clone()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn v2_placement_hugetlb_freeze_kill_delete() {
    require_root!();
    let Some((rt, _dir)) = v2_runtime() else {
        return;
    };
    let huge = PathBuf::from("/sys/kernel/mm/hugepages/hugepages-2048kB").exists();
    let res = if huge {
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]})
    } else {
        crate::skip::part("hugetlb limit: no 2MB huge pages on this kernel");
        json!({})
    };
    let mut b = bundle(
        &rt,
        &[
            "sh",
            "-c",
            "i=0; sleep 1000 & while :; do i=$((i+1)); echo $i > /tmp/n; done",
        ],
        res,
    );
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique_id("v2");
    rt.create(&b, &id, &[]).expect_ok("create in the v2 view");
    let dir = unified_dir(&rt, &id);
    assert!(
        dir.ends_with(&id),
        "init is not in the container's cgroup: {dir:?}"
    );
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    if huge {
        let v = fs::read_to_string(dir.join("hugetlb.2MB.max")).unwrap();
        assert_eq!(v.trim(), "4194304");
    }

    rt.run(&["start", &id]).expect_ok("start");
    let counter = b.rootfs().join("tmp/n");
    let count = || {
        fs::read_to_string(&counter)
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    wait_for("counter", || count() > 0);
    rt.run(&["pause", &id]).expect_ok("pause");
    assert_eq!(rt.state(&id).unwrap()["status"], "paused");
    assert_eq!(
        fs::read_to_string(dir.join("cgroup.freeze"))
            .unwrap()
            .trim(),
        "1"
    );
    let at = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), at, "the counter moved while frozen");
    rt.run(&["resume", &id]).expect_ok("resume");
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
    wait_for("counter to move after resume", || count() > at);

    let pids: Vec<i64> = serde_json::from_str(
        rt.run(&["ps", "--format", "json", &id])
            .expect_ok("ps")
            .stdout
            .trim(),
    )
    .unwrap();
    assert!(pids.len() >= 2, "{pids:?}");
    rt.run(&["kill", "--all", &id, "KILL"])
        .expect_ok("kill --all");
    wait_for("every process to die", || {
        fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|s| s.trim().is_empty())
    });
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).expect_ok("delete");
    assert!(!dir.exists(), "{} left after delete", dir.display());
}

#[test]
fn v2_device_program_denies_and_allows() {
    require_root!();
    let Some((rt, _dir)) = v2_runtime() else {
        return;
    };
    let mut b = bundle(&rt, &["true"], json!({}));
    mknod_fuse(&b);
    let j = open_in(&rt, &mut b, "/mnt/fuse", "r");
    assert_eq!(j["errno"], 1, "a device no rule allows was opened: {j}");
    let j = open_in(&rt, &mut b, "/dev/null", "w");
    assert_eq!(j["errno"], 0, "a default device was refused: {j}");
    b.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": FUSE.0, "minor": FUSE.1, "access": "r"}));
    });
    let j = open_in(&rt, &mut b, "/mnt/fuse", "r");
    assert_eq!(j["errno"], 0, "an allowed device was refused: {j}");
    let j = open_in(&rt, &mut b, "/mnt/fuse", "w");
    assert_eq!(j["errno"], 1, "write access beyond an r rule: {j}");
}
