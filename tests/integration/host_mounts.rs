//! A host with many mounts of its own (issue 15): the container starts from
//! brig's mount namespace template, not a copy of the host's table, and
//! sees none of them; a bind whose source is one of them still works. The
//! same where brig keeps today's way (a createContainer hook, shared root
//! propagation, a user namespace, --no-pivot), and under runc. Nothing of
//! the host's table changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

/// Extra tmpfs mounts under a temp dir of the host's, removed on drop.
struct HostMounts {
    dir: tempfile::TempDir,
    n: usize,
}

impl HostMounts {
    fn new(n: usize) -> HostMounts {
        let dir = tempfile::Builder::new()
            .prefix("brig-hostmnt-")
            .tempdir()
            .unwrap();
        for i in 0..n {
            let m = dir.path().join(format!("m{i}"));
            fs::create_dir(&m).unwrap();
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k", "brig-hostmnt"])
                .arg(&m)
                .status()
                .unwrap()
                .success();
            assert!(ok, "mount tmpfs on {}", m.display());
        }
        fs::write(dir.path().join("m0/marker"), "from-host-mount").unwrap();
        HostMounts { dir, n }
    }

    fn one(&self) -> PathBuf {
        self.dir.path().join("m0")
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for i in 0..self.n {
            let _ = Command::new("umount")
                .arg(self.dir.path().join(format!("m{i}")))
                .status();
        }
    }
}

fn mount_count(mountinfo: &str, tag: &str) -> usize {
    mountinfo.lines().filter(|l| l.contains(tag)).count()
}

/// Runs `b` and returns what the container saw: its mountinfo, then the
/// marker read through the bind of one of the host's extra mounts.
fn seen(rt: &Rt, b: &mut Bundle, extra: &[&str]) -> String {
    b.args(&[
        "sh",
        "-c",
        "cat /proc/self/mountinfo; echo marker=$(cat /from-host/marker)",
    ]);
    rt.run_bundle(b, &unique_id("hostmnt"), extra)
        .expect_ok("run")
        .stdout
}

fn with_bind(b: &mut Bundle, src: &Path) {
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/from-host", "type": "bind",
            "source": src, "options": ["rbind", "ro"]}));
    });
}

#[test]
fn container_sees_none_of_the_hosts_extra_mounts() {
    require_root!();
    let host = HostMounts::new(200);
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    with_bind(&mut b, &host.one());
    let out = seen(&rt, &mut b, &[]);
    // Only the bind of m0 is the host's: it shows, as brig-hostmnt, once.
    assert_eq!(mount_count(&out, "brig-hostmnt"), 1, "{out}");
    assert!(out.contains("marker=from-host-mount"), "{out}");
    assert!(
        out.lines().count() < 40,
        "a handful of mounts, not the host's table: {out}"
    );
    // Nothing of the container is left in the host's table (other tests
    // mount at the same time: only this one's paths are looked at).
    let after = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ours = host.dir.path().to_string_lossy().into_owned();
    assert_eq!(mount_count(&after, &ours), host.n, "{after}");
    let bundle = b.path().to_string_lossy().into_owned();
    assert_eq!(mount_count(&after, &bundle), 0, "{after}");
    if is_brig() {
        // The template brig started it from, pinned.
        assert!(
            after.contains(" /run/brig/.mnt-template/mnt rw - nsfs "),
            "{after}"
        );
    }
    if let Some(runc) = Rt::runc_to_compare() {
        let mut rb = Bundle::new(&runc);
        with_bind(&mut rb, &host.one());
        let r = seen(&runc, &mut rb, &[]);
        assert_eq!(mount_count(&r, "brig-hostmnt"), 1, "runc: {r}");
        assert!(r.contains("marker=from-host-mount"), "runc: {r}");
    }
}

/// Where brig does not start from the template, the container still
/// works and still sees none of the host's mounts (but for --no-pivot,
/// where they stay under the chroot, as with runc).
#[test]
fn without_the_template_the_old_way_still_works() {
    require_root!();
    let host = HostMounts::new(50);
    let rt = Rt::new();
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &[&str]); 4] = [
        (
            "createContainer hook",
            |c| c["hooks"] = json!({"createContainer": [{"path": "/bin/true"}]}),
            &[],
        ),
        (
            "rootfsPropagation shared",
            |c| c["linux"]["rootfsPropagation"] = json!("shared"),
            &[],
        ),
        (
            "user namespace",
            |c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
                c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
            },
            &[],
        ),
        ("--no-pivot", |_| {}, &["--no-pivot"]),
    ];
    for (what, edit, extra) in cases {
        let mut b = Bundle::new(&rt);
        with_bind(&mut b, &host.one());
        b.edit(edit);
        let out = seen(&rt, &mut b, extra);
        assert!(out.contains("marker=from-host-mount"), "{what}: {out}");
        if *extra != ["--no-pivot"] {
            assert_eq!(mount_count(&out, "brig-hostmnt"), 1, "{what}: {out}");
        }
    }
}
