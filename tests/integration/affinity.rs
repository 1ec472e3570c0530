//! CPU affinity: a container's processes run on the CPUs of its cgroup,
//! not on the caller's (`taskset -c 0 brig run`), and an exec'd process
//! takes `process.execCPUAffinity` (runtime-spec 1.3): `initial` while
//! brig sets it up, `final` for the program. Read back by the probe
//! (`Cpus_allowed_list` of /proc/self/status) and from `--debug`, where
//! the child reports the CPUs it was born on in runc's words. runc 1.1.5
//! (Debian's) has neither the reset nor execCPUAffinity.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{is_brig, require_root, unique_id, Bundle, Out, Rt};

const NOT_IN_RUNC_115: &str =
    "runc 1.1.5 lacks execCPUAffinity and lets a container inherit the caller's CPUs";

/// The runtime with ARGS, pinned to CPU 0 as its caller.
fn on_cpu0(rt: &Rt, args: &[&str]) -> Out {
    let mut c = Command::new("taskset");
    c.args(["-c", "0"])
        .arg(&rt.bin)
        .arg("--root")
        .arg(rt.root.path());
    c.args(args).stdin(std::process::Stdio::null());
    rt.run_cmd(c)
}

fn cpus_allowed(facts: &Value) -> String {
    facts["status"]["Cpus_allowed_list"]
        .as_str()
        .unwrap_or_else(|| panic!("no Cpus_allowed_list: {facts}"))
        .to_string()
}

/// The CPUs this test may run on, as the container gets them without a
/// cpuset ("0-1").
fn own_cpus() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

/// CPUs 0 and 1 are both the test's to use.
fn has_cpus_0_and_1() -> bool {
    let c = own_cpus();
    c.starts_with("0-") || c.starts_with("0,1")
}

#[test]
fn container_processes_do_not_inherit_the_callers_cpus() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    if !has_cpus_0_and_1() {
        return crate::skip::test("needs CPUs 0 and 1 allowed to the test");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let all = own_cpus();
    for (cpus, want) in [(None, all.as_str()), (Some("1"), "1"), (Some("0-1"), "0-1")] {
        b.edit(|c| match cpus {
            Some(cpus) => c["linux"]["resources"]["cpu"] = json!({"cpus": cpus, "mems": "0"}),
            None => {
                c["linux"]["resources"]
                    .as_object_mut()
                    .map(|r| r.remove("cpu"));
            }
        });
        // The container's init.
        b.args(&["/probe"]);
        let id = unique_id("aff");
        rt.track(&id);
        let bundle = b.path().to_str().unwrap().to_string();
        let bundle = bundle.as_str();
        let facts = on_cpu0(&rt, &["run", "--bundle", bundle, &id])
            .expect_ok("run under taskset -c 0")
            .json();
        assert_eq!(cpus_allowed(&facts), want, "init, cpuset {cpus:?}");

        // An exec'd process, with no execCPUAffinity.
        b.args(&["/probe", "sleep", "600"]);
        let id = unique_id("aff");
        rt.track(&id);
        on_cpu0(&rt, &["run", "-d", "--bundle", bundle, &id]).expect_ok("run -d");
        rt.wait_status(&id, "running");
        let facts = on_cpu0(&rt, &["exec", &id, "/probe"])
            .expect_ok("exec under taskset -c 0")
            .json();
        assert_eq!(cpus_allowed(&facts), want, "exec, cpuset {cpus:?}");
        rt.run(&["delete", "--force", &id]).expect_ok("delete");
    }
}

#[test]
fn exec_takes_exec_cpu_affinity() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NOT_IN_RUNC_115);
    }
    if !has_cpus_0_and_1() {
        return crate::skip::test("needs CPUs 0 and 1 allowed to the test");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    // config.json's, for an exec without one of its own.
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}));
    b.args(&["/probe", "sleep", "600"]);
    let id = unique_id("execaff");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    // The init is not an exec'd process: every CPU.
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let init_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        init_status.contains(&format!("Cpus_allowed_list:\t{}\n", own_cpus())),
        "{init_status}"
    );

    let out = rt
        .run(&["--debug", "exec", &id, "/probe"])
        .expect_ok("exec");
    assert!(
        out.stderr.contains("affinity: 0x1"),
        "initial: {}",
        out.stderr
    );
    assert_eq!(cpus_allowed(&out.json()), "1", "final");

    // A process of its own: its lists, runc's spelling accepted.
    let proc_json = b.path().join("process.json");
    let process_arg = proc_json.to_str().unwrap();
    let exec_with = |aff: Value| {
        let p = json!({"terminal": false, "args": ["/probe"], "cwd": "/",
            "execCPUAffinity": aff});
        std::fs::write(&proc_json, p.to_string()).unwrap();
        rt.run(&["--debug", "exec", "--process", process_arg, &id])
    };
    let out = exec_with(json!({"initial": " 1,", "final": "0-1"})).expect_ok("initial 1");
    assert!(
        out.stderr.contains("affinity: 0x2"),
        "initial: {}",
        out.stderr
    );
    assert_eq!(cpus_allowed(&out.json()), "0-1", "final");
    let out = exec_with(json!({"initial": "1"})).expect_ok("initial only");
    assert!(
        out.stderr.contains("affinity: 0x2"),
        "initial: {}",
        out.stderr
    );

    // Refused before any process, in runc's words.
    let out = exec_with(json!({"final": "3-1"}));
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("bad CPUAffinity.Final: invalid range: 3-1"),
        "{}",
        out.stderr
    );
    rt.run(&["delete", "--force", &id]).expect_ok("delete");

    // A final list the cgroup's cpuset does not allow fails the exec.
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"}));
    let id = unique_id("execaff");
    rt.create(&b, &id, &[]).expect_ok("create, cpuset 0");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    let out = rt.run(&["exec", &id, "/probe"]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("error setting final CPU affinity: invalid argument (EINVAL)"),
        "{}",
        out.stderr
    );
}
