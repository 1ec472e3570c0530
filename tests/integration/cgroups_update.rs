//! Limits whose values runc 1.2+ reads its own way, at create and in
//! `update` (runc's update.bats "update pids.limit", "update cgroup
//! cpu.idle", "update rt period and runtime"; cgroups.bats "pids.limit=0
//! means 1"). Debian's runc 1.1.5 predates each of them, so under it
//! these tests skip.

use serde_json::json;

use crate::cgroups::{bundle, cgroup_dirs, pid_of, read, update};
use crate::common::{is_brig, require_root, unique_id, Rt};

/// pids.limit 0 is 1 (systemd cannot take TasksMax=0, and the cgroupfs
/// driver agrees with it); a `pids` without `limit` leaves pids.max alone.
#[test]
fn pids_limit_zero_means_one() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 leaves pids.max alone for pids.limit 0");
    }
    let rt = Rt::new();
    let b = bundle(&rt, &["sleep", "1000"], json!({"pids": {"limit": 0}}));
    let id = unique_id("pids0");
    rt.create(&b, &id, &[]).expect_ok("create");
    let pids = cgroup_dirs(pid_of(&rt, &id))["pids"].clone();
    assert_eq!(read(&pids, "pids.max"), "1", "create with limit 0");

    update(&rt, &id, &["--pids-limit", "7"], None).expect_ok("update 7");
    assert_eq!(read(&pids, "pids.max"), "7");
    update(&rt, &id, &["-r", "-"], Some(r#"{"pids": {}}"#)).expect_ok("update {}");
    assert_eq!(read(&pids, "pids.max"), "7", "no limit given: unchanged");
    update(&rt, &id, &["--pids-limit", "0"], None).expect_ok("update 0");
    assert_eq!(read(&pids, "pids.max"), "1", "update --pids-limit 0");
    update(&rt, &id, &["--pids-limit", "-1"], None).expect_ok("update -1");
    assert_eq!(read(&pids, "pids.max"), "max");
    rt.run(&["delete", "--force", &id]).expect_ok("delete");

    let b = bundle(&rt, &["sleep", "1000"], json!({"pids": {}}));
    let id = unique_id("pidsnone");
    rt.create(&b, &id, &[]).expect_ok("create with pids {}");
    let pids = cgroup_dirs(pid_of(&rt, &id))["pids"].clone();
    assert_eq!(read(&pids, "pids.max"), "max", "pids without limit");
}

/// `update --cpu-idle` and `cpu.idle` in `-r`; the kernel refuses values
/// other than 0 and 1, and other flags leave it alone.
#[test]
fn update_cpu_idle() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 has no update --cpu-idle");
    }
    let rt = Rt::new();
    let b = bundle(&rt, &["sleep", "1000"], json!({}));
    let id = unique_id("idle");
    rt.create(&b, &id, &[]).expect_ok("create");
    let cpu = cgroup_dirs(pid_of(&rt, &id))["cpu"].clone();
    if !cpu.join("cpu.idle").exists() {
        return crate::skip::test("this kernel's cpu controller has no cpu.idle");
    }
    assert_eq!(read(&cpu, "cpu.idle"), "0");
    for v in ["1", "0", "1"] {
        update(&rt, &id, &["--cpu-idle", v], None).expect_ok("update --cpu-idle");
        assert_eq!(read(&cpu, "cpu.idle"), v);
    }
    update(&rt, &id, &["-r", "-"], Some(r#"{"cpu": {"idle": 0}}"#)).expect_ok("-r idle 0");
    assert_eq!(read(&cpu, "cpu.idle"), "0");
    update(&rt, &id, &["--cpu-idle", "1"], None).expect_ok("update --cpu-idle 1");
    for bad in ["-1", "2"] {
        let out = update(&rt, &id, &["--cpu-idle", bad], None);
        assert!(!out.ok(), "--cpu-idle {bad} accepted: {out:?}");
        assert!(out.stderr.contains("cpu.idle"), "{out:?}");
        assert_eq!(read(&cpu, "cpu.idle"), "1");
    }
    // (Not --cpu-share: the kernel refuses a weight for an idle group.)
    update(&rt, &id, &["--cpu-period", "10000"], None).expect_ok("update --cpu-period");
    assert_eq!(read(&cpu, "cpu.idle"), "1", "another flag changed cpu.idle");
}

/// cpu.rt_period_us and cpu.rt_runtime_us depend on each other: a period
/// shorter than the runtime in place is written after the new runtime
/// (runc#4094). Small values: the root's real-time bandwidth is shared
/// with every other cgroup of this host.
#[test]
fn update_rt_period_and_runtime() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("rt");
    let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{id}")));
    rt.create(&b, &id, &[]).expect_ok("create");
    let cpu = cgroup_dirs(pid_of(&rt, &id))["cpu"].clone();
    if !cpu.join("cpu.rt_runtime_us").exists() {
        return crate::skip::test("this kernel has no real-time group scheduling");
    }
    let rt_values = || {
        (
            read(&cpu, "cpu.rt_period_us"),
            read(&cpu, "cpu.rt_runtime_us"),
        )
    };
    let want = |p: &str, r: &str| (p.to_string(), r.to_string());
    let input = r#"{"cpu": {"realtimeRuntime": 20000}}"#;
    update(&rt, &id, &["-r", "-"], Some(input)).expect_ok("-r runtime");
    assert_eq!(rt_values(), want("1000000", "20000"));
    let input = r#"{"cpu": {"realtimePeriod": 100000, "realtimeRuntime": 20000}}"#;
    update(&rt, &id, &["-r", "-"], Some(input)).expect_ok("-r period and runtime");
    assert_eq!(rt_values(), want("100000", "20000"));

    // A period the kernel refuses with no runtime to set first is an error.
    let out = update(&rt, &id, &["--cpu-rt-period", "10000"], None);
    assert!(!out.ok(), "period below the runtime accepted: {out:?}");
    assert!(out.stderr.contains("cpu.rt_period_us"), "{out:?}");
    assert_eq!(rt_values(), want("100000", "20000"));

    if !is_brig() {
        return crate::skip::part("runc 1.1 writes the period first (runc#4094)");
    }
    let flags = ["--cpu-rt-period", "10000", "--cpu-rt-runtime", "1000"];
    update(&rt, &id, &flags, None).expect_ok("shorter period and runtime");
    assert_eq!(rt_values(), want("10000", "1000"));
    let flags = ["--cpu-rt-period", "100000", "--cpu-rt-runtime", "5000"];
    update(&rt, &id, &flags, None).expect_ok("longer period and runtime");
    assert_eq!(rt_values(), want("100000", "5000"));
}

/// `update -r` reads its JSON as runc does (Go's decoder): keys in
/// another case fill their fields.
#[test]
fn update_resources_keys_in_another_case() {
    require_root!();
    let mut runtimes = vec![Rt::new()];
    runtimes.extend(Rt::runc_to_compare());
    for rt in &runtimes {
        let b = bundle(rt, &["sleep", "1000"], json!({}));
        let id = unique_id("rcase");
        rt.create(&b, &id, &[]).expect_ok("create");
        let pids = cgroup_dirs(pid_of(rt, &id))["pids"].clone();
        update(rt, &id, &["-r", "-"], Some(r#"{"PIDS": {"Limit": 9}}"#)).expect_ok("update");
        assert_eq!(read(&pids, "pids.max"), "9", "{}", rt.bin.display());
        rt.run(&["delete", "--force", &id]).expect_ok("delete");
    }
}
