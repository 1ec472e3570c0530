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

    if !is_brig() {
        return;
    }
    let Some(runc) = Rt::runc() else { return };
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

/// brig refuses a capability name it does not know (README, "Security
/// features"); runc 1.1 warns and ignores it. Either way nothing extra is
/// granted.
#[test]
fn unknown_capability_name() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_BOGUS"], "effective": ["CAP_KILL", "CAP_BOGUS"],
            "permitted": ["CAP_KILL", "CAP_BOGUS"]})
    });
    if is_brig() {
        let id = unique_id("capbad");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, "unknown capability");
        assert!(out.stderr.contains("CAP_BOGUS"), "{}", out.stderr);
    } else {
        let facts = probe_in(&rt, &mut b, &[]);
        assert_eq!(caps_of(&facts)[0], mask(&[KILL]), "{}", facts["status"]);
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

    if !is_brig() {
        return;
    }
    let Some(runc) = Rt::runc() else { return };
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
