//! User namespaces: several-range id maps seen from inside and from the
//! host, a rootfs owned by the mapped root, idmapped mounts, and the
//! configurations that must be refused.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use serde_json::{json, Value};

use super::{chown_tree, config_triples, map_triples};
use crate::common::{
    assert_clean_failure, is_brig, json_lines, probe_in, require_root, unique_id, Bundle, Rt,
    DEADLINE,
};

/// Container root is host 100000 (uid) / 200000 (gid); container ids from
/// 1000 live in a second, distant range.
const ROOT_UID: u32 = 100_000;
const ROOT_GID: u32 = 200_000;

fn uid_maps() -> Value {
    json!([
        {"containerID": 0, "hostID": ROOT_UID, "size": 1000},
        {"containerID": 1000, "hostID": 300_000, "size": 1000},
    ])
}

fn gid_maps() -> Value {
    json!([
        {"containerID": 0, "hostID": ROOT_GID, "size": 1000},
        {"containerID": 1000, "hostID": 400_000, "size": 500},
        {"containerID": 2000, "hostID": 500_000, "size": 10},
    ])
}

/// A bundle with a new user namespace and the maps above; its rootfs copy
/// belongs to the mapped root, and the bundle directory can be traversed by
/// it (a tempdir is 0700 root-owned).
fn userns_bundle(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    fs::set_permissions(b.path(), fs::Permissions::from_mode(0o755)).unwrap();
    chown_tree(&b.rootfs(), ROOT_UID, ROOT_GID);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        if !ns.iter().any(|n| n["type"] == "user") {
            ns.push(json!({"type": "user"}));
        }
        c["linux"]["uidMappings"] = uid_maps();
        c["linux"]["gidMappings"] = gid_maps();
    });
    b
}

#[test]
fn maps_inside_equal_the_config_and_runc_agrees() {
    require_root!();
    let rt = Rt::new();
    let mut b = userns_bundle(&rt);
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(
        map_triples(facts["uid_map"].as_str().unwrap()),
        config_triples(&uid_maps()),
        "{facts}"
    );
    assert_eq!(
        map_triples(facts["gid_map"].as_str().unwrap()),
        config_triples(&gid_maps()),
        "{facts}"
    );
    assert_eq!(
        (facts["uid"].as_i64(), facts["gid"].as_i64()),
        (Some(0), Some(0))
    );
    let host_user = fs::metadata("/proc/self/ns/user").unwrap().ino() as i64;
    assert_ne!(
        facts["ns"]["user"].as_i64(),
        Some(host_user),
        "no new userns"
    );

    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    let theirs = probe_in(&runc, &mut b, &[]);
    for key in ["uid_map", "gid_map", "uid", "gid", "groups", "status"] {
        assert_eq!(facts[key], theirs[key], "{key} differs from runc");
    }
}

#[test]
fn host_sees_mapped_ids_and_mapped_root_owns_its_rootfs() {
    require_root!();
    let rt = Rt::new();
    let mut b = userns_bundle(&rt);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["user"] = json!({"uid": 1001, "gid": 2003});
    });
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("uns");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().unwrap();
    // Once the probe runs (execve made it dumpable), /proc/PID belongs to
    // its host uid; status shows real, effective, saved and fs ids.
    // "running" comes when `start` opens the fifo, a moment before init
    // changes user and execs: wait for the probe itself.
    let start = std::time::Instant::now();
    while fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "probe\n" {
        assert!(
            start.elapsed() < DEADLINE,
            "container init never exec'd the probe"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("Uid:"), ["300001"; 4], "{status}");
    assert_eq!(line("Gid:"), ["500003"; 4], "{status}");
    let meta = fs::metadata(format!("/proc/{pid}")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (300_001, 500_003));
    rt.run(&["kill", &id, "KILL"]).expect_ok("kill");
    rt.wait_status(&id, "stopped");

    // The mapped root writes its rootfs and chowns within the maps; the
    // host sees the mapped ids on disk.
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 0, "gid": 0});
        let caps = json!(["CAP_CHOWN"]);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    b.args(&[
        "sh",
        "-c",
        "touch /by-root && mkdir /by-user && chown 1000:2009 /by-user && \
         /probe stat /by-root && /probe stat /by-user",
    ]);
    let out = rt.run_bundle(&b, &unique_id("uns"), &[]).expect_ok("run");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(
        (lines[0]["uid"].as_i64(), lines[0]["gid"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (lines[1]["uid"].as_i64(), lines[1]["gid"].as_i64()),
        (Some(1000), Some(2009))
    );
    let on_disk = |p: &str| {
        let m = fs::metadata(b.rootfs().join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(on_disk("by-root"), (ROOT_UID, ROOT_GID));
    assert_eq!(on_disk("by-user"), (300_000, 500_009));
}

/// containerd's `hostUsers: false`: a bind mount with its own maps. A file
/// owned on disk by (0, 0) and (7, 8), mounted with uidMappings 0->100010 and
/// gidMappings 0->200020, shows as (10, 20) and (17, 28) to a container whose
/// root is host (100000, 200000). runc 1.1 has no idmapped mounts.
#[test]
fn idmapped_mount_shows_the_mapped_owners() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("idmapped mounts: runc 1.1 does not support them");
    }
    let features = Rt::new().run(&["features"]).expect_ok("features").json();
    assert_eq!(
        features["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true),
        "{features}"
    );
    let data = tempfile::Builder::new()
        .prefix("brig-idmap-")
        .tempdir()
        .unwrap();
    fs::set_permissions(data.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(data.path().join("root-file"), "r").unwrap();
    fs::write(data.path().join("user-file"), "u").unwrap();
    std::os::unix::fs::chown(data.path().join("user-file"), Some(7), Some(8)).unwrap();

    let rt = Rt::new();
    let mut b = userns_bundle(&rt);
    let src = data.path().to_str().unwrap().to_string();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt",
            "type": "bind",
            "source": src,
            "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": ROOT_UID + 10, "size": 100}],
            "gidMappings": [{"containerID": 0, "hostID": ROOT_GID + 20, "size": 100}],
        }));
    });
    b.args(&[
        "sh",
        "-c",
        "/probe stat /mnt/root-file; /probe stat /mnt/user-file",
    ]);
    let out = rt.run_bundle(&b, &unique_id("idm"), &[]).expect_ok("run");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "{out:?}");
    let owner = |l: &Value| (l["uid"].as_i64(), l["gid"].as_i64());
    assert_eq!(owner(&lines[0]), (Some(10), Some(20)), "{}", lines[0]);
    assert_eq!(owner(&lines[1]), (Some(17), Some(28)), "{}", lines[1]);
    // The host's files are untouched.
    let m = fs::metadata(data.path().join("user-file")).unwrap();
    assert_eq!((m.uid(), m.gid()), (7, 8));
}

#[test]
fn bad_user_namespace_configs_are_refused_cleanly() {
    require_root!();
    let rt = Rt::new();
    type Edit = fn(&mut Value);
    // The bool: runc 1.1 refuses it too. It ignores mappings without a
    // user namespace, and takes uid -1 as "unchanged", running the process
    // as root: the very bug SECURITY.md class 4 names.
    let cases: [(&str, Edit, bool); 6] = [
        (
            "mappings without a user namespace",
            |c| {
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "user");
            },
            false,
        ),
        (
            "a user namespace without mappings",
            |c| {
                let l = c["linux"].as_object_mut().unwrap();
                l.remove("uidMappings");
                l.remove("gidMappings");
            },
            true,
        ),
        (
            "overlapping uid ranges",
            |c| {
                c["linux"]["uidMappings"] = json!([
                    {"containerID": 0, "hostID": ROOT_UID, "size": 1000},
                    {"containerID": 500, "hostID": 300_000, "size": 1000},
                ])
            },
            true,
        ),
        (
            "process.user uid not mapped",
            |c| c["process"]["user"] = json!({"uid": 5000, "gid": 0}),
            true,
        ),
        (
            "process.user gid not mapped",
            |c| c["process"]["user"] = json!({"uid": 0, "gid": 1600}),
            true,
        ),
        (
            "uid 4294967295",
            |c| c["process"]["user"] = json!({"uid": 4294967295u32, "gid": 0}),
            false,
        ),
    ];
    for (what, edit, runc_too) in cases {
        if !runc_too && !is_brig() {
            continue;
        }
        let mut b = userns_bundle(&rt);
        b.edit(edit);
        let id = unique_id("unsbad");
        let out = rt.create(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, what);
    }
}

/// CAP_SYS_RESOURCE in our effective set: needed to lower oom_score_adj.
fn have_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    eff & (1 << 24) != 0
}

/// oomScoreAdj is written from the host's user namespace (as runc does in
/// nsexec): a container in a user namespace gets a raised value, and a
/// lowered one when the runtime may lower it; without CAP_SYS_RESOURCE
/// (this development VM drops it) lowering fails cleanly, naming why.
#[test]
fn oom_score_adj_in_a_user_namespace() {
    require_root!();
    let rt = Rt::new();
    let mut b = userns_bundle(&rt);
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(250));
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(facts["oom_score_adj"], 250, "{facts}");

    b.edit(|c| c["process"]["oomScoreAdj"] = json!(-500));
    if have_sys_resource() {
        let facts = probe_in(&rt, &mut b, &[]);
        assert_eq!(facts["oom_score_adj"], -500, "{facts}");
    } else {
        b.args(&["/probe"]);
        let id = unique_id("oom");
        let out = rt.run_bundle(&b, &id, &[]);
        assert_clean_failure(&rt, &out, &id, "oomScoreAdj -500 without CAP_SYS_RESOURCE");
        if is_brig() {
            assert!(out.stderr.contains("CAP_SYS_RESOURCE"), "{out:?}");
        }
    }
}

/// A bind source only the host's owner may search is opened by the
/// runtime on the host, before the user namespace, so the container gets
/// it (runc's "userns with 2 inaccessible mounts"); its relative path is
/// read from the bundle directory, whatever the caller's cwd.
#[test]
fn bind_source_the_container_root_cannot_reach() {
    require_root!();
    let rt = Rt::new();
    let mut b = userns_bundle(&rt);
    for n in ["1", "2"] {
        let dir = b.path().join(format!("private-{n}/dir"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("foo.txt"), n).unwrap();
        fs::set_permissions(dir.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    }
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for n in ["1", "2"] {
            mounts.push(json!({"source": format!("private-{n}/dir"),
                "destination": format!("/tmp/mount-{n}"), "options": ["bind"]}));
        }
    });
    b.args(&["cat", "/tmp/mount-1/foo.txt", "/tmp/mount-2/foo.txt"]);
    let mut cmd = rt.command(&[
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("priv"),
    ]);
    cmd.current_dir("/");
    let out = rt.run_cmd(cmd).expect_ok("run");
    assert_eq!(out.stdout, "12");
}

/// A container that joins another's user namespace by path and makes its
/// own pid, mount, ipc, uts and network namespaces (runc's "userns join
/// other container userns"): they belong to the joined user namespace, so
/// its root can mount its rootfs and proc; its init is pid 1 of its own pid
/// namespace; its maps are the other container's; exec enters the same.
#[test]
fn join_another_containers_user_namespace_with_new_namespaces() {
    require_root!();
    if !is_brig() {
        // runc 1.1 wants uidMappings for a joined user namespace too
        // ("User namespaces enabled, but no uid mappings found"); 1.2+ not.
        return crate::skip::test("runc 1.1 cannot join a user namespace without its maps");
    }
    let rt = Rt::new();
    let mut target = userns_bundle(&rt);
    target.args(&["/bin/sleep", "600"]);
    let tid = unique_id("unstarget");
    rt.track(&tid);
    let tb = target.path().to_str().unwrap();
    rt.run(&["run", "-d", "--bundle", tb, &tid])
        .expect_ok("run the target");
    let tpid = rt.state(&tid).unwrap()["pid"].as_i64().unwrap();
    let target_user = fs::metadata(format!("/proc/{tpid}/ns/user")).unwrap().ino() as i64;
    let target_pidns = fs::metadata(format!("/proc/{tpid}/ns/pid")).unwrap().ino() as i64;

    let mut b = userns_bundle(&rt);
    b.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "user" {
                n["path"] = json!(format!("/proc/{tpid}/ns/user"));
            }
        }
        let l = c["linux"].as_object_mut().unwrap();
        l.remove("uidMappings");
        l.remove("gidMappings");
    });
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(facts["ns"]["user"].as_i64(), Some(target_user), "{facts}");
    assert_ne!(facts["ns"]["pid"].as_i64(), Some(target_pidns), "{facts}");
    assert_eq!(facts["pid"].as_i64(), Some(1), "init is pid 1: {facts}");
    assert_eq!(
        map_triples(facts["uid_map"].as_str().unwrap()),
        config_triples(&uid_maps()),
        "{facts}"
    );
    assert_eq!(
        (facts["uid"].as_i64(), facts["gid"].as_i64()),
        (Some(0), Some(0))
    );

    // An idmapped bind without maps of its own takes the joined user
    // namespace's: host 7:8 is 7:8 inside (and not the overflow id).
    let data = tempfile::Builder::new()
        .prefix("brig-idmap-join-")
        .tempdir()
        .unwrap();
    fs::set_permissions(data.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(data.path().join("user-file"), "u").unwrap();
    std::os::unix::fs::chown(data.path().join("user-file"), Some(7), Some(8)).unwrap();
    let src = data.path().to_str().unwrap().to_string();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": src, "options": ["bind", "idmap"],
        }))
    });
    b.args(&["/probe", "stat", "/mnt/user-file"]);
    let out = rt
        .run_bundle(&b, &unique_id("unsidm"), &[])
        .expect_ok("idmap in a joined user namespace");
    let st = out.json();
    assert_eq!(
        (st["uid"].as_i64(), st["gid"].as_i64()),
        (Some(7), Some(8)),
        "{st}"
    );

    // Detached, and exec into it: the same user namespace.
    b.args(&["/bin/sleep", "600"]);
    let id = unique_id("unsjoin");
    rt.track(&id);
    rt.run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id])
        .expect_ok("run the joiner detached");
    let out = rt
        .run(&["exec", &id, "/probe"])
        .expect_ok("exec into the joiner");
    let facts = out.json();
    assert_eq!(facts["ns"]["user"].as_i64(), Some(target_user), "{facts}");
    rt.run(&["delete", "--force", &id])
        .expect_ok("delete the joiner");
    assert!(rt.state(&id).is_none());
    rt.run(&["delete", "--force", &tid])
        .expect_ok("delete the target");
}

/// A time namespace with offsets, alone and with a new user namespace
/// (the child in a new user namespace cannot write its own
/// /proc/self/timens_offsets: the parent does), and a second container
/// joining all of the first one's namespaces but mount (runc's "joining
/// existing container namespaces"): the same maps, the same offsets.
#[test]
fn time_offsets_with_and_without_a_user_namespace_and_joined() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1 has no time namespaces");
    }
    let rt = Rt::new();
    let offsets = json!({
        "monotonic": {"secs": 7881, "nanosecs": 2718281},
        "boottime": {"secs": 1337, "nanosecs": 3141519}
    });
    let want = |out: &str| {
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(
            lines.contains(&vec!["monotonic", "7881", "2718281"]),
            "{out}"
        );
        assert!(
            lines.contains(&vec!["boottime", "1337", "3141519"]),
            "{out}"
        );
    };
    let with_time = |b: &mut Bundle| {
        b.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = offsets.clone();
        });
    };
    let mut plain = Bundle::new(&rt);
    with_time(&mut plain);
    plain.args(&["cat", "/proc/self/timens_offsets"]);
    let id = unique_id("timens");
    want(&rt.run_bundle(&plain, &id, &[]).expect_ok("timens").stdout);

    let mut target = userns_bundle(&rt);
    with_time(&mut target);
    target.args(&["/bin/sleep", "600"]);
    let tid = unique_id("timensuser");
    rt.track(&tid);
    let tb = target.path().to_str().unwrap();
    rt.run(&["run", "-d", "--bundle", tb, &tid])
        .expect_ok("timens + userns");
    let out = rt
        .run(&["exec", &tid, "cat", "/proc/self/timens_offsets"])
        .expect_ok("exec into timens + userns");
    want(&out.stdout);

    let tpid = rt.state(&tid).unwrap()["pid"].as_i64().unwrap();
    let mut joiner = userns_bundle(&rt);
    joiner.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "time"}));
        for n in ns.iter_mut() {
            let t = n["type"].as_str().unwrap().to_string();
            if t != "mount" {
                let proc_name = match t.as_str() {
                    "network" => "net",
                    other => other,
                };
                n["path"] = json!(format!("/proc/{tpid}/ns/{proc_name}"));
            }
        }
        let l = c["linux"].as_object_mut().unwrap();
        l.remove("uidMappings");
        l.remove("gidMappings");
    });
    joiner.args(&["cat", "/proc/self/timens_offsets", "/proc/self/uid_map"]);
    let out = rt
        .run_bundle(&joiner, &unique_id("timensjoin"), &[])
        .expect_ok("join every namespace of the target but mount");
    want(&out.stdout);
    assert!(
        out.stdout.contains(&format!("{ROOT_UID}")),
        "the target's maps: {}",
        out.stdout
    );
    rt.run(&["delete", "--force", &tid])
        .expect_ok("delete the target");
}

/// A named network namespace (`ip netns add`), deleted on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn add(tag: &str) -> NetNs {
        let name = unique_id(tag);
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        NetNs { name }
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// The host's root made the network namespace; the container has a user
/// namespace of its own. brig joins the network namespace first, as the
/// host's root, then makes the user namespace (runc's order), and mounts
/// the container's sysfs for that network namespace before it enters the
/// user namespace (from inside, mounting a sysfs of a network namespace
/// the host's user namespace owns is not allowed). runc 1.1.5 fails the
/// sysfs mount with EPERM.
#[test]
fn new_user_namespace_in_a_network_namespace_the_host_made() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("runc 1.1.5 cannot mount sysfs here (EPERM)");
    }
    let netns = NetNs::add("netns");
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let path = netns.path();
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
        ns.push(json!({"type": "network", "path": path}));
        let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let facts = probe_in(&rt, &mut b, &[]);
    let ns = |name: &str| facts["ns"][name].as_u64().unwrap();
    assert_eq!(
        ns("net"),
        std::fs::metadata(netns.path()).unwrap().ino(),
        "the container is in the named network namespace"
    );
    assert_ne!(
        ns("user"),
        std::fs::metadata("/proc/self/ns/user").unwrap().ino(),
        "the container has a user namespace of its own"
    );
    let map = facts["uid_map"].as_str().unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    assert_eq!(facts["uid"], 0);
    let sys = mount_at(&facts, "/sys");
    assert_eq!(sys["fstype"], "sysfs", "{sys}");
    let opts = sys["options"].as_str().unwrap();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "/sys lacks {o}: {opts}");
    }
    // The new namespaces the container asked for belong to its user
    // namespace: it is root over its own ipc namespace.
    assert_ne!(
        ns("ipc"),
        std::fs::metadata("/proc/self/ns/ipc").unwrap().ino()
    );
}

fn mount_at<'a>(facts: &'a Value, mountpoint: &str) -> &'a Value {
    facts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["mountpoint"] == mountpoint)
        .unwrap_or_else(|| panic!("no mount at {mountpoint}"))
}
