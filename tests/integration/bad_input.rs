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
