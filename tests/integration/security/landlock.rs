//! The `run.brig.landlock` annotation (brig only; runc ignores it): a write
//! outside the allowed paths fails with EACCES inside the container.

use serde_json::json;

use crate::common::{is_brig, json_lines, require_root, unique_id, Bundle, Rt};

const SCRIPT: &str = "/probe mkdir /tmp/allowed; /probe mkdir /mnt/denied; \
                      /probe open /etc/passwd r; /probe write /etc/passwd x";

fn errnos(rt: &Rt, b: &mut Bundle) -> Vec<i64> {
    b.args(&["sh", "-c", SCRIPT]);
    let out = rt.run_bundle(b, &unique_id("ll"), &[]).expect_ok("run");
    json_lines(&out.stdout)
        .iter()
        .map(|l| l["errno"].as_i64().unwrap())
        .collect()
}

#[test]
fn landlock_annotation_denies_writes_outside_the_allowed_paths() {
    require_root!();
    if !is_brig() {
        eprintln!("SKIP Landlock annotation: brig only");
        return;
    }
    let rt = Rt::new();
    let features = rt.run(&["features"]).expect_ok("features").json();
    assert!(
        features["annotations"]["run.brig.landlock"].is_string(),
        "{features}"
    );
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    // Without the annotation every step succeeds: the denials below are
    // Landlock's.
    assert_eq!(errnos(&rt, &mut b), [0, 0, 0, 0]);
    std::fs::remove_dir(b.rootfs().join("tmp/allowed")).unwrap();
    std::fs::remove_dir(b.rootfs().join("mnt/denied")).unwrap();

    let policy = json!({"required": true, "readOnly": ["/"], "readWrite": ["/tmp"],
                        "execute": ["/bin", "/probe"]});
    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": policy.to_string()}));
    let eacces = i64::from(libc::EACCES);
    assert_eq!(errnos(&rt, &mut b), [0, eacces, 0, eacces]);
    assert!(!b.rootfs().join("mnt/denied").exists());
}
