//! What clients read as text, not only as JSON: `state`, `list` and
//! `events` print runc's fields in runc's order (runc's list.bats and
//! events.bats match the lines with patterns), and `kill` takes what
//! runc's does (0 to check the container is there, any signal number).

use serde_json::{json, Value};

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

/// A started container sleeping in its init; returns its id.
fn sleeping(rt: &Rt, b: &Bundle) -> String {
    let id = unique_id("out");
    rt.create(b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    id
}

fn sleeping_bundle(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(&["/probe", "sleep", "600"]);
    b
}

/// The keys of a JSON object, in the order the text has them (serde_json
/// keeps it here: `preserve_order`).
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

const STATE_KEYS: [&str; 8] = [
    "ociVersion",
    "id",
    "pid",
    "status",
    "bundle",
    "rootfs",
    "created",
    "owner",
];

#[test]
fn state_prints_runc_fields_in_runc_order() {
    require_root!();
    let rt = Rt::new();
    let mut b = sleeping_bundle(&rt);
    let id = sleeping(&rt, &b);
    let out = rt.run(&["state", &id]).expect_ok("state");
    // Indented, no newline after the closing brace (runc writes the
    // bytes as they are).
    assert!(
        out.stdout.starts_with("{\n  \"ociVersion\": "),
        "{:?}",
        out.stdout
    );
    assert!(out.stdout.ends_with('}'), "{:?}", out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    // No annotations: none printed; the owner is empty in `state`.
    assert_eq!(keys(&v), STATE_KEYS, "{}", out.stdout);
    assert_eq!(v["owner"], "");
    // Go's time format: no trailing zeros in the fraction.
    let created = v["created"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && !created.contains("0Z"),
        "{created}"
    );

    // Annotations: after created, before owner, sorted by key.
    b.edit(|c| c["annotations"] = json!({"z.last": "1", "a.first": "2"}));
    let id = sleeping(&rt, &b);
    let v: Value =
        serde_json::from_str(&rt.run(&["state", &id]).expect_ok("state").stdout).unwrap();
    let mut want: Vec<&str> = STATE_KEYS[..7].to_vec();
    want.extend(["annotations", "owner"]);
    assert_eq!(keys(&v), want);
    assert_eq!(keys(&v["annotations"]), ["a.first", "z.last"]);
}

#[test]
fn list_prints_runc_json_and_table() {
    require_root!();
    let rt = Rt::new();
    // Nothing yet: `null`, as Go encodes an empty list.
    let out = rt.run(&["list", "--format", "json"]).expect_ok("list json");
    assert_eq!(out.stdout, "null\n");
    let b = sleeping_bundle(&rt);
    let ids = [sleeping(&rt, &b), sleeping(&rt, &b)];

    let out = rt.run(&["list", "--format", "json"]).expect_ok("list json");
    assert_eq!(out.stdout.lines().count(), 1, "{:?}", out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(keys(item), STATE_KEYS, "{item}");
        assert_eq!(item["owner"], "root");
        assert_eq!(item["status"], "running");
    }

    // The table: columns line up under their headers (Go's tabwriter).
    let out = rt.run(&["list"]).expect_ok("list");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header = lines[0];
    let cols: Vec<usize> = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .iter()
        .map(|h| {
            header
                .find(h)
                .unwrap_or_else(|| panic!("{h} not in {header:?}"))
        })
        .collect();
    assert_eq!(cols[0], 0);
    for w in cols.windows(2) {
        assert!(w[1] - w[0] >= 12, "columns narrower than 12: {header:?}");
    }
    for (line, id) in lines[1..].iter().zip(&ids) {
        assert!(line.starts_with(id.as_str()), "{line:?}");
        for c in &cols[1..] {
            let before = &line[..*c];
            assert!(
                before.ends_with("   "),
                "column at {c} not padded: {line:?}"
            );
            assert_ne!(line.as_bytes()[*c], b' ', "no cell at {c}: {line:?}");
        }
        assert!(line.ends_with("root"), "{line:?}");
    }
}

#[test]
fn list_with_a_missing_root_it_was_given_fails() {
    if !is_brig() {
        return crate::skip::test("runc 1.1 lists nothing there (runc 1.2 fails, as brig)");
    }
    let rt = Rt::new();
    let missing = rt.root.path().join("no-such-root");
    let out = rt.run_cmd({
        let mut c = std::process::Command::new(&rt.bin);
        c.arg("--root").arg(&missing).arg("list");
        c
    });
    assert!(!out.ok(), "{out:?}");
    assert!(out.stderr.contains("no-such-root"), "{out:?}");
}

/// events --stats: `{"type":"stats","id":ID,"data":{...}}` with runc's
/// sections and, inside them, runc's field order.
#[test]
fn events_stats_in_runc_order() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let id = sleeping(&rt, &b);
    let out = rt
        .run(&["events", "--stats", &id])
        .expect_ok("events --stats");
    let line = out.stdout.lines().next().unwrap_or_default();
    let prefix = format!(r#"{{"type":"stats","id":"{id}","data":{{"#);
    assert!(line.starts_with(&prefix), "{line:?}");
    let v: Value = serde_json::from_str(line).unwrap();
    let data = &v["data"];
    assert_eq!(
        keys(data),
        [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
            "network_interfaces"
        ]
    );
    assert_eq!(data["network_interfaces"], Value::Null);
    assert_eq!(keys(&data["cpu"]), ["usage", "throttling"]);
    // The fields a section has, in runc's order (which ones are there
    // depends on the values: Go leaves zeros out where it says omitempty).
    let in_order = |v: &Value, order: &[&str]| {
        let got = keys(v);
        let known: Vec<&String> = got.iter().filter(|k| order.contains(&k.as_str())).collect();
        let want: Vec<&&str> = order
            .iter()
            .filter(|k| got.iter().any(|g| g == *k))
            .collect();
        assert_eq!(known, want, "{v}");
        assert_eq!(known.len(), got.len(), "unknown fields in {v}");
    };
    in_order(
        &data["cpu"]["usage"],
        &[
            "total",
            "percpu",
            "percpu_kernel",
            "percpu_user",
            "kernel",
            "user",
        ],
    );
    in_order(
        &data["cpuset"],
        &[
            "cpus",
            "cpu_exclusive",
            "mems",
            "mem_hardwall",
            "mem_exclusive",
            "memory_migrate",
            "memory_spread_page",
            "memory_spread_slab",
            "memory_pressure",
            "sched_load_balance",
            "sched_relax_domain_level",
        ],
    );
    in_order(
        &data["memory"],
        &["cache", "usage", "swap", "kernel", "kernelTCP", "raw"],
    );
    for entry in ["usage", "swap", "kernel", "kernelTCP"] {
        in_order(
            &data["memory"][entry],
            &["limit", "usage", "max", "failcnt"],
        );
    }
    in_order(&data["pids"], &["current", "limit"]);
}

/// `kill ID 0` checks the container is there; any signal number goes
/// (SIGRTMIN+3 by number: what stops a container whose init is systemd).
#[test]
fn kill_takes_signal_0_and_numbers() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let id = sleeping(&rt, &b);
    rt.run(&["kill", &id, "0"])
        .expect_ok("kill 0 of a running container");
    // The init of a pid namespace ignores a signal it has no handler for.
    rt.run(&["kill", &id, "37"]).expect_ok("kill 37");
    rt.wait_status(&id, "running");
    rt.run(&["kill", &id, "KILL"]).expect_ok("kill KILL");
    rt.wait_status(&id, "stopped");
    let out = rt.run(&["kill", &id, "0"]);
    assert!(!out.ok(), "kill 0 of a stopped container: {out:?}");
    assert!(out.stderr.contains("container not running"), "{out:?}");
    rt.run(&["kill", "--all", &id, "0"])
        .expect_ok("kill --all 0 of a stopped container");
    rt.run(&["delete", &id]).expect_ok("delete");
}

fn gone_or_zombie(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

/// runc's kill.bats "kill KILL [host pidns]" and "[host pidns + init
/// gone]": without a pid namespace of its own, SIGKILL reaches every
/// process of the container, also after its init died.
#[test]
fn kill_without_own_pid_namespace_kills_every_process() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 kills only the init (runc 1.2 kills all, as brig)");
    }
    let rt = Rt::new();
    let mut b = sleeping_bundle(&rt);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    for init_gone in [false, true] {
        let id = sleeping(&rt, &b);
        let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
        let mut pids = Vec::new();
        for n in 0..3 {
            let pidfile = b.path().join(format!("{id}-{n}.pid"));
            rt.run(&[
                "exec",
                "-d",
                "--pid-file",
                pidfile.to_str().unwrap(),
                &id,
                "/probe",
                "sleep",
                "600",
            ])
            .expect_ok("exec -d");
            pids.push(
                std::fs::read_to_string(&pidfile)
                    .unwrap()
                    .trim()
                    .parse::<i64>()
                    .unwrap(),
            );
        }
        if init_gone {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            rt.wait_status(&id, "stopped");
        }
        rt.run(&["kill", &id, "KILL"])
            .expect_ok("kill KILL without a pid namespace");
        let start = std::time::Instant::now();
        for pid in &pids {
            while !gone_or_zombie(*pid) {
                assert!(
                    start.elapsed() < crate::common::DEADLINE,
                    "init gone: {init_gone}: {pid} survived kill KILL"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        rt.wait_status(&id, "stopped");
        rt.run(&["delete", &id]).expect_ok("delete");
    }
}
