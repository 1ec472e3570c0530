//! Capabilities, no_new_privs, supplementary groups and umask, read from
//! /proc/self/status and the probe inside the container.

use serde_json::{json, Value};

use super::cap_mask;
use crate::common::{assert_clean_failure, is_brig, probe_in, require_root, unique_id, Bundle, Rt};

const CHOWN: u32 = 0;
const KILL: u32 = 5;
const SETGID: u32 = 6;
const SETUID: u32 = 7;
const NET_BIND_SERVICE: u32 = 10;
const NET_RAW: u32 = 13;

fn mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | 1 << c)
}

/// Five different sets; inheritable is within bounding (capset refuses
/// otherwise) and the ambient cap is permitted and inheritable.
fn five_sets() -> Value {
    json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    })
}

fn caps_of(facts: &Value) -> [u64; 5] {
    let st = &facts["status"];
    ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"].map(|k| cap_mask(st, k))
}

/// After execve (no file capabilities), capabilities(7) "Transformation of
/// capabilities during execve()", with no_new_privs set:
/// - root: root's file sets count as full, so P' would be the bounding set,
///   but no_new_privs keeps P' within the old permitted set: P' = E' =
///   permitted; I and ambient kept;
/// - non-root: P' = E' = ambient, I kept.
#[test]
fn five_sets_for_root_and_for_a_user_with_ambient_caps() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let bnd = mask(&[CHOWN, KILL, SETGID, SETUID, NET_BIND_SERVICE, NET_RAW]);
    let inh = mask(&[KILL, NET_BIND_SERVICE]);
    let amb = mask(&[NET_BIND_SERVICE]);
    let prm = mask(&[CHOWN, KILL, NET_BIND_SERVICE]);

    b.edit(|c| {
        c["process"]["capabilities"] = five_sets();
        c["process"]["noNewPrivileges"] = json!(true);
    });
    let root = probe_in(&rt, &mut b, &[]);
    assert_eq!(
        caps_of(&root),
        [bnd, prm, prm, inh, amb],
        "{}",
        root["status"]
    );

    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let user = probe_in(&rt, &mut b, &[]);
    assert_eq!(
        caps_of(&user),
        [bnd, amb, amb, inh, amb],
        "{}",
        user["status"]
    );

    // A set left out is empty: nothing comes from the runtime itself.
    b.edit(|c| {
        c["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"]})
    });
    let bare = probe_in(&rt, &mut b, &[]);
    assert_eq!(
        caps_of(&bare),
        [mask(&[KILL]), 0, 0, 0, 0],
        "{}",
        bare["status"]
    );

    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    let cases = [
        (json!({"uid": 0, "gid": 0}), &root),
        (json!({"uid": 1000, "gid": 1000}), &user),
    ];
    for (who, facts) in cases {
        b.edit(|c| {
            c["process"]["capabilities"] = five_sets();
            c["process"]["user"] = who.clone();
        });
        let theirs = probe_in(&runc, &mut b, &[]);
        assert_eq!(
            facts["status"], theirs["status"],
            "runc disagrees for user {who}"
        );
    }
}

#[test]
fn no_new_privileges_groups_and_umask() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [30, 10, 2000], "umask": 0o027});
    });
    let on = probe_in(&rt, &mut b, &[]);
    assert_eq!(on["status"]["NoNewPrivs"], "1");
    assert_eq!(
        (on["uid"].as_i64(), on["gid"].as_i64()),
        (Some(1000), Some(1000))
    );
    let mut groups: Vec<i64> = on["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_i64().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, [10, 30, 2000], "{on}");
    assert_eq!(on["umask"], 0o027);

    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["user"] = json!({"uid": 0, "gid": 0});
    });
    let off = probe_in(&rt, &mut b, &[]);
    assert_eq!(off["status"]["NoNewPrivs"], "0");
    // No umask in the config: 0022, as runc.
    assert_eq!(off["umask"], 0o022);

    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    let theirs_off = probe_in(&runc, &mut b, &[]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [30, 10, 2000], "umask": 0o027});
    });
    let theirs_on = probe_in(&runc, &mut b, &[]);
    for (ours, theirs) in [(&off, &theirs_off), (&on, &theirs_on)] {
        for key in ["status", "groups", "umask", "uid", "gid"] {
            assert_eq!(ours[key], theirs[key], "{key} differs from runc");
        }
    }
}

/// Capability names neither brig nor the kernel know are warned about and
/// ignored, as runc does (runc's "run with unknown capability").
#[test]
fn unknown_capabilities_are_ignored() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"])
    });
    let facts = probe_in(&rt, &mut b, &[]);
    let [bnd, _, _, inh, amb] = caps_of(&facts);
    assert_eq!(bnd, mask(&[KILL]));
    assert_eq!((inh, amb), (0, 0));
}

/// A capability brig itself does not hold (this VM withholds
/// CAP_SYS_RESOURCE from root) is refused at create with one line, not
/// after start.
#[test]
fn capability_the_runtime_lacks_is_refused_at_create() {
    require_root!();
    if caps::has_cap(
        None,
        caps::CapSet::Bounding,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(true)
    {
        return crate::skip::test("this host grants CAP_SYS_RESOURCE");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_SYS_RESOURCE"]);
        }
    });
    let id = unique_id("nores");
    let out = rt.create(&b, &id, &[]);
    if is_brig() {
        assert_clean_failure(&rt, &out, &id, "CAP_SYS_RESOURCE");
        assert!(out.stderr.contains("CAP_SYS_RESOURCE"), "{out:?}");
    } else {
        assert!(!out.ok(), "runc: {out:?}");
    }
}

/// An ambient capability that is not also inheritable cannot be raised:
/// the process runs without it, and the runtime says so in runc's words
/// (runc 1.2+); the others are raised.
#[test]
fn ambient_without_inheritable_is_skipped_with_a_warning() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"],
        });
    });
    b.args(&["/probe"]);
    let id = unique_id("amb");
    let out = rt.run_bundle(&b, &id, &[]).expect_ok("run");
    let facts = out.json();
    assert_eq!(caps_of(&facts)[4], mask(&[KILL]), "CapAmb: {facts}");
    if is_brig() {
        assert!(
            out.stderr
                .contains("can't raise ambient capability CAP_CHOWN: "),
            "{out:?}"
        );
    }
}
