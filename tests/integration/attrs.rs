//! Process attributes execve keeps: `linux.personality`,
//! `process.ioPriority`, `process.scheduler` (runtime-spec 1.2) and
//! `linux.memoryPolicy` (1.3), read back by the probe inside the
//! container, for init and for exec; bad values refused before anything
//! exists. runc 1.1.5 (Debian's) has none of them: these run against
//! brig (and runc main).

use serde_json::{json, Value};

use crate::common::{assert_clean_failure, is_brig, require_root, unique_id, Bundle, Rt};

const NOT_IN_RUNC_115: &str =
    "runc 1.1.5 lacks personality, ioPriority, scheduler and memoryPolicy";

/// ioprio value: class << 13 | level (linux/ioprio.h).
const BE_4: i64 = 2 << 13 | 4;
const IDLE: i64 = 3 << 13;
const SCHED_BATCH: i64 = 3;
const SCHED_DEADLINE: i64 = 6;
const MPOL_PREFERRED: i64 = 1;
const MPOL_F_RELATIVE_NODES: i64 = 1 << 14;

fn with_attrs(c: &mut Value) {
    c["linux"]["personality"] = json!({"domain": "LINUX32", "flags": []});
    c["linux"]["memoryPolicy"] =
        json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]});
    c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
    c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "priority": 0, "nice": 19});
}

/// The container's attributes, as config.json gives them: the personality
/// and memory policy of the container, the scheduler and I/O priority of
/// the process (a `--process` without them takes config.json's).
fn assert_config_attrs(facts: &Value, ioprio: i64, what: &str) {
    let a = &facts["attrs"];
    assert_eq!(facts["machine"], "i686", "{what}: {facts}");
    assert_eq!(a["personality"], 8, "{what}: PER_LINUX32: {a}");
    assert_eq!(a["ioprio"], ioprio, "{what}: {a}");
    assert_eq!(a["sched"]["policy"], SCHED_BATCH, "{what}: {a}");
    assert_eq!(a["sched"]["nice"], 19, "{what}: {a}");
    assert_eq!(
        a["mempolicy"]["mode"],
        MPOL_PREFERRED | MPOL_F_RELATIVE_NODES,
        "{what}: {a}"
    );
    assert_eq!(a["mempolicy"]["nodes"], 1, "{what}: {a}");
}

#[test]
fn attributes_reach_init_and_exec() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(with_attrs);

    // init: the container's first process.
    let facts = crate::common::probe_in(&rt, &mut b, &[]);
    assert_config_attrs(&facts, BE_4, "init");

    // exec, with config.json's process, and with a --process of its own.
    b.args(&["/probe", "sleep", "600"]);
    let id = unique_id("attrs");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    let facts = rt.run(&["exec", &id, "/probe"]).expect_ok("exec").json();
    assert_config_attrs(&facts, BE_4, "exec");

    let proc_json = b.path().join("process.json");
    let write = |p: Value| std::fs::write(&proc_json, p.to_string()).unwrap();
    let process_arg = proc_json.to_str().unwrap();
    write(json!({
        "terminal": false, "args": ["/probe"], "cwd": "/",
        "ioPriority": {"class": "IOPRIO_CLASS_IDLE"}
    }));
    let facts = rt
        .run(&["exec", "--process", process_arg, &id])
        .expect_ok("exec --process, own ioPriority")
        .json();
    assert_config_attrs(&facts, IDLE, "exec --process: config.json's scheduler");

    // The runtime-spec's flag name (oci-spec spells it otherwise).
    write(json!({
        "terminal": false, "args": ["/probe"], "cwd": "/",
        "scheduler": {
            "policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK"],
            "nice": 19, "priority": 0,
            "runtime": 42000, "deadline": 100000, "period": 1000000
        }
    }));
    let facts = rt
        .run(&["exec", "--process", process_arg, &id])
        .expect_ok("exec --process, SCHED_DEADLINE")
        .json();
    let s = &facts["attrs"]["sched"];
    assert_eq!(s["policy"], SCHED_DEADLINE, "{s}");
    assert_eq!(s["flags"], 1, "SCHED_FLAG_RESET_ON_FORK: {s}");
    assert_eq!(
        (&s["runtime"], &s["deadline"], &s["period"]),
        (&json!(42000), &json!(100000), &json!(1000000)),
        "{s}"
    );
    assert_eq!(facts["attrs"]["ioprio"], BE_4, "config.json's ioPriority");
}

/// Each refused before any process or cgroup exists, with runc's words
/// (or brig's, where runc runs what brig refuses).
#[test]
fn bad_attributes_are_refused_before_anything_exists() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let good = b.config.clone();
    let cases: &[(&str, Value, &str)] = &[
        (
            "/process/scheduler",
            json!({"policy": "SCHED_OTHER", "nice": 20}),
            "invalid scheduler.nice: 20 when scheduler.policy is SCHED_OTHER",
        ),
        (
            "/process/scheduler",
            json!({"policy": "SCHED_BATCH", "priority": 5}),
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy",
        ),
        (
            "/process/scheduler",
            json!({"policy": "SCHED_OTHER", "runtime": 5}),
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ),
        (
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "invalid ioPriority.Priority: 8",
        ),
        (
            "/linux/personality",
            json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
            "no personality flags are supported",
        ),
        (
            "/linux/memoryPolicy",
            json!({}),
            "invalid memory policy mode \"\"",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["badflag"]}),
            "invalid memory policy flag \"badflag\"",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "memory policy mode requires 0 nodes but got 8",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
            "invalid memory policy nodes \"0-9876543210\"",
        ),
    ];
    for (at, value, want) in cases {
        b.config = good.clone();
        b.edit(|c| {
            let (parent, field) = at.rsplit_once('/').unwrap();
            c.pointer_mut(parent).unwrap()[field] = value.clone();
        });
        let id = unique_id("badattr");
        let out = rt.create(&b, &id, &[]);
        let what = format!("{at} = {value}");
        assert_clean_failure(&rt, &out, &id, &what);
        assert!(out.stderr.contains(want), "{what}: {}", out.stderr);
    }
}

/// A scheduler the container's cpuset cannot host (SCHED_DEADLINE needs
/// every CPU of its root domain): the kernel's EPERM reported in runc's
/// words, by `create`, and nothing left.
#[test]
fn scheduler_against_a_cpuset_fails_create() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return crate::skip::test("needs 2 CPUs (a cpuset that leaves one out)");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["linux"]["resources"]["cpu"] = json!({"cpus": "0"});
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE", "nice": 19,
            "runtime": 42000, "deadline": 1000000, "period": 1000000});
    });
    let id = unique_id("dlcpus");
    let out = rt.create(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "SCHED_DEADLINE in cpuset 0");
    assert!(
        out.stderr
            .contains("process scheduler can't be used together with AllowedCPUs"),
        "{}",
        out.stderr
    );
}

/// `features` lists every memory policy mode and flag of the
/// runtime-spec, as runc main does (sorted).
#[test]
fn features_lists_memory_policy() {
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    let rt = Rt::new();
    let f = rt.run(&["features"]).expect_ok("features").json();
    let mp = &f["linux"]["memoryPolicy"];
    assert_eq!(
        mp["modes"],
        json!([
            "MPOL_BIND",
            "MPOL_DEFAULT",
            "MPOL_INTERLEAVE",
            "MPOL_LOCAL",
            "MPOL_PREFERRED",
            "MPOL_PREFERRED_MANY",
            "MPOL_WEIGHTED_INTERLEAVE"
        ]),
        "{mp}"
    );
    assert_eq!(
        mp["flags"],
        json!([
            "MPOL_F_NUMA_BALANCING",
            "MPOL_F_RELATIVE_NODES",
            "MPOL_F_STATIC_NODES"
        ]),
        "{mp}"
    );
}
