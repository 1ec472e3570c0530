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

/// The node's pool of user-namespace ranges (the `user_namespace` rule).
mod pool {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const LEASES: &str = "/run/brig/userns-pool/leases.json";

    /// A policy with only the user_namespace rule, clamping.
    fn policy_file(dir: &Path) -> String {
        let p = dir.join("userns.toml");
        std::fs::write(&p, "version = 1\n[user_namespace]\naction = \"clamp\"\n").unwrap();
        p.to_str().unwrap().to_string()
    }

    fn sleeper(rt: &Rt, edit: impl FnOnce(&mut Value)) -> Bundle {
        let mut b = Bundle::new(rt);
        b.args(&["/probe", "sleep", "600"]);
        b.edit(edit);
        b
    }

    fn create(rt: &Rt, policy: &str, b: &Bundle, id: &str) -> crate::common::Out {
        rt.track(id);
        let mut cmd = rt.command(&["--policy", policy, "create", "--bundle"]);
        cmd.arg(b.path()).arg(id);
        rt.run_cmd(cmd)
    }

    fn range(rt: &Rt, id: &str) -> (u64, u64) {
        let st = rt.state(id).expect("state");
        let r = &st["usernsRange"];
        (
            r["start"].as_u64().expect("usernsRange"),
            r["size"].as_u64().unwrap(),
        )
    }

    /// The ids of `root` the pool lists as holders.
    fn holders_of(root: &Path) -> HashSet<String> {
        let Ok(text) = std::fs::read_to_string(LEASES) else {
            return HashSet::new();
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        v["leases"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["holders"].as_array().unwrap().iter())
            .filter(|h| h["root"].as_str() == root.to_str())
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn exec_json(rt: &Rt, id: &str, args: &[&str]) -> Value {
        let mut a = vec!["exec", id];
        a.extend_from_slice(args);
        rt.run(&a).expect_ok("exec").json()
    }

    /// Two containers without a user namespace each get one, mapped to
    /// disjoint host ranges from the pool; the image's files keep their
    /// owner (host root's files are root's inside, through the idmapped
    /// rootfs), a volume's too, and what the container makes in the volume
    /// is the host's root's on disk. delete gives the ranges back.
    #[test]
    fn each_container_gets_its_own_range_and_keeps_its_files_owners() {
        require_root!();
        brig_only!();
        let rt = Rt::new();
        let dir = tempfile::tempdir().unwrap();
        let policy = policy_file(dir.path());
        let vol = tempfile::tempdir().unwrap();
        std::fs::write(vol.path().join("owned-by-root"), "x").unwrap();
        let volume = vol.path().to_str().unwrap().to_string();
        let b = sleeper(&rt, |c| {
            c["mounts"].as_array_mut().unwrap().push(
                json!({"destination": "/vol", "type": "bind", "source": volume, "options": ["rbind", "rw"]}),
            );
        });
        let (a, bb) = (unique_id("poola"), unique_id("poolb"));
        create(&rt, &policy, &b, &a).expect_ok("create a");
        create(&rt, &policy, &b, &bb).expect_ok("create b");
        for id in [&a, &bb] {
            rt.run(&["start", id]).expect_ok("start");
        }
        let (ra, rb) = (range(&rt, &a), range(&rt, &bb));
        assert_eq!((ra.1, rb.1), (65536, 65536));
        assert!(ra.0 + ra.1 <= rb.0 || rb.0 + rb.1 <= ra.0, "{ra:?} {rb:?}");
        assert!(ra.0 >= 3 << 30, "from the pool: {ra:?}");
        let facts = exec_json(&rt, &a, &["/probe"]);
        assert_eq!(
            facts["uid_map"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["0".to_string(), ra.0.to_string(), "65536".to_string()]
        );
        assert_eq!(facts["uid"], 0);
        for path in ["/probe", "/vol/owned-by-root"] {
            let st = exec_json(&rt, &a, &["/probe", "stat", path]);
            assert_eq!(
                (st["uid"].as_u64(), st["gid"].as_u64()),
                (Some(0), Some(0)),
                "{path}: {st}"
            );
        }
        let made = exec_json(&rt, &a, &["/probe", "mkdir", "/vol/made-inside"]);
        assert_eq!(made["errno"], 0, "{made}");
        let md = std::fs::metadata(vol.path().join("made-inside")).unwrap();
        assert_eq!(
            (md.uid(), md.gid()),
            (0, 0),
            "idmapped back to its owner on disk"
        );
        assert!(holders_of(rt.root.path()).contains(&a));
        for id in [&a, &bb] {
            rt.run(&["delete", "--force", id]).expect_ok("delete");
        }
        let left = holders_of(rt.root.path());
        assert!(!left.contains(&a) && !left.contains(&bb), "{left:?}");
    }

    /// 50 creates at once: 50 pairwise disjoint ranges; all free again
    /// after delete.
    #[test]
    fn fifty_concurrent_creates_get_disjoint_ranges() {
        require_root!();
        brig_only!();
        let rt = Rt::new();
        let dir = tempfile::tempdir().unwrap();
        let policy = policy_file(dir.path());
        let b = sleeper(&rt, |_| {});
        let ids: Vec<String> = (0..50).map(|i| unique_id(&format!("pool{i}"))).collect();
        std::thread::scope(|s| {
            for id in &ids {
                let (rt, b, policy) = (&rt, &b, &policy);
                s.spawn(move || create(rt, policy, b, id).expect_ok("create"));
            }
        });
        let mut ranges: Vec<(u64, u64)> = ids.iter().map(|id| range(&rt, id)).collect();
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {:?} {:?}", w[0], w[1]);
        }
        assert_eq!(holders_of(rt.root.path()).len(), 50);
        std::thread::scope(|s| {
            for id in &ids {
                let rt = &rt;
                s.spawn(move || rt.run(&["delete", "--force", id]).expect_ok("delete"));
            }
        });
        assert!(holders_of(rt.root.path()).is_empty());
    }

    /// A create SIGKILLed while its createRuntime hook runs (its record
    /// says creating, its range is leased) leaks nothing: `delete --force`
    /// frees the range.
    #[test]
    fn a_killed_create_leaks_no_range() {
        require_root!();
        brig_only!();
        let rt = Rt::new();
        let dir = tempfile::tempdir().unwrap();
        let policy = policy_file(dir.path());
        let b = sleeper(&rt, |c| {
            c["hooks"] =
                json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]});
        });
        let id = unique_id("poolkill");
        rt.track(&id);
        let mut cmd = rt.command(&["--policy", &policy, "create", "--bundle"]);
        cmd.arg(b.path()).arg(&id);
        let mut running = rt.spawn(cmd);
        let deadline = std::time::Instant::now() + crate::common::DEADLINE;
        while !holders_of(rt.root.path()).contains(&id) || rt.state(&id).is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "create never leased a range"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        running.child.kill().unwrap();
        running.child.wait().unwrap();
        assert!(
            holders_of(rt.root.path()).contains(&id),
            "still the record's"
        );
        rt.run(&["delete", "--force", &id])
            .expect_ok("delete --force");
        assert!(!holders_of(rt.root.path()).contains(&id));
        assert!(rt.state(&id).is_none());
    }

    /// The containers of one pod (containerd's sandbox-id annotation) share
    /// its range and join its user namespace.
    #[test]
    fn a_pod_shares_one_user_namespace() {
        require_root!();
        brig_only!();
        let rt = Rt::new();
        let dir = tempfile::tempdir().unwrap();
        let policy = policy_file(dir.path());
        let sandbox = unique_id("poolpod");
        let ann = json!({"io.kubernetes.cri.sandbox-id": sandbox, "io.kubernetes.cri.container-type": "sandbox"});
        let b = sleeper(&rt, |c| c["annotations"] = ann);
        create(&rt, &policy, &b, &sandbox).expect_ok("create the sandbox");
        rt.run(&["start", &sandbox]).expect_ok("start");
        let app = unique_id("poolapp");
        let ann = json!({"io.kubernetes.cri.sandbox-id": sandbox, "io.kubernetes.cri.container-type": "container"});
        let b = sleeper(&rt, |c| c["annotations"] = ann);
        create(&rt, &policy, &b, &app).expect_ok("create the app container");
        rt.run(&["start", &app]).expect_ok("start");
        assert_eq!(range(&rt, &sandbox), range(&rt, &app));
        // The operator's view of the pool: one lease for the pod, two holders.
        let leases = rt
            .run(&["policy", "leases", "-f", "json"])
            .expect_ok("policy leases")
            .json();
        let pod = leases
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == format!("pod:{sandbox}").as_str())
            .unwrap_or_else(|| panic!("no lease of the pod: {leases}"));
        let mut held: Vec<&str> = pod["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap())
            .collect();
        held.sort();
        let mut want = vec![sandbox.as_str(), app.as_str()];
        want.sort();
        assert_eq!(held, want);
        assert_eq!(pod["range"]["start"].as_u64(), Some(range(&rt, &app).0));
        let table = rt.run(&["policy", "leases"]).expect_ok("policy leases");
        assert!(table.stdout.starts_with("HOST IDS"), "{}", table.stdout);
        assert!(
            table.stdout.contains(&format!("pod:{sandbox}")),
            "{}",
            table.stdout
        );
        let user = |id: &str| exec_json(&rt, id, &["/probe"])["ns"]["user"].clone();
        assert_eq!(user(&sandbox), user(&app), "one user namespace");
        // Another pod: another range.
        let other = unique_id("poolother");
        let b = sleeper(&rt, |_| {});
        create(&rt, &policy, &b, &other).expect_ok("create");
        let (s, o) = (range(&rt, &sandbox), range(&rt, &other));
        assert!(s.0 + s.1 <= o.0 || o.0 + o.1 <= s.0);
        // The pod's range stays while one of its containers does.
        rt.run(&["delete", "--force", &sandbox]).expect_ok("delete");
        assert!(holders_of(rt.root.path()).contains(&app));
        for id in [&app, &other] {
            rt.run(&["delete", "--force", id]).expect_ok("delete");
        }
        assert!(holders_of(rt.root.path()).is_empty());
    }
}
