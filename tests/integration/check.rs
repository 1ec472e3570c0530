//! `brig check` (brig only: runc has none): a privileged bundle fails
//! baseline and names the Kubernetes fields, a restricted-like bundle
//! passes restricted, and a running container's report is the kernel's
//! word on its process, read back here from /proc.

use serde_json::{json, Value};

use crate::common::{is_brig, parse_json, require_root, unique_id, Bundle, Rt};

macro_rules! brig_only {
    () => {
        if !is_brig() {
            return crate::skip::test("brig only: runc has no check");
        }
    };
}

fn check(rt: &Rt, args: &[&str]) -> (Option<i32>, String) {
    let mut full = vec!["check"];
    full.extend_from_slice(args);
    let out = rt.run(&full);
    assert!(out.stderr.trim().is_empty(), "check wrote errors: {out:?}");
    (out.code(), out.stdout)
}

fn check_json(rt: &Rt, target: &str) -> Value {
    let (code, text) = check(rt, &["--format", "json", target]);
    assert_eq!(code, Some(0), "{text}");
    parse_json(&text)
}

fn failing_fields(report: &Value, level: &str) -> Vec<String> {
    let l = report["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == level)
        .unwrap_or_else(|| panic!("no level {level}: {report}"));
    l["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kubernetesField"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[test]
fn a_privileged_bundle_fails_baseline_and_names_the_fields() {
    brig_only!();
    let rt = Rt::new();
    let features = parse_json(&rt.run(&["features"]).expect_ok("features").stdout);
    let all = features["linux"]["capabilities"].clone();
    assert!(all.as_array().is_some_and(|a| a.len() > 30), "{features}");
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": all, "effective": all, "permitted": all});
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}),
        );
        c["linux"]["sysctl"] = json!({"kernel.msgmax": "65536"});
    });
    let bundle = b.path().to_str().unwrap();

    let (code, text) = check(&rt, &["--require", "baseline", bundle]);
    assert_eq!(code, Some(1), "{text}");
    for field in [
        "securityContext.privileged",
        "hostNetwork",
        "spec.volumes[*].hostPath",
        "securityContext.sysctls",
        "securityContext.seccompProfile",
    ] {
        assert!(text.contains(field), "{field} not named:\n{text}");
    }
    assert!(text.contains("baseline    fail"), "{text}");
    assert!(text.contains("privileged       risk"), "{text}");
    assert!(!text.contains('\x1b'), "colour without a terminal:\n{text}");

    let (code, _) = check(&rt, &["--require", "privileged", bundle]);
    assert_eq!(code, Some(0), "privileged is always met");
    let (code, _) = check(&rt, &[bundle]);
    assert_eq!(
        code,
        Some(0),
        "without --require the report is not a verdict"
    );

    let report = check_json(&rt, bundle);
    assert_eq!(report["kind"], "bundle");
    let baseline = failing_fields(&report, "baseline");
    assert!(
        baseline.contains(&"securityContext.privileged".to_string()),
        "{baseline:?}"
    );
    let mounts = &report["concerns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "host_mounts")
        .unwrap()["facts"];
    assert_eq!(mounts[0]["sensitive"], "/etc", "{mounts}");
}

#[test]
fn a_restricted_like_bundle_passes_restricted() {
    brig_only!();
    let rt = Rt::new();
    // brig's default seccomp profile, as `spec --seccomp` writes it.
    let dir = tempfile::tempdir().unwrap();
    rt.run(&[
        "spec",
        "--seccomp",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .expect_ok("spec --seccomp");
    let with_seccomp: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        let caps = json!(["CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["linux"]["seccomp"] = with_seccomp["linux"]["seccomp"].clone();
    });
    let bundle = b.path().to_str().unwrap();
    let (code, text) = check(&rt, &["--require", "restricted", bundle]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("restricted  pass"), "{text}");
    let report = check_json(&rt, bundle);
    assert!(failing_fields(&report, "restricted").is_empty(), "{report}");
}

/// `CapBnd` etc. of /proc/PID/status, as the kernel shows them.
fn status_of(pid: i64) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn a_running_container_is_checked_against_the_kernel() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "600"]);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = json!({"limit": 64});
    });
    let id = unique_id("chk");
    rt.track(&id);
    let mut cmd = rt.command(&["--policy", "restricted", "create", "--bundle"]);
    cmd.arg(b.path()).arg(&id);
    rt.run_cmd(cmd).expect_ok("create under restricted");

    let created = check_json(&rt, &id);
    assert_eq!(created["status"], "created");
    assert!(created.get("kernel").is_none(), "{created}");
    assert!(created["kernelNote"].is_string(), "{created}");

    rt.run(&["start", &id]).expect_ok("start");
    let st = rt.wait_status(&id, "running");
    let pid = st["pid"].as_i64().unwrap();
    let report = check_json(&rt, &id);
    let kernel = &report["kernel"];
    assert_eq!(kernel["pid"], pid, "{report}");
    assert_eq!(kernel["agrees"], true, "{kernel}");
    let status = status_of(pid);
    let row = |what: &str| {
        kernel["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["what"] == what)
            .unwrap_or_else(|| panic!("no {what}: {kernel}"))
            .clone()
    };
    assert_eq!(
        status["Seccomp"], "2",
        "the restricted policy gave a filter"
    );
    assert_eq!(row("Seccomp")["kernel"], "2 (filter)");
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(row("NoNewPrivs")["kernel"], "1");
    assert_eq!(status["CapBnd"], format!("{:016x}", 1u64 << 10));
    assert_eq!(row("CapBnd")["kernel"], "CAP_NET_BIND_SERVICE");
    assert_eq!(status["CapEff"], "0000000000000000");
    assert_eq!(row("CapEff")["kernel"], "none");

    // The cgroup's limits, read back.
    assert_eq!(row("memory.max")["kernel"], "67108864");
    assert_eq!(row("pids.max")["kernel"], "64");

    let policy = &report["policy"];
    assert_eq!(policy["name"], "restricted", "{report}");
    assert_eq!(policy["source"], "create");
    assert!(failing_fields(&report, "restricted").is_empty(), "{report}");

    let (code, text) = check(&rt, &["--require", "restricted", &id]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("KERNEL (pid {pid}): agrees with the config")),
        "{text}"
    );
    assert!(text.contains("NODE POLICY restricted"), "{text}");

    // Someone lifts the limit behind brig's back: the report says so.
    let pids_max = pids_max_of(pid);
    std::fs::write(&pids_max, "max").unwrap();
    let lifted = check_json(&rt, &id);
    let kernel = &lifted["kernel"];
    assert_eq!(kernel["agrees"], false, "{kernel}");
    let pids = kernel["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "pids.max")
        .unwrap();
    assert_eq!(
        (pids["kernel"].as_str(), pids["config"].as_str()),
        (Some("max"), Some("64"))
    );
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
}

/// The pids.max file of `pid`'s cgroup (v1 pids hierarchy, or v2).
fn pids_max_of(pid: i64) -> std::path::PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == "pids") {
            return std::path::Path::new("/sys/fs/cgroup/pids")
                .join(path.trim_start_matches('/'))
                .join("pids.max");
        }
    }
    let path = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let base = if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    std::path::Path::new(base)
        .join(path.trim_start_matches('/'))
        .join("pids.max")
}
