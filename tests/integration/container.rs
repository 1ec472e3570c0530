//! What the container gets, as the probe inside it reports.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{is_brig, json_lines, probe_in, require_root, unique_id, Bundle, Rt};

fn mount<'a>(facts: &'a Value, mountpoint: &str) -> Option<&'a Value> {
    facts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["mountpoint"] == mountpoint)
}

fn has_opt(m: &Value, key: &str, opt: &str) -> bool {
    m[key].as_str().unwrap().split(',').any(|o| o == opt)
}

#[test]
fn process_identity_hostname_env_and_cwd() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["hostname"] = json!("brig-test-host");
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 63});
        c["process"]["args"] = json!(["/probe"]);
        c["process"]["oomScoreAdj"] = json!(123);
    });
    let facts = rt
        .run_bundle(&b, &unique_id("ident"), &[])
        .expect_ok("run")
        .json();
    assert_eq!(facts["pid"], 1, "not pid 1 in its pid namespace");
    assert_eq!(facts["ppid"], 0);
    assert_eq!(facts["hostname"], "brig-test-host");
    assert_eq!(facts["cwd"], "/tmp");
    assert_eq!(
        (facts["uid"].clone(), facts["euid"].clone()),
        (json!(1000), json!(1000))
    );
    assert_eq!(
        (facts["gid"].clone(), facts["egid"].clone()),
        (json!(1001), json!(1001))
    );
    assert_eq!(facts["groups"], json!([5, 7]));
    assert_eq!(facts["umask"], 63);
    assert_eq!(facts["oom_score_adj"], 123);
    assert_eq!(facts["argv"], json!(["/probe"]));
    let env: Vec<&str> = facts["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"FOO=bar baz"), "{env:?}");
    assert!(env.contains(&"PATH=/bin"), "{env:?}");
    // Non-root user: the spec's capabilities do not become effective.
    assert_eq!(facts["status"]["NoNewPrivs"], "1");
}

/// brig-only: runc 1.1.5 ignores `domainname` (it came in runc 1.2).
#[test]
fn domainname_is_set() {
    require_root!();
    if !crate::common::is_brig() {
        return crate::skip::test("runc 1.1.5 does not set domainname");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["domainname"] = json!("example.test"));
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(facts["domainname"], "example.test");
}

#[test]
fn mounts_and_their_options() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let shared = tempfile::tempdir().unwrap();
    fs::write(shared.path().join("hello"), "hi").unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(
            json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]}),
        );
        m.push(json!({"destination": "/mnt/ro", "type": "bind",
                      "source": shared.path(), "options": ["rbind", "ro"]}));
        m.push(
            json!({"destination": "/deep/new/dir", "type": "tmpfs", "source": "tmpfs",
                      "options": ["noatime"]}),
        );
    });
    let facts = probe_in(&rt, &mut b, &[]);
    let t = mount(&facts, "/mnt/t").expect("/mnt/t mounted");
    assert_eq!(t["fstype"], "tmpfs");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(has_opt(t, "options", o), "/mnt/t lacks {o}: {t}");
    }
    assert!(has_opt(t, "super_options", "size=1024k"), "{t}");
    assert!(has_opt(t, "super_options", "mode=700"), "{t}");
    let ro = mount(&facts, "/mnt/ro").expect("/mnt/ro mounted");
    assert!(has_opt(ro, "options", "ro"), "{ro}");
    let deep = mount(&facts, "/deep/new/dir").expect("missing mount point created");
    assert!(has_opt(deep, "options", "noatime"), "{deep}");
    // The default mounts of the spec.
    assert_eq!(mount(&facts, "/proc").expect("/proc")["fstype"], "proc");
    assert_eq!(mount(&facts, "/dev").expect("/dev")["fstype"], "tmpfs");
    assert_eq!(
        mount(&facts, "/dev/pts").expect("/dev/pts")["fstype"],
        "devpts"
    );
    assert_eq!(
        mount(&facts, "/dev/shm").expect("/dev/shm")["fstype"],
        "tmpfs"
    );
    assert_eq!(mount(&facts, "/sys").expect("/sys")["fstype"], "sysfs");

    let w = probe_in(&rt, &mut b, &["write", "/mnt/ro/hello", "x"]);
    assert_eq!(w["errno"], libc::EROFS, "bind ro is writable: {w}");
    assert_eq!(
        fs::read_to_string(shared.path().join("hello")).unwrap(),
        "hi"
    );
}

#[test]
fn root_readonly_follows_the_config() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(facts["root_readonly"], true);
    assert!(has_opt(mount(&facts, "/").unwrap(), "options", "ro"));
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let facts = probe_in(&rt, &mut b, &[]);
    assert_eq!(facts["root_readonly"], false);
    assert!(
        !b.rootfs().join(".probe-test").exists(),
        "probe left its file"
    );
}

/// Keys written in another case than the spec's are read as runc reads
/// them (Go's decoder matches field names without regard to case): a
/// config that confines the container under runc confines it under brig.
#[test]
fn keys_in_another_case_are_read_as_runc_reads_them() {
    require_root!();
    let mut runtimes = vec![Rt::new()];
    runtimes.extend(Rt::runc_to_compare());
    for rt in &runtimes {
        let mut b = Bundle::new(rt);
        b.edit(|c| {
            let process = c["process"].as_object_mut().unwrap();
            process.remove("noNewPrivileges");
            process.insert("NoNewprivileges".into(), json!(true));
            let root = c["root"].as_object_mut().unwrap();
            root.remove("readonly");
            root.insert("readOnly".into(), json!(true));
            c.as_object_mut().unwrap().remove("hostname");
            c["HOSTNAME"] = json!("case-test");
        });
        let facts = probe_in(rt, &mut b, &[]);
        let who = rt.bin.display();
        assert_eq!(facts["status"]["NoNewPrivs"], "1", "{who}");
        assert_eq!(facts["root_readonly"], true, "{who}");
        assert_eq!(facts["hostname"], "case-test", "{who}");
    }
}

#[test]
fn masked_and_readonly_paths() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let masked: Vec<String> = b.config["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let facts = probe_in(&rt, &mut b, &[]);
    for p in masked.iter().filter(|p| Path::new(p).exists()) {
        assert!(mount(&facts, p).is_some(), "masked path {p} not masked");
    }
    for p in ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/irq"] {
        if let Some(m) = mount(&facts, p) {
            assert!(has_opt(m, "options", "ro"), "{p} not ro: {m}");
        }
    }
    // A masked file reads as /dev/null; /proc/sys refuses writes.
    let script = "/probe stat /proc/keys; /probe stat /proc/timer_list; \
                  /probe write /proc/sys/kernel/hostname evil; /probe open /proc/keys r";
    b.args(&["sh", "-c", script]);
    let out = rt.run_bundle(&b, &unique_id("mask"), &[]).expect_ok("run");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for l in &lines[..2] {
        if l["errno"] == 0 {
            assert_eq!(
                (l["kind"].as_str(), l["major"].as_i64(), l["minor"].as_i64()),
                (Some("char"), Some(1), Some(3)),
                "not masked: {l}"
            );
        }
    }
    assert_eq!(lines[2]["errno"], libc::EROFS, "{}", lines[2]);
}

#[test]
fn devices_default_and_configured() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/brigzero", "type": "c", "major": 1,
            "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 0}]);
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}));
    });
    let script = "/probe stat /dev/null; /probe open /dev/null w; /probe stat /dev/brigzero; \
                  /probe open /dev/brigzero r; /probe stat /dev/zero; /probe stat /dev/urandom; \
                  /probe stat /dev/ptmx; /probe stat /dev/fd; /probe stat /dev/stdout";
    b.args(&["sh", "-c", script]);
    let out = rt.run_bundle(&b, &unique_id("dev"), &[]).expect_ok("run");
    let l = json_lines(&out.stdout);
    assert_eq!(l.len(), 9, "{}", out.stdout);
    let dev = |v: &Value| (v["kind"].clone(), v["major"].clone(), v["minor"].clone());
    assert_eq!(dev(&l[0]), (json!("char"), json!(1), json!(3)), "{}", l[0]);
    assert_eq!(l[1]["errno"], 0, "open /dev/null: {}", l[1]);
    assert_eq!(dev(&l[2]), (json!("char"), json!(1), json!(5)), "{}", l[2]);
    assert_eq!(l[2]["mode"], 0o640);
    assert_eq!(l[3]["errno"], 0, "open /dev/brigzero: {}", l[3]);
    assert_eq!(dev(&l[4]), (json!("char"), json!(1), json!(5)));
    assert_eq!(dev(&l[5]), (json!("char"), json!(1), json!(9)));
    assert_eq!(l[6]["errno"], 0, "/dev/ptmx: {}", l[6]);
    assert_eq!(l[7]["kind"], "symlink", "/dev/fd: {}", l[7]);
    assert_eq!(l[8]["kind"], "symlink", "/dev/stdout: {}", l[8]);
}

#[test]
fn rlimits_are_applied() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
        ]);
    });
    let facts = probe_in(&rt, &mut b, &[]);
    let r = &facts["rlimits"];
    assert_eq!(r["RLIMIT_NOFILE"], json!([1000, 2000]));
    assert_eq!(r["RLIMIT_CORE"], json!([0, 0]));
    assert_eq!(r["RLIMIT_NPROC"], json!([500, 600]));
}

/// Only stdio and the `--preserve-fds` descriptors reach the container.
#[test]
fn preserved_fds_and_nothing_else() {
    require_root!();
    let rt = Rt::new();
    let b = Bundle::new(&rt);
    let extra = tempfile::tempfile().unwrap();
    for (preserve, want) in [(Some("1"), json!([0, 1, 2, 3])), (None, json!([0, 1, 2]))] {
        let id = unique_id("fds");
        rt.track(&id);
        let mut args = vec!["run", "--bundle", b.path().to_str().unwrap()];
        if let Some(n) = preserve {
            args.extend(["--preserve-fds", n]);
        }
        args.push(&id);
        let mut cmd = rt.command(&args);
        let fd = extra.as_raw_fd();
        // SAFETY: dup2 and fcntl are async-signal-safe; they only put the
        // test's file at fd 3 (without close-on-exec) in the child before
        // exec. dup2 onto itself keeps close-on-exec, hence the fcntl.
        unsafe {
            cmd.pre_exec(move || {
                let rc = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if rc < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let facts = rt.run_cmd(cmd).expect_ok("run").json();
        assert_eq!(facts["fds"], want, "--preserve-fds {preserve:?}");
    }
}

/// The same bundle under runc and the runtime under test: the probe must
/// see the same process (namespace inode numbers aside).
#[test]
fn same_facts_as_runc() {
    require_root!();
    let Some(runc) = Rt::runc() else {
        return crate::skip::test(crate::common::NO_RUNC);
    };
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["hostname"] = json!("same");
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]);
    });
    let mine = probe_in(&rt, &mut b, &[]);
    let theirs = probe_in(&runc, &mut b, &[]);
    for key in [
        "pid",
        "ppid",
        "uid",
        "gid",
        "euid",
        "egid",
        "groups",
        "umask",
        "cwd",
        "hostname",
        "status",
        "rlimits",
        "fds",
        "env",
        "argv",
        "uid_map",
        "gid_map",
        "root_readonly",
        "oom_score_adj",
        "tty",
    ] {
        assert_eq!(mine[key], theirs[key], "{key} differs from runc");
    }
    let view = |f: &Value| -> Vec<(String, String, String)> {
        f["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["mountpoint"].as_str().unwrap().to_string(),
                    m["fstype"].as_str().unwrap().to_string(),
                    m["options"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (a, r) = (view(&mine), view(&theirs));
    for m in &r {
        // The controller mounts under /sys/fs/cgroup are per-container
        // cgroup paths; compare their presence below, the rest exactly.
        // One known difference: runc 1.1 leaves the tmpfs at /sys/fs/cgroup
        // read-write although the mount says "ro"; brig applies the "ro".
        if m.0 == "/sys/fs/cgroup" && m.1 == "tmpfs" {
            let ours = a
                .iter()
                .find(|x| x.0 == m.0)
                .expect("a /sys/fs/cgroup mount");
            assert_eq!(ours.1, "tmpfs", "{ours:?}");
            let want = if is_brig() {
                m.2.replacen("rw", "ro", 1)
            } else {
                m.2.clone()
            };
            assert_eq!(ours.2, want, "{ours:?} vs runc {m:?}");
        } else if m.1 != "cgroup" && m.1 != "cgroup2" {
            assert!(
                a.contains(m),
                "runc has mount {m:?}, runtime under test has {a:?}"
            );
        }
    }
    let controllers = |v: &[(String, String, String)]| -> Vec<String> {
        let mut c: Vec<String> = v
            .iter()
            .filter(|m| m.0.starts_with("/sys/fs/cgroup/"))
            .map(|m| m.0.clone())
            .collect();
        c.sort();
        c
    };
    // Every hierarchy runc shows, brig shows; on a hybrid host brig also
    // binds the unified (cgroup2) hierarchy, where controllers such as
    // hugetlb live, which runc 1.1 leaves out.
    let (ours, runcs) = (controllers(&a), controllers(&r));
    for c in &runcs {
        assert!(ours.contains(c), "runc has {c}, brig has {ours:?}");
    }
    for c in &ours {
        assert!(
            runcs.contains(c) || c == "/sys/fs/cgroup/unified",
            "brig has {c} that runc does not: {runcs:?}"
        );
    }
    // Namespaces: the ones the spec asks for are new, the rest the host's.
    let host = |ns: &str| {
        fs::metadata(format!("/proc/self/ns/{ns}"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m) as i64)
    };
    for ns in ["pid", "net", "ipc", "uts", "mnt", "user", "cgroup", "time"] {
        let (Ok(h), Some(m), Some(t)) =
            (host(ns), mine["ns"][ns].as_i64(), theirs["ns"][ns].as_i64())
        else {
            continue;
        };
        assert_eq!(
            m == h,
            t == h,
            "namespace {ns}: shared with host differs from runc"
        );
    }
}

/// The program starts with no signal ignored that the caller did not
/// ignore: brig's own runtime ignores SIGPIPE, which an execve would pass
/// on (`yes | head` would spin); runc's container agrees. Read by busybox
/// `cat` as the container's process itself (the probe, a Rust program,
/// ignores SIGPIPE on its own).
#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["cat", "/proc/self/status"]);
    let sig_ign = |rt: &Rt| -> String {
        let out = rt
            .run_bundle(&b, &unique_id("sigpipe"), &[])
            .expect_ok("cat status");
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let pipe_bit = |v: &str| u64::from_str_radix(v, 16).unwrap() & (1 << (libc::SIGPIPE - 1));
    let ours = sig_ign(&rt);
    assert_eq!(pipe_bit(&ours), 0, "SIGPIPE ignored: {ours}");
    // Only SIGPIPE is compared: what else the caller ignored, runc's Go
    // runtime changes in its own ways.
    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    assert_eq!(pipe_bit(&sig_ign(&runc)), 0);
}
