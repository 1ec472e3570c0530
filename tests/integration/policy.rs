//! The node policy (brig only: runc has none), proven from inside real
//! containers: what a policy clamps is what the process has, what it
//! refuses leaves nothing behind, audit changes nothing, and `exec`
//! cannot get past the policy its container was created with.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{
    assert_clean_failure, is_brig, json_lines, require_root, unique_id, Bundle, Rt,
};
use crate::security::cap_mask;

const NET_BIND_SERVICE: u64 = 1 << 10;

/// The node policy is brig's: under runc these tests have nothing to test.
macro_rules! brig_only {
    () => {
        if !is_brig() {
            return crate::skip::test("brig only: runc has no node policy");
        }
    };
}

/// A bundle running the probe as uid 1000 (runc's spec otherwise: its
/// default capabilities, no seccomp filter).
fn user_bundle(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = json!(false);
    });
    b
}

fn probe(rt: &Rt, b: &Bundle, global: &[&str]) -> Value {
    let id = unique_id("pol");
    rt.track(&id);
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["run", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.run(&args).expect_ok("run the probe").json()
}

#[test]
fn restricted_clamps_what_the_process_has() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let b = user_bundle(&rt);
    let plain = probe(&rt, &b, &[])["status"].clone();
    assert_ne!(cap_mask(&plain, "CapBnd"), NET_BIND_SERVICE, "{plain}");
    assert_eq!(plain["Seccomp"], "0", "{plain}");

    let st = probe(&rt, &b, &["--policy", "restricted"])["status"].clone();
    assert_eq!(cap_mask(&st, "CapBnd"), NET_BIND_SERVICE, "{st}");
    assert_eq!(cap_mask(&st, "CapEff"), 0, "{st}");
    assert_eq!(st["NoNewPrivs"], "1", "{st}");
    assert_eq!(st["Seccomp"], "2", "brig's default profile: {st}");
}

#[test]
fn a_refusal_is_one_line_naming_policy_rule_and_field_and_leaves_nothing() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    // uid 0 outside a user namespace.
    let b = Bundle::new(&rt);
    let id = unique_id("polref");
    let out = rt.create(&b, &id, &[]);
    rt.run(&["delete", "--force", &id]);
    assert!(out.ok(), "without a policy it runs: {out:?}");
    let mut cmd = rt.command(&["--policy", "restricted", "create", "--bundle"]);
    cmd.arg(b.path()).arg(&id);
    let out = rt.run_cmd(cmd);
    assert_clean_failure(&rt, &out, &id, "uid 0 under restricted");
    assert_eq!(
        out.stderr.trim(),
        format!("brig: create {id}: refused by node policy \"restricted\" (rule \"process.run_as_non_root\"): process.user.uid: uid 0 outside a user namespace")
    );

    // A sensitive host path, and the host's network namespace.
    let mut b = user_bundle(&rt);
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}))
    });
    let out = rt.run(&[
        "--policy",
        "baseline",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_clean_failure(&rt, &out, &id, "bind of /etc under baseline");
    assert!(
        out.stderr.contains("(rule \"mounts\"): mounts[") && out.stderr.contains("/host-etc"),
        "{out:?}"
    );
    let mut b = user_bundle(&rt);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    let out = rt.run(&[
        "--policy",
        "baseline",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_clean_failure(&rt, &out, &id, "host network under baseline");
    assert!(
        out.stderr
            .contains("linux.namespaces: the host's network namespace"),
        "{out:?}"
    );
}

#[test]
fn audit_mode_changes_nothing_and_logs_each_finding_as_json() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let b = user_bundle(&rt);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("watch.toml");
    std::fs::write(
        &file,
        "version = 1\nmode = \"audit\"\n[capabilities]\naction = \"clamp\"\nallowed = []\n[process]\nno_new_privileges = \"refuse\"\n",
    )
    .unwrap();
    let log = dir.path().join("log.json");
    let global = [
        "--policy",
        file.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
    ];
    let st = probe(&rt, &b, &global)["status"].clone();
    let plain = probe(&rt, &b, &[])["status"].clone();
    assert_eq!(st["CapBnd"], plain["CapBnd"], "audit changed the caps");
    assert_eq!(st["NoNewPrivs"], "0", "audit refused nothing: {st}");
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    let audit: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["level"] == "warning"
                && l["msg"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("policy watch (audit): ")
        })
        .collect();
    assert!(
        audit.iter().any(|l| l["msg"]
            .as_str()
            .unwrap()
            .contains("process.capabilities.bounding")),
        "{lines:?}"
    );
    assert!(
        audit.iter().any(|l| l["msg"]
            .as_str()
            .unwrap()
            .contains("process.noNewPrivileges")),
        "{lines:?}"
    );
}

/// A containerd runtime handler names its policy through BinaryName: a
/// symlink `brig-NAME` to brig.
#[test]
fn invoked_as_brig_name_selects_that_policy() {
    require_root!();
    brig_only!();
    let dir = tempfile::tempdir().unwrap();
    let link: PathBuf = dir.path().join("brig-restricted");
    std::os::unix::fs::symlink(crate::common::runtime_bin(), &link).unwrap();
    let rt = Rt::with_bin(link);
    let b = user_bundle(&rt);
    let st = probe(&rt, &b, &[])["status"].clone();
    assert_eq!(cap_mask(&st, "CapBnd"), NET_BIND_SERVICE, "{st}");
    let id = unique_id("polname");
    let root = Bundle::new(&rt);
    let out = rt.create(&root, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "uid 0 under brig-restricted");
    assert!(out.stderr.contains("node policy \"restricted\""), "{out:?}");
}

#[test]
fn exec_cannot_get_past_the_containers_policy_and_state_names_it() {
    require_root!();
    brig_only!();
    let rt = Rt::new();
    let mut b = user_bundle(&rt);
    b.args(&["/bin/sleep", "600"]);
    let id = unique_id("polexec");
    rt.track(&id);
    let bundle = b.path().to_str().unwrap();
    rt.run(&[
        "--policy",
        "restricted",
        "run",
        "-d",
        "--bundle",
        bundle,
        &id,
    ])
    .expect_ok("run -d under restricted");
    let st = rt.state(&id).unwrap();
    assert_eq!(st["policy"], "restricted", "{st}");
    // Without --policy: the container's own applies. Asked-for caps are
    // clamped away, no_new_privs stays.
    let out = rt
        .run(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            "--cap",
            "CAP_NET_RAW",
            &id,
            "/probe",
        ])
        .expect_ok("exec --cap under restricted");
    let status = &out.json()["status"];
    assert_eq!(cap_mask(status, "CapBnd"), NET_BIND_SERVICE, "{status}");
    assert_eq!(status["NoNewPrivs"], "1", "{status}");
    assert_eq!(status["Seccomp"], "2", "{status}");
    // uid 0 is refused for exec too.
    let out = rt.run(&["exec", "--user", "0", &id, "/probe"]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("refused by node policy \"restricted\" (rule \"process.run_as_non_root\")"),
        "{out:?}"
    );
    // explain: what the policy did at create.
    let out = rt.run(&["policy", "explain", "-f", "json", &id]);
    let report = out.json();
    assert_eq!(report["policy"], "restricted");
    assert_eq!(report["refused"], false);
    let fields: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"process.capabilities.bounding"),
        "{report}"
    );
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
}

#[test]
fn explain_a_bundle_exits_1_when_the_policy_refuses() {
    brig_only!();
    let rt = Rt::new();
    let b = Bundle::new(&rt);
    let bundle = b.path().to_str().unwrap();
    let out = rt.run(&["--policy", "restricted", "policy", "explain", bundle]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stdout
            .starts_with("policy restricted (enforce): refused"),
        "{out:?}"
    );
    assert!(out.stdout.contains("process.user.uid"), "{out:?}");
    let out = rt.run(&["--policy", "privileged", "policy", "explain", bundle]);
    assert_eq!(out.code(), Some(0), "{out:?}");
    let out = rt.run(&["--policy", "no-such-policy", "policy", "explain", bundle]);
    assert!(
        !out.ok() && out.stderr.contains("no preset of that name"),
        "{out:?}"
    );
    assert!(Path::new(bundle).join("config.json").exists());
}
