//! OCI hooks: each kind runs at its point of the lifecycle, in its
//! namespaces, with the state JSON on stdin, exactly its args and env; a
//! failing or slow hook fails create cleanly; poststart/poststop only warn.
//!
//! Every hook is `/bin/busybox` with args[0] "sh": busybox picks its applet
//! from argv[0], so the hook running at all shows args[0] was argv[0]. The
//! script records what it saw under a log directory, which the container
//! sees at /hooklog (startContainer runs inside it).

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{assert_clean_failure, is_brig, require_root, unique_id, Bundle, Rt, DEADLINE};

/// Records, for hook kind $2 under directory $1: the stdin state, $0 and
/// the args, the environment, the mount namespace; appends the kind to
/// `order`; then exits with $3 (default 0).
const RECORD: &str = r#"B=/bin/busybox
d="$1"; k="$2"
$B cat > "$d/$k.state"
echo "$0 $*" > "$d/$k.args"
$B env > "$d/$k.env"
$B readlink /proc/self/ns/mnt > "$d/$k.mnt"
echo "$k" >> "$d/order"
exit "${3:-0}""#;

/// The container sees the log directory here.
const IN_CONTAINER: &str = "/hooklog";

fn hook(script: &str, args: &[&str], extra: Value) -> Value {
    let mut a = vec!["sh", "-c", script, "hookname"];
    a.extend_from_slice(args);
    let mut h = json!({"path": "/bin/busybox", "args": a});
    if let (Some(h), Some(extra)) = (h.as_object_mut(), extra.as_object()) {
        h.extend(extra.clone());
    }
    h
}

/// A recording hook of `kind`: runtime-side kinds log to the host path,
/// startContainer (resolved and run in the container) to /hooklog.
fn recorder(kind: &str, log: &Path) -> Value {
    let dir = if kind == "startContainer" {
        IN_CONTAINER.to_string()
    } else {
        log.display().to_string()
    };
    hook(
        RECORD,
        &[&dir, kind],
        json!({"env": [format!("HOOK_KIND={kind}"), "SPACED=a b=c"]}),
    )
}

/// A bundle whose container sees `log` at /hooklog.
fn bundle_with_log(rt: &Rt, log: &Path) -> Bundle {
    let mut b = Bundle::new(rt);
    let src = log.display().to_string();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": IN_CONTAINER, "type": "bind", "source": src,
            "options": ["rbind", "rw"]
        }));
    });
    b
}

fn order(log: &Path) -> Vec<String> {
    fs::read_to_string(log.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn seen(log: &Path, kind: &str, what: &str) -> String {
    fs::read_to_string(log.join(format!("{kind}.{what}")))
        .unwrap_or_else(|e| panic!("{kind} hook left no {what}: {e}"))
}

fn host_mnt_ns() -> String {
    fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn all_six_kinds_run_in_lifecycle_order() {
    require_root!();
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let mut b = bundle_with_log(&rt, log.path());
    let kinds = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    let hooks: serde_json::Map<String, Value> = kinds
        .iter()
        .map(|k| (k.to_string(), json!([recorder(k, log.path())])))
        .collect();
    b.args(&["/probe", "sleep", "60"])
        .edit(|c| c["hooks"] = Value::Object(hooks));
    let id = unique_id("hooks");
    rt.track(&id);
    // Nothing of the runtime's own environment reaches a hook.
    let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.env("BRIG_HOOK_TEST_LEAK", "1");
    rt.run_cmd(cmd).expect_ok("create");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();

    let created = order(log.path());
    // runc 1.1 runs poststart at create; the spec puts it after start.
    let expect_created: &[&str] = &["prestart", "createRuntime", "createContainer"];
    assert_eq!(&created[..3], expect_created, "order after create");
    if is_brig() {
        assert_eq!(created.len(), 3, "order after create: {created:?}");
    }

    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    let started = order(log.path());
    assert!(
        started.contains(&"startContainer".to_string()) && started.contains(&"poststart".into()),
        "order after start: {started:?}"
    );
    if is_brig() {
        assert_eq!(started[3..], ["startContainer", "poststart"]);
    }
    rt.run(&["kill", &id, "KILL"]).expect_ok("kill");
    rt.wait_status(&id, "stopped");
    assert!(!order(log.path()).contains(&"poststop".to_string()));
    rt.run(&["delete", &id]).expect_ok("delete");
    assert_eq!(order(log.path()).last().unwrap(), "poststop");
    assert_eq!(order(log.path()).len(), 6, "{:?}", order(log.path()));

    let host_mnt = host_mnt_ns();
    for kind in kinds {
        let st: Value = serde_json::from_str(&seen(log.path(), kind, "state"))
            .unwrap_or_else(|e| panic!("{kind} state on stdin is not JSON: {e}"));
        let want = match kind {
            "prestart" | "createRuntime" | "createContainer" => "creating",
            "startContainer" => "created",
            // runc 1.1 still says "created" to poststart hooks.
            "poststart" if is_brig() => "running",
            "poststart" => "created",
            _ => "stopped",
        };
        assert_eq!(st["status"], want, "{kind}: {st}");
        assert_eq!(st["id"], id.as_str(), "{kind}: {st}");
        let in_container = matches!(kind, "createContainer" | "startContainer");
        // runc reports the init's pid in its own pid namespace (1) to the
        // hooks run by init; the spec says "as seen by the host". It omits
        // the pid of a stopped container (optional then).
        if is_brig() || !(in_container || kind == "poststop") {
            assert_eq!(st["pid"].as_i64(), Some(pid), "{kind}: {st}");
        }
        let args = seen(log.path(), kind, "args");
        assert!(args.starts_with("hookname "), "{kind} args: {args:?}");
        assert!(args.trim_end().ends_with(kind), "{kind} args: {args:?}");
        let env = seen(log.path(), kind, "env");
        assert!(
            env.contains(&format!("HOOK_KIND={kind}\n")),
            "{kind}: {env}"
        );
        assert!(env.contains("SPACED=a b=c\n"), "{kind}: {env}");
        assert!(!env.contains("BRIG_HOOK_TEST_LEAK"), "{kind}: {env}");
        let mnt = seen(log.path(), kind, "mnt");
        assert_eq!(
            mnt.trim() == host_mnt,
            !in_container,
            "{kind} ran in mount namespace {mnt} (host {host_mnt})"
        );
    }
}

#[test]
fn failing_create_runtime_fails_create_and_leaves_nothing() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let fail = hook("echo boom from the hook >&2; exit 3", &[], json!({}));
    b.edit(|c| c["hooks"] = json!({"createRuntime": [fail]}));
    let id = unique_id("hookfail");
    let out = rt.create(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "failing createRuntime hook");
    if is_brig() {
        for part in [
            "error running createRuntime hook #0: /bin/busybox",
            "exit status 3",
            "boom",
        ] {
            assert!(out.stderr.contains(part), "{part:?} not in {out:?}");
        }
    }
    let list = rt.run(&["list", "-q"]).expect_ok("list");
    assert!(!list.stdout.contains(&id), "{list:?}");
}

#[test]
fn failing_create_container_fails_create() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["hooks"] = json!({"createContainer": [hook("exit 7", &[], json!({}))]}));
    let id = unique_id("hookcc");
    let out = rt.create(&b, &id, &[]);
    assert_clean_failure(&rt, &out, &id, "failing createContainer hook");
    if is_brig() {
        assert!(
            out.stderr
                .contains("error running createContainer hook #0: /bin/busybox: exit status 7"),
            "{out:?}"
        );
    }
}

#[test]
fn timeout_kills_a_sleeping_hook_and_fails_create() {
    require_root!();
    for kind in ["createRuntime", "createContainer"] {
        let rt = Rt::new();
        let log = tempfile::tempdir().unwrap();
        let mut b = Bundle::new(&rt);
        let pidfile = log.path().join("pid");
        // A sleep length no other process has, to find it on the host: the
        // createContainer hook runs in the container's pid namespace, so
        // the pid it sees is not the host's.
        let secs = 600_000 + std::process::id() % 100_000;
        let script = format!(
            "echo $$ > {}; exec /bin/busybox sleep {secs}",
            pidfile.display()
        );
        let slow = hook(&script, &[], json!({"timeout": 1}));
        b.edit(|c| c["hooks"] = json!({ kind: [slow] }));
        let id = unique_id("hooktime");
        rt.track(&id);
        let b_path = b.path().to_str().unwrap().to_string();
        let out = rt
            .spawn(rt.command(&["create", "--bundle", &b_path, &id]))
            .wait();
        assert_clean_failure(&rt, &out, &id, "hook past its timeout");
        if is_brig() {
            let want = format!("error running {kind} hook #0: /bin/busybox: timed out after 1s");
            assert!(out.stderr.contains(&want), "{want:?} not in {out:?}");
        }
        fs::read_to_string(&pidfile).expect("the hook ran");
        // The kill is done when create returns, but a reaped pid may take
        // an instant to vanish from /proc: poll with the hang guard.
        let start = std::time::Instant::now();
        let needle = format!("sleep\0{secs}\0");
        while let Some(pid) = fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd)
                .contains(&needle)
                .then(|| e.file_name())
        }) {
            assert!(
                start.elapsed() < DEADLINE,
                "{kind}: hook (pid {pid:?}) still there"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn failing_poststop_only_warns() {
    require_root!();
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let mut b = bundle_with_log(&rt, log.path());
    let mut fail = recorder("poststop", log.path());
    fail["args"].as_array_mut().unwrap().push(json!("9"));
    let hooks = json!({ "poststop": [fail, recorder("second", log.path())] });
    b.args(&["/bin/true"]).edit(|c| c["hooks"] = hooks);
    let id = unique_id("hookwarn");
    let out = rt.run_bundle(&b, &id, &[]);
    if is_brig() {
        assert_eq!(out.code(), Some(0), "run: {out:?}");
        assert!(
            out.stderr.contains("error running poststop hook #0"),
            "{out:?}"
        );
    }
    // The failing poststop did not stop the next one (the spec's rule;
    // runc 1.1 stops at the first failure).
    let want: &[&str] = if is_brig() {
        &["poststop", "second"]
    } else {
        &["poststop"]
    };
    assert_eq!(order(log.path()), want, "{out:?}");
    assert!(rt.state(&id).is_none(), "container left after run: {out:?}");
}

/// A failing poststart hook stops the container and fails `run` (and
/// `start`), as runc does; the hooks after it do not run.
#[test]
fn failing_poststart_kills_the_container_and_fails_run() {
    require_root!();
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let mut b = bundle_with_log(&rt, log.path());
    let hooks = json!({
        "poststart": [hook("exit 4", &[], json!({})), recorder("second", log.path())]
    });
    b.args(&["/bin/sleep", "600"]).edit(|c| c["hooks"] = hooks);
    let id = unique_id("hookps");
    let out = rt.run_bundle(&b, &id, &[]);
    assert!(!out.ok(), "run with a failing poststart hook: {out:?}");
    // runc 1.1 says "error running hook #0"; runc 1.2+ as brig.
    if is_brig() {
        assert!(
            out.stderr.contains("error running poststart hook #0"),
            "{out:?}"
        );
    }
    assert!(order(log.path()).is_empty(), "the second hook ran: {out:?}");

    // create + start: start fails, the container is stopped (runc 1.1 runs
    // poststart hooks at create, so there create fails).
    if !is_brig() {
        return crate::skip::part("runc 1.1 runs poststart hooks at create: no start to fail");
    }
    let id = unique_id("hookps2");
    rt.create(&b, &id, &[]).expect_ok("create");
    let out = rt.run(&["start", &id]);
    assert!(!out.ok(), "start with a failing poststart hook: {out:?}");
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id])
        .expect_ok("delete the stopped container");
}

#[test]
fn failing_start_container_fails_start() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1's start returns before the hook runs");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]).edit(|c| {
        c["hooks"] = json!({"startContainer": [hook("echo nope >&2; exit 5", &[], json!({}))]})
    });
    let id = unique_id("hooksc");
    rt.create(&b, &id, &[]).expect_ok("create");
    let out = rt.run(&["start", &id]);
    assert!(
        !out.ok(),
        "start with a failing startContainer hook: {out:?}"
    );
    assert!(
        out.stderr.contains(
            "error running startContainer hook #0: /bin/busybox: exit status 5: stderr: nope"
        ),
        "{out:?}"
    );
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).expect_ok("delete");
}

#[test]
fn features_lists_the_six_kinds() {
    if !is_brig() {
        return crate::skip::test("brig's features output");
    }
    let rt = Rt::new();
    let f = rt.run(&["features"]).expect_ok("features").json();
    assert_eq!(
        f["hooks"],
        json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ])
    );
}

/// `run` whose startContainer hook fails: the hook's argv reaches it as
/// given (busybox runs the applet args[0] names), its error is the run's,
/// and no container is left, so the same id runs again (runc's
/// hooks.bats "hook's argv is preserved").
#[test]
fn run_with_a_failing_start_container_hook_leaves_nothing() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    for args in [
        json!(["cat", "/nosuchfile"]),
        json!(["busybox", "cat", "/nosuchfile"]),
    ] {
        b.args(&["/bin/true"]).edit(|c| {
            c["hooks"] = json!({"startContainer": [{"path": "/bin/busybox", "args": args}]})
        });
        let id = unique_id("hookargv");
        for attempt in 0..2 {
            let out = rt.run_bundle(&b, &id, &[]);
            assert!(!out.ok(), "{args} #{attempt}: {out:?}");
            assert!(
                out.stderr.contains("cat: can't open") && out.stderr.contains("/nosuchfile"),
                "{args} #{attempt}: {out:?}"
            );
            if is_brig() {
                assert!(
                    out.stderr.contains("error running startContainer hook #0:"),
                    "{out:?}"
                );
            }
            assert!(rt.state(&id).is_none(), "{args} #{attempt}: container left");
        }
    }
}

/// A runtime-side hook that names no env gets the runtime's own
/// environment, as runc's hooks get runc's (hooks written for runc find
/// PATH and the like there); one that names env gets exactly that.
#[test]
fn runtime_hook_without_env_inherits_the_runtimes() {
    require_root!();
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let mut b = bundle_with_log(&rt, log.path());
    let dir = log.path().display().to_string();
    let bare = hook(RECORD, &[&dir, "prestart"], json!({}));
    let named = hook(
        RECORD,
        &[&dir, "createRuntime"],
        json!({"env": ["ONLY=this"]}),
    );
    b.args(&["true"])
        .edit(|c| c["hooks"] = json!({"prestart": [bare], "createRuntime": [named]}));
    let id = unique_id("hookenv");
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.env("BRIG_HOOK_TEST_INHERIT", "yes");
    rt.track(&id);
    rt.run_cmd(cmd).expect_ok("run");
    let bare_env = seen(log.path(), "prestart", "env");
    assert!(
        bare_env.contains("BRIG_HOOK_TEST_INHERIT=yes\n"),
        "{bare_env}"
    );
    let named_env = seen(log.path(), "createRuntime", "env");
    assert!(named_env.contains("ONLY=this\n"), "{named_env}");
    assert!(!named_env.contains("BRIG_HOOK_TEST_INHERIT"), "{named_env}");
}
