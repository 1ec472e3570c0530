//! Mounts as runc makes them, from inside the container: a read-only
//! /dev that still gets /dev/pts, a /dev/ptmx named in linux.devices,
//! bind mounts through an image's dangling symlinks, destinations written
//! as host paths inside the rootfs, mount order, and idmapped sources
//! inside the rootfs made by earlier mounts in a user namespace.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use serde_json::json;

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

fn run_ok(rt: &Rt, b: &mut Bundle, args: &[&str]) -> String {
    b.args(args);
    rt.run_bundle(b, &unique_id("mnt"), &[])
        .expect_ok("run")
        .stdout
}

#[test]
fn read_only_dev_still_gets_pts_and_devices() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    let out = run_ok(&rt, &mut b, &["sh", "-c", "grep '^tmpfs /dev ' /proc/mounts; test -c /dev/null && test -d /dev/pts && echo ok; touch /dev/x || echo refused"]);
    assert!(out.lines().next().unwrap().contains(" ro,"), "{out}");
    assert!(out.contains("\nok\n"), "{out}");
    assert!(out.contains("refused"), "{out}");
}

#[test]
fn ptmx_in_linux_devices_is_the_devpts_one() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}]);
    });
    let out = run_ok(&rt, &mut b, &["readlink", "/dev/ptmx"]);
    assert_eq!(out.trim(), "pts/ptmx");
}

/// The image's /etc/hosts -> /jump/baz/hosts, /jump -> /tmp/foo/bar, none
/// of it there: the target is made inside the rootfs and mounted on.
#[test]
fn bind_mount_through_dangling_symlinks() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let root = b.rootfs();
    symlink("/tmp/foo/bar", root.join("jump")).unwrap();
    symlink("/jump/baz/hosts", root.join("etc/hosts")).unwrap();
    let src = b.path().join("config.json");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"source": "config.json", "destination": "/etc/hosts", "options": ["bind"]}),
        );
    });
    let out = run_ok(&rt, &mut b, &["stat", "-c", "%i", "/tmp/foo/bar/baz/hosts"]);
    assert_eq!(out.trim(), fs::metadata(&src).unwrap().ino().to_string());
    assert!(root.join("tmp/foo/bar/baz/hosts").is_file());
}

/// Destinations written as host paths inside the rootfs, and sources
/// inside it made by earlier mounts (runc's "mount order").
#[test]
fn rootfs_paths_and_mount_order() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let outside = b.path().join("outside");
    fs::create_dir_all(outside.join("x")).unwrap();
    fs::write(outside.join("x/file"), "from-outside").unwrap();
    let root = b.rootfs();
    // runc 1.1 wants a destination given this way to exist.
    fs::create_dir(root.join("final")).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": outside, "destination": "/mnt", "options": ["rbind"]}));
        mounts.push(
            json!({"source": root.join("mnt/x"), "destination": root.join("final"),
            "options": ["rbind"]}),
        );
    });
    let out = run_ok(&rt, &mut b, &["cat", "/final/file"]);
    assert_eq!(out, "from-outside");
}

/// A tmpfs over an existing directory takes its mode unless `mode=` is
/// given; over a directory made for it, tmpfs's own 1777 (runc 1.3).
#[test]
fn tmpfs_mode_follows_the_directory_it_covers() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 gives every tmpfs 1777");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let dir = b.rootfs().join("tmpfs");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o710)).unwrap();
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"type": "tmpfs", "source": "tmpfs", "destination": "/tmpfs",
            "options": ["nodev"]}),
        );
        mounts.push(
            json!({"type": "tmpfs", "source": "tmpfs", "destination": "/made/here",
            "options": ["nodev"]}),
        );
        mounts.push(
            json!({"type": "tmpfs", "source": "tmpfs", "destination": "/etc",
            "options": ["mode=1500"]}),
        );
    });
    let out = run_ok(
        &rt,
        &mut b,
        &["stat", "-c", "%a", "/tmpfs", "/made/here", "/etc"],
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["710", "1777", "1500"]
    );
    assert_eq!(
        fs::metadata(&dir).unwrap().mode() & 0o7777,
        0o710,
        "the image's dir was changed"
    );
}

/// `rootfsPropagation: shared` gives a shared root inside the container
/// (pivot_root refuses a shared new root, so it is applied after it).
#[test]
fn shared_root_propagation() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 leaves the root private");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("shared"));
    let out = run_ok(&rt, &mut b, &["cat", "/proc/self/mountinfo"]);
    let root = out
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in {out}"));
    assert!(root.contains(" shared:"), "{root}");
}

/// Masked directories share one read-only tmpfs, and a path listed twice
/// is masked once (runc 1.3; runc 1.1 gives each its own tmpfs and mounts
/// a duplicate twice).
#[test]
fn masked_directories_share_one_tmpfs_and_duplicates_mount_once() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    for d in ["m1", "m2", "m3"] {
        fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    fs::write(b.rootfs().join("f1"), "secret").unwrap();
    b.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/m1", "/m2", "/f1", "/m3", "/m1", "/f1"]);
    });
    let out = run_ok(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            "stat -c %d /m1 /m2 /m3; grep -c ' /m1 ' /proc/self/mountinfo; \
             grep -c ' /f1 ' /proc/self/mountinfo; echo \"f1=[$(cat /f1)]\"; \
             touch /m2/x 2>&1; true",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    if is_brig() {
        assert_eq!(lines[0], lines[1], "{out}");
        assert_eq!(lines[1], lines[2], "{out}");
        assert_eq!((lines[3], lines[4]), ("1", "1"), "mounted once: {out}");
    }
    assert_eq!(lines[5], "f1=[]", "the file reads empty: {out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

/// `tmpcopyup` (podman puts it on its tmpfs mounts): the tmpfs starts with
/// a copy of the directory it covers, modes, owners and symlinks kept, also
/// when the tmpfs is read-only; runc does the same.
#[test]
fn tmpcopyup_copies_the_covered_directory() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let d = b.rootfs().join("data");
    fs::create_dir_all(d.join("sub/deeper")).unwrap();
    fs::write(d.join("file"), "content").unwrap();
    fs::write(d.join("sub/deeper/x"), "x").unwrap();
    symlink("sub/deeper", d.join("link")).unwrap();
    fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(d.join("file"), fs::Permissions::from_mode(0o604)).unwrap();
    std::os::unix::fs::lchown(d.join("file"), Some(7), Some(8)).unwrap();
    fs::create_dir(b.rootfs().join("ro")).unwrap();
    fs::write(b.rootfs().join("ro/kept"), "k").unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}));
        m.push(json!({"destination": "/ro", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]}));
    });
    let script = "stat -c '%n %a %u:%g %F' /data/file /data/sub /data/sub/deeper/x /data/link; \
                  cat /data/file; echo; cat /ro/kept; echo; \
                  grep -c ' /data tmpfs ' /proc/mounts; touch /ro/new 2>&1; true";
    let ours = run_ok(&rt, &mut b, &["sh", "-c", script]);
    if is_brig() {
        // runc 1.1 passes a copied directory's mode through the umask.
        assert!(ours.contains("/data/sub 777 0:0 directory"), "{ours}");
    }
    for want in [
        "/data/file 604 7:8 regular file",
        "/data/sub/deeper/x 644 0:0 regular file",
        "/data/link 777 0:0 symbolic link",
        "content",
        "Read-only file system",
    ] {
        assert!(ours.contains(want), "{want:?} not in {ours}");
    }
    assert!(ours.lines().any(|l| l == "k"), "{ours}");
    // The image's files are untouched.
    assert!(!b.rootfs().join("ro/new").exists());
    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    let theirs = run_ok(&runc, &mut b, &["sh", "-c", script]);
    // runc 1.1 copies a directory's mode through the umask (777 becomes
    // 755; runc 1.2+ keeps it, as brig does): everything else agrees.
    let but_sub = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("/data/sub "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        but_sub(&ours),
        but_sub(&theirs),
        "runc sees the copy differently"
    );
}

/// Bind mount flags as runc 1.2+ sets them: with no flag given the
/// source's stay; with any, exactly those (ro and noexec of the source are
/// cleared by an implied rw, exec); in a user namespace the source's locked
/// flags stay unless cleared explicitly, which is refused.
#[test]
fn bind_flags_follow_runc_1_2() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 keeps the source's flags under any option");
    }
    let src = tempfile::Builder::new()
        .prefix("brig-bindflags-")
        .tempdir()
        .unwrap();
    let dir = src.path().to_str().unwrap().to_string();
    let mount = |args: &[&str]| {
        let st = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?}");
    };
    mount(&["-t", "tmpfs", "tmpfs", &dir]);
    mount(&["--bind", "-o", "remount,ro,noexec", &dir]);
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(dir.clone());
    let rt = Rt::new();
    let flags_of = |b: &mut Bundle, opts: &[&str]| -> Result<Vec<String>, String> {
        b.edit(|c| {
            let m = c["mounts"].as_array_mut().unwrap();
            m.retain(|m| m["destination"] != "/mnt");
            m.push(json!({"destination": "/mnt", "type": "bind", "source": dir, "options": opts}));
        });
        b.args(&["sh", "-c", "grep ' /mnt ' /proc/self/mounts"]);
        let out = rt.run_bundle(b, &unique_id("bindflags"), &[]);
        if !out.ok() {
            return Err(out.stderr);
        }
        Ok(out
            .stdout
            .split_whitespace()
            .nth(3)
            .unwrap_or("")
            .split(',')
            .map(str::to_string)
            .collect())
    };
    let mut b = Bundle::new(&rt);
    let has = |f: &Vec<String>, x: &str| f.iter().any(|o| o == x);
    let f = flags_of(&mut b, &["bind"]).unwrap();
    assert!(has(&f, "ro") && has(&f, "noexec"), "{f:?}");
    let f = flags_of(&mut b, &["bind", "dev"]).unwrap();
    assert!(has(&f, "rw") && !has(&f, "noexec"), "{f:?}");

    let mut u = Bundle::new(&rt);
    u.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    });
    let f = flags_of(&mut u, &["bind", "dev"]).unwrap();
    assert!(
        has(&f, "ro") && has(&f, "noexec"),
        "locked flags kept: {f:?}"
    );
    let e = flags_of(&mut u, &["bind", "rw"]).unwrap_err();
    assert!(e.contains("cannot clear locked flags ro"), "{e}");
}

/// An idmapped bind, in a container with a user namespace (root is host
/// 100000), whose source is inside the rootfs and exists only once an
/// earlier mount of the container made it: the parent makes the tree in
/// the container's mount namespace, in mount order. Files on disk owned
/// by host root (0) and by 7:8, under /mnt (a plain bind from the host):
/// - plainly, host 0 has no id in the container: the overflow id;
/// - through `idmap` (the container's own maps: disk 0 is host 100000)
///   they are 0 and 7:8, as the image's own files would be;
/// - through the mount's own maps (0 -> 100010 / 100020) 10:20 and 17:28.
///
/// A source inside the rootfs through the image's absolute symlink
/// (rootfs/hostetc -> /etc) is resolved inside the rootfs: the image's
/// /etc, never the host's.
#[test]
fn idmapped_source_made_by_an_earlier_mount_in_a_user_namespace() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("idmapped mounts: runc 1.1 does not support them");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    fs::set_permissions(b.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = b.rootfs();
    symlink("/etc", root.join("hostetc")).unwrap();
    crate::security::chown_tree(&root, 100_000, 100_000);
    let data = b.path().join("data");
    fs::create_dir_all(data.join("x")).unwrap();
    fs::write(data.join("x/root-file"), "through the chain").unwrap();
    fs::write(data.join("x/user-file"), "u").unwrap();
    std::os::unix::fs::chown(data.join("x/user-file"), Some(7), Some(8)).unwrap();
    let map = json!([{"containerID": 0, "hostID": 100_000, "size": 65536}]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": data, "destination": "/mnt", "options": ["rbind"]}));
        mounts.push(json!({"source": root.join("mnt/x"), "destination": "/idm",
            "options": ["rbind", "idmap"]}));
        mounts.push(json!({"source": root.join("mnt/x"), "destination": "/own",
            "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 100_010, "size": 100}],
            "gidMappings": [{"containerID": 0, "hostID": 100_020, "size": 100}]}));
        mounts.push(
            json!({"source": root.join("hostetc"), "destination": "/etc2",
            "options": ["bind", "idmap"]}),
        );
    });
    let stats = [
        "/mnt/x/root-file",
        "/idm/root-file",
        "/idm/user-file",
        "/own/root-file",
        "/own/user-file",
    ];
    let script = stats
        .iter()
        .map(|p| format!("/probe stat {p}; "))
        .collect::<String>()
        + "cat /idm/root-file; echo; cat /etc2/passwd";
    b.args(&["sh", "-c", &script]);
    let out = rt
        .run_bundle(&b, &unique_id("idmsrc"), &[])
        .expect_ok("run");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), stats.len() + 2, "{out:?}");
    let owner = |l: &str| {
        let st = crate::common::parse_json(l);
        (st["uid"].as_i64().unwrap(), st["gid"].as_i64().unwrap())
    };
    let owners: Vec<(i64, i64)> = lines[..stats.len()].iter().map(|l| owner(l)).collect();
    assert_eq!(
        owners,
        [(65534, 65534), (0, 0), (7, 8), (10, 20), (17, 28)],
        "{out:?}"
    );
    assert_eq!(lines[stats.len()], "through the chain");
    assert_eq!(
        lines[stats.len() + 1],
        "root:x:0:0:root:/root:/bin/sh",
        "the image's /etc"
    );
    // The host's files are untouched.
    let m = fs::metadata(data.join("x/user-file")).unwrap();
    assert_eq!((m.uid(), m.gid()), (7, 8));

    // A source no earlier mount made: one line naming the mount, and
    // nothing left behind.
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "source": root.join("mnt/nowhere"), "destination": "/nowhere",
            "options": ["bind", "idmap"]}));
    });
    let id = unique_id("idmsrc");
    let out = rt.run_bundle(&b, &id, &[]);
    crate::common::assert_clean_failure(&rt, &out, &id, "a missing source");
    assert!(
        out.stderr.contains("mnt/nowhere on /nowhere") && out.stderr.contains("ENOENT"),
        "{}",
        out.stderr
    );
}
