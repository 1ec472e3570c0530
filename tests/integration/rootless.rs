//! brig run by hand by an ordinary user (issue 16, first part). Each test
//! makes a user of its own (`useradd`, a private /etc/subuid and
//! /etc/subgid range, an XDG_RUNTIME_DIR it owns under /tmp), runs every
//! runtime command as that user (`setpriv --reuid --regid --init-groups`,
//! a clean environment, no `--root`: the state goes to the default), and
//! removes the user, its ranges and its files afterwards. The same bundle
//! runs under runc rootless, and the two must agree on what the process
//! sees. Needs root (to make the user) and `setpriv`, `useradd` and
//! `newuidmap` (Debian: util-linux, passwd, uidmap).

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use serde_json::{json, Value};

use crate::common::{
    is_brig, parse_json, probe_bin, require_root, runc_bin, runtime_bin, Out, DEADLINE, NO_RUNC,
};
use crate::skip;

const TOOLS: &[&str] = &[
    "/usr/sbin/useradd",
    "/usr/sbin/userdel",
    "/usr/sbin/usermod",
    "/usr/bin/setpriv",
    "/usr/bin/newuidmap",
    "/usr/bin/newgidmap",
];

/// Host ids far above the usual /etc/subuid ranges (100000 + 65536 n),
/// one block of 65536 per test user.
const RANGE_BASE: u64 = 3_000_000_000;

/// A user made for one test, with everything it owns; removed on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    /// The first host id of its /etc/subuid and /etc/subgid range (65536).
    range: u64,
    /// Its XDG_RUNTIME_DIR (0700, its own) and the test's files (bundles).
    xdg: PathBuf,
    work: tempfile::TempDir,
    /// Runtimes and container ids to `delete --force` as this user.
    containers: Vec<(PathBuf, String)>,
}

/// `useradd` and friends, or a panic with what they said.
fn admin(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run user admin tool");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl User {
    /// None (recorded as a skip) when not root or a tool is missing.
    fn create(tag: &str) -> Option<User> {
        if !nix::unistd::geteuid().is_root() {
            skip::test(skip::NEEDS_ROOT);
            return None;
        }
        if let Some(t) = TOOLS.iter().find(|t| !Path::new(t).exists()) {
            skip::test(format!(
                "{t} is missing (apt-get install passwd util-linux uidmap)"
            ));
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // user names: at most 32 bytes.
        let name = format!("brig-rl-{tag}-{}", std::process::id() % 100_000);
        let range = RANGE_BASE + u64::from((std::process::id() % 1000) * 8 + n) * 65536;
        // A leftover of a killed run with this name goes first.
        let _ = Command::new("/usr/sbin/userdel").arg(&name).output();
        // No home, no automatic subordinate ranges: exactly ours.
        admin(&[
            "/usr/sbin/useradd",
            "-M",
            "-K",
            "SUB_UID_COUNT=0",
            "-K",
            "SUB_GID_COUNT=0",
            "-s",
            "/bin/sh",
            &name,
        ]);
        let pw = nix::unistd::User::from_name(&name)
            .unwrap()
            .expect("the user just made");
        let work = tempfile::Builder::new()
            .prefix("brig-rootless-")
            .tempdir()
            .unwrap();
        let mut u = User {
            name,
            uid: pw.uid.as_raw(),
            gid: pw.gid.as_raw(),
            range,
            xdg: work.path().join("xdg"),
            work,
            containers: Vec::new(),
        };
        let r = format!("{}-{}", range, range + 65535);
        admin(&[
            "/usr/sbin/usermod",
            "--add-subuids",
            &r,
            "--add-subgids",
            &r,
            &u.name,
        ]);
        // The work dir is the user's (bundles and XDG_RUNTIME_DIR in it).
        chown(u.work.path(), Some(u.uid), Some(u.gid)).unwrap();
        fs::create_dir(&u.xdg).unwrap();
        fs::set_permissions(&u.xdg, fs::Permissions::from_mode(0o700)).unwrap();
        chown(&u.xdg, Some(u.uid), Some(u.gid)).unwrap();
        u.containers.clear();
        Some(u)
    }

    /// `bin ARGS` as this user, in `cwd`, with a clean environment.
    fn command(&self, bin: &Path, args: &[&str], cwd: &Path) -> Command {
        let mut c = Command::new("/usr/bin/setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg("/usr/bin/env")
            .arg("-i")
            .arg("PATH=/usr/local/bin:/usr/bin:/bin")
            .arg("HOME=/")
            .arg(format!("USER={}", self.name))
            .arg(format!("XDG_RUNTIME_DIR={}", self.xdg.display()))
            .arg(bin)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion; stdio through files (a created container keeps
    /// its stdio open).
    fn run_in(&self, bin: &Path, args: &[&str], cwd: &Path) -> Out {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let (o, e) = (
            self.work.path().join(format!("{n}.out")),
            self.work.path().join(format!("{n}.err")),
        );
        let mut c = self.command(bin, args, cwd);
        c.stdout(fs::File::create(&o).unwrap());
        c.stderr(fs::File::create(&e).unwrap());
        let status = c.status().expect("spawn setpriv");
        let out = Out {
            status,
            stdout: fs::read_to_string(&o).unwrap_or_default(),
            stderr: fs::read_to_string(&e).unwrap_or_default(),
        };
        let _ = fs::remove_file(o);
        let _ = fs::remove_file(e);
        out
    }

    fn run(&self, bin: &Path, args: &[&str]) -> Out {
        self.run_in(bin, args, self.work.path())
    }

    /// A bundle of the user's own: busybox and the probe, config.json
    /// from `brig spec --rootless` run as the user, set to run the probe.
    fn bundle(&self, name: &str, brig: &Path) -> (PathBuf, Value) {
        let dir = self.work.path().join(name);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (apt-get install busybox-static)");
        for a in ["sh", "id", "cat", "sleep"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        fs::copy(probe_bin(), rootfs.join("probe")).expect("copy the probe");
        let out = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown the bundle: {out:?}");
        let out = self.run_in(brig, &["spec", "--rootless"], &dir);
        assert!(out.ok(), "spec --rootless as the user: {out:?}");
        let mut config: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/probe"]);
        save(&dir, &config);
        (dir, config)
    }

    fn track(&mut self, bin: &Path, id: &str) {
        self.containers.push((bin.to_path_buf(), id.to_string()));
    }
}

fn save(dir: &Path, config: &Value) {
    fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
}

impl Drop for User {
    fn drop(&mut self) {
        for (bin, id) in std::mem::take(&mut self.containers) {
            let _ = self.run(&bin, &["delete", "--force", &id]);
        }
        let r = format!("{}-{}", self.range, self.range + 65535);
        let _ = Command::new("/usr/sbin/usermod")
            .args(["--del-subuids", &r, "--del-subgids", &r, &self.name])
            .output();
        let _ = Command::new("/usr/sbin/userdel").arg(&self.name).output();
        // The work dir (TempDir) goes with its drop, after this.
        let leftover = ["/etc/passwd", "/etc/subuid", "/etc/subgid"]
            .iter()
            .any(|f| {
                fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.starts_with(&format!("{}:", self.name)))
            });
        if leftover && !std::thread::panicking() {
            panic!("user {} left in /etc after the test", self.name);
        }
    }
}

/// The brig the user runs. Where the build's own binary is not reachable
/// by an ordinary user (a checkout under a private home), a root-owned
/// copy in the work dir: never a file the user could write.
fn user_runtime(u: &User, bin: PathBuf) -> PathBuf {
    if u.run(&bin, &["--version"]).ok() {
        return bin;
    }
    let copy = u.work.path().join(bin.file_name().unwrap());
    fs::copy(&bin, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// A copy of `bin` owned by the user, in its work dir.
fn own_copy(u: &User, bin: &Path) -> PathBuf {
    let dir = u.work.path().join("bin");
    fs::create_dir(&dir).unwrap();
    chown(&dir, Some(u.uid), Some(u.gid)).unwrap();
    let copy = dir.join(bin.file_name().unwrap());
    fs::copy(bin, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    chown(&copy, Some(u.uid), Some(u.gid)).unwrap();
    copy
}

/// The state directory a runtime uses for this user by default.
fn state_dir(u: &User, bin: &Path) -> PathBuf {
    u.xdg.join(if is_brig_bin(bin) { "brig" } else { "runc" })
}

fn is_brig_bin(bin: &Path) -> bool {
    bin.file_name().is_some_and(|n| n == "brig") && is_brig()
}

/// Every file under `dir` (and `dir`) belongs to `uid`.
fn not_owned_by(dir: &Path, uid: u32) -> Vec<PathBuf> {
    let mut bad = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if md.uid() != uid {
            bad.push(p.clone());
        }
        if md.is_dir() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                todo.push(e.path());
            }
        }
    }
    bad
}

fn wait_status(u: &User, bin: &Path, id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let out = u.run(bin, &["state", id]);
        if out.ok() && out.json()["status"] == want {
            return out.json();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{id} never reached {want}: {out:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The uid a host process runs as (its real uid, from /proc/PID/status).
fn host_uid_of(pid: i64) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// What the rootless process sees, as both runtimes must agree on it.
#[derive(Debug, PartialEq)]
struct Seen {
    uid: Value,
    gid: Value,
    uid_map: Value,
    gid_map: Value,
    /// mountpoint -> fstype for the mounts the spec names.
    mounts: Vec<(String, String)>,
    dev_null: (Value, Value, Value),
    sys_class: bool,
}

fn seen(facts: &Value, dev_null: &Value, sys_class: bool) -> Seen {
    let wanted = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ];
    let mut mounts: Vec<(String, String)> = facts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| wanted.contains(&m["mountpoint"].as_str().unwrap()))
        .map(|m| {
            (
                m["mountpoint"].as_str().unwrap().to_string(),
                m["fstype"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    mounts.sort();
    mounts.dedup();
    Seen {
        uid: facts["uid"].clone(),
        gid: facts["gid"].clone(),
        uid_map: facts["uid_map"].clone(),
        gid_map: facts["gid_map"].clone(),
        mounts,
        dev_null: (
            dev_null["kind"].clone(),
            dev_null["major"].clone(),
            dev_null["minor"].clone(),
        ),
        sys_class,
    }
}

/// The whole lifecycle as the user under one runtime; returns what the
/// process saw.
fn lifecycle(u: &mut User, bin: &Path, bundle: &Path, config: &Value, tag: &str) -> Seen {
    let brig = is_brig_bin(bin);
    let own_map = format!("0 {} 1", u.uid);
    let norm = |v: &Value| {
        v.as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };

    // run: the probe's facts, in the foreground.
    let id = format!("rl-run-{tag}");
    u.track(bin, &id);
    let out = u.run_in(bin, &["run", &id], bundle);
    assert!(out.ok(), "{} run as the user: {out:?}", bin.display());
    let facts = parse_json(&out.stdout);
    assert_eq!(facts["uid"], 0, "{facts}");
    assert_eq!(norm(&facts["uid_map"]), own_map);
    assert_eq!(norm(&facts["gid_map"]), format!("0 {} 1", u.gid));
    if brig {
        // Without a delegated cgroup: one warning, and it runs.
        assert!(
            out.stderr.contains("runs without a cgroup") || out.stderr.is_empty(),
            "{out:?}"
        );
    }
    assert!(
        u.run(bin, &["state", &id]).code() != Some(0),
        "run left {id}"
    );

    // create / start / state / exec / ps / list / kill / delete.
    let mut cfg = config.clone();
    cfg["process"]["args"] = json!(["/probe", "sleep", "600"]);
    save(bundle, &cfg);
    let id = format!("rl-life-{tag}");
    u.track(bin, &id);
    let out = u.run_in(bin, &["create", &id], bundle);
    assert!(out.ok(), "create as the user: {out:?}");
    let st = wait_status(u, bin, &id, "created");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(
        host_uid_of(pid),
        u.uid,
        "the init runs as the user on the host"
    );
    if brig {
        // CVE-2019-5736: the runtime image the created init runs from is
        // not a file anyone can write, the user's own brig included.
        let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_ne!(
            exe,
            fs::canonicalize(bin).unwrap(),
            "init runs the host binary"
        );
        let w = fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/exe"));
        let written = w.map(|mut f| std::io::Write::write(&mut f, b"x"));
        assert!(
            !matches!(written, Ok(Ok(_))),
            "the init's binary ({}) could be written",
            exe.display()
        );
        // And from inside: the waiting init is the container's pid 1.
        let out = u.run(bin, &["exec", &id, "/probe", "open", "/proc/1/exe", "w"]);
        assert!(out.ok(), "exec into the created container: {out:?}");
        let opened = parse_json(&out.stdout);
        assert_ne!(
            opened["errno"], 0,
            "/proc/1/exe opened for writing: {opened}"
        );
    }
    // The state is the user's, under $XDG_RUNTIME_DIR/<runtime>.
    let dir = state_dir(u, bin);
    assert!(dir.join(&id).is_dir(), "no state at {}", dir.display());
    assert_eq!(not_owned_by(&u.xdg, u.uid), Vec::<PathBuf>::new());
    let list = u.run(bin, &["list", "--format", "json"]);
    assert!(list.ok() && list.stdout.contains(&id), "{list:?}");

    let out = u.run(bin, &["start", &id]);
    assert!(out.ok(), "start: {out:?}");
    wait_status(u, bin, &id, "running");
    let out = u.run(bin, &["exec", &id, "/probe"]);
    assert!(out.ok(), "exec: {out:?}");
    let exec_facts = parse_json(&out.stdout);
    assert_eq!(exec_facts["uid"], 0);
    assert_eq!(norm(&exec_facts["uid_map"]), own_map);
    let out = u.run(bin, &["exec", &id, "/probe", "stat", "/dev/null"]);
    assert!(out.ok(), "exec stat: {out:?}");
    let dev_null = parse_json(&out.stdout);
    let out = u.run(bin, &["exec", &id, "/bin/sh", "-c", "test -d /sys/class"]);
    let sys_class = out.ok();
    if brig {
        let ps = u.run(bin, &["ps", "--format", "json", &id]);
        assert!(ps.ok(), "ps: {ps:?}");
        let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).unwrap();
        assert!(pids.contains(&pid), "ps {pids:?} lacks init {pid}");
        // No cgroup: pause cannot work, and says why in one line.
        let out = u.run(bin, &["pause", &id]);
        assert!(!out.ok(), "pause without a cgroup: {out:?}");
        assert!(out.stderr.contains("has no cgroup"), "{out:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    }
    let out = u.run(bin, &["kill", &id, "KILL"]);
    assert!(out.ok(), "kill: {out:?}");
    wait_status(u, bin, &id, "stopped");
    let out = u.run(bin, &["delete", &id]);
    assert!(out.ok(), "delete: {out:?}");
    assert!(
        !dir.join(&id).exists(),
        "delete left {}",
        dir.join(&id).display()
    );
    assert_eq!(not_owned_by(&u.xdg, u.uid), Vec::<PathBuf>::new());
    save(bundle, config);
    seen(&facts, &dev_null, sys_class)
}

#[test]
fn rootless_lifecycle_by_hand_and_runc_agrees() {
    require_root!();
    let Some(mut u) = User::create("life") else {
        return;
    };
    // brig as a user installs it by hand: a binary of the user's own, in
    // a directory of the user's own (the CVE-2019-5736 case that matters
    // rootless: a container that reached it could rewrite the user's brig).
    let bin = if is_brig() {
        own_copy(&u, &runtime_bin())
    } else {
        user_runtime(&u, runtime_bin())
    };
    let (bundle, config) = u.bundle("bundle", &bin);
    let mine = lifecycle(&mut u, &bin, &bundle, &config, "a");
    assert!(mine.sys_class, "/sys is there: {mine:?}");
    assert_eq!(mine.dev_null, (json!("char"), json!(1), json!(3)));
    assert!(
        mine.mounts.iter().any(|(m, t)| m == "/sys" && t == "sysfs"),
        "{mine:?}"
    );

    if !is_brig() {
        return skip::part("the runtime under test is runc: no comparison with itself");
    }
    let Some(runc) = runc_bin() else {
        return skip::part(format!("{NO_RUNC}: comparison with runc"));
    };
    // runc's own `spec --rootless`, as the same user, is brig's.
    let runc_dir = u.work.path().join("runc-spec");
    fs::create_dir(&runc_dir).unwrap();
    chown(&runc_dir, Some(u.uid), Some(u.gid)).unwrap();
    let out = u.run_in(&runc, &["spec", "--rootless"], &runc_dir);
    assert!(out.ok(), "runc spec --rootless: {out:?}");
    let theirs: Value =
        serde_json::from_str(&fs::read_to_string(runc_dir.join("config.json")).unwrap()).unwrap();
    let (ours, theirs) = (brig_spec(&u, &bin), theirs);
    for field in ["uidMappings", "gidMappings", "namespaces", "resources"] {
        assert_eq!(
            ours["linux"][field], theirs["linux"][field],
            "linux.{field}"
        );
    }
    assert_eq!(ours["mounts"], theirs["mounts"], "mounts");
    assert_eq!(ours["process"]["rlimits"], theirs["process"]["rlimits"]);

    // The same bundle under runc: the process sees the same.
    let runc_sees = lifecycle(&mut u, &runc, &bundle, &config, "r");
    assert_eq!(mine, runc_sees);
}

/// `brig spec --rootless` as the user, read back.
fn brig_spec(u: &User, bin: &Path) -> Value {
    let dir = u.work.path().join("brig-spec");
    fs::create_dir(&dir).unwrap();
    chown(&dir, Some(u.uid), Some(u.gid)).unwrap();
    let out = u.run_in(bin, &["spec", "--rootless"], &dir);
    assert!(out.ok(), "spec --rootless: {out:?}");
    serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

/// A config mapping more than the user's own id goes through newuidmap
/// and newgidmap and the user's ranges; what it cannot have is refused
/// in one line, before anything is made.
#[test]
fn rootless_subuid_maps_and_clear_refusals() {
    require_root!();
    let Some(mut u) = User::create("maps") else {
        return;
    };
    let bin = user_runtime(&u, runtime_bin());
    let (bundle, config) = u.bundle("bundle", &bin);
    let range = u.range as u32;
    let maps = |own: u32, start: u32| {
        json!([{"containerID": 0, "hostID": own, "size": 1},
               {"containerID": 1, "hostID": start, "size": 65536}])
    };
    let mut cfg = config.clone();
    cfg["linux"]["uidMappings"] = maps(u.uid, range);
    cfg["linux"]["gidMappings"] = maps(u.gid, range);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    save(&bundle, &cfg);
    let norm = |v: &Value| {
        v.as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let want_map = format!("0 {} 1 1 {range} 65536", u.uid);

    let mut sees = Vec::new();
    let runc = runc_bin().filter(|_| is_brig());
    if !is_brig() {
        skip::part("the runtime under test is runc: no comparison with itself");
    } else if runc.is_none() {
        skip::part(format!("{NO_RUNC}: comparison with runc"));
    }
    for (i, rt) in std::iter::once(bin.clone()).chain(runc).enumerate() {
        let id = format!("rl-maps-{i}");
        u.track(&rt, &id);
        let out = u.run_in(&rt, &["run", &id], &bundle);
        assert!(out.ok(), "{}: run with subuid maps: {out:?}", rt.display());
        let f = parse_json(&out.stdout);
        assert_eq!(norm(&f["uid_map"]), want_map, "{}", rt.display());
        assert_eq!(
            (f["uid"].clone(), f["gid"].clone()),
            (json!(1000), json!(1000))
        );
        sees.push((f["uid_map"].clone(), f["gid_map"].clone(), f["uid"].clone()));
    }
    sees.dedup();
    assert_eq!(sees.len(), 1, "brig and runc differ: {sees:?}");
    if !is_brig() {
        return;
    }

    // The container's root in the user's range, not the user itself: brig
    // may not give the exec fifo to it (runc 1.1.5 fails here: "fchown
    // fd 7: operation not permitted"); it runs, with the fifo 0622 in the
    // user's own state root. The container's root must reach the rootfs.
    fs::set_permissions(u.work.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let mut c = config.clone();
    let whole = json!([{"containerID": 0, "hostID": range, "size": 65536}]);
    c["linux"]["uidMappings"] = whole.clone();
    c["linux"]["gidMappings"] = whole;
    save(&bundle, &c);
    u.track(&bin, "rl-subroot");
    let out = u.run_in(&bin, &["run", "rl-subroot"], &bundle);
    assert!(out.ok(), "root mapped into the subuid range: {out:?}");
    let f = parse_json(&out.stdout);
    assert_eq!(norm(&f["uid_map"]), format!("0 {range} 65536"));
    assert_eq!(f["uid"], 0);

    // Refusals: one line, nothing left under the user's state root.
    let refused = |cfg: &Value, id: &str, want: &str| {
        save(&bundle, cfg);
        let out = u.run_in(&bin, &["run", id], &bundle);
        assert!(!out.ok(), "{id} ran: {out:?}");
        let last = out
            .stderr
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        assert!(last.contains(want), "{id}: {out:?}");
        assert!(last.starts_with("brig: run "), "{id}: {out:?}");
        let dir = state_dir(&u, &bin).join(id);
        assert!(!dir.exists(), "{id} left {}", dir.display());
    };
    let mut c = cfg.clone();
    c["linux"]["uidMappings"] = maps(u.uid, range + 65536);
    refused(&c, "rl-outside", "is outside");
    let mut c = config.clone();
    c["linux"]["resources"] = json!({"memory": {"limit": 100_000_000}});
    refused(&c, "rl-limits", "linux.resources memory need a cgroup");
    let mut c = config.clone();
    c["linux"]["cgroupsPath"] = json!("/rl-cg");
    refused(&c, "rl-cgpath", "linux.cgroupsPath \"/rl-cg\"");
    let mut c = config.clone();
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    c["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    refused(&c, "rl-rlimit", "above this user's hard limit");
    let mut c = config.clone();
    c["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [0]});
    refused(&c, "rl-groups", "denies setgroups");
    save(&bundle, &config);
}

/// A config asking for sysfs without a network namespace of its own (the
/// kernel refuses that mount to a user namespace): brig binds the host's
/// /sys instead, read-only all the way down (runc 1.1.5 refuses it; later
/// runc falls back alike).
#[test]
fn rootless_sysfs_without_netns_is_the_hosts_read_only() {
    require_root!();
    if !is_brig() {
        return skip::test("brig's own fallback (runc 1.1.5 refuses this config)");
    }
    let Some(mut u) = User::create("sysfs") else {
        return;
    };
    let bin = user_runtime(&u, runtime_bin());
    let (bundle, mut config) = u.bundle("bundle", &bin);
    for m in config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                        "options": ["nosuid", "noexec", "nodev", "ro"]});
        }
    }
    save(&bundle, &config);
    u.track(&bin, "rl-sysfs");
    let out = u.run_in(&bin, &["run", "rl-sysfs"], &bundle);
    assert!(out.ok(), "run with a sysfs mount: {out:?}");
    let facts = parse_json(&out.stdout);
    let under_sys: Vec<&Value> = facts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            let p = m["mountpoint"].as_str().unwrap();
            p == "/sys" || p.starts_with("/sys/")
        })
        .collect();
    assert!(
        under_sys
            .iter()
            .any(|m| m["mountpoint"] == "/sys" && m["fstype"] == "sysfs"),
        "{under_sys:?}"
    );
    // The host's submounts came along (its cgroup hierarchies, say), and
    // not one of them is writable.
    assert!(under_sys.len() > 1, "{under_sys:?}");
    for m in &under_sys {
        let opts = m["options"].as_str().unwrap();
        assert!(opts.split(',').any(|o| o == "ro"), "writable: {m}");
    }
}

/// A cgroup2 subtree delegated to the user (chowned to it, as systemd's
/// `Delegate=yes` does), its cgroup2 seen at /sys/fs/cgroup in a private
/// mount namespace (this hybrid host's /sys/fs/cgroup/unified): brig
/// makes the container's cgroup in it, applies the limits, can pause and
/// resume, and removes it at delete; no warning. The device rules (a v2
/// device program needs CAP_BPF on the host) are not applied, as with
/// runc rootless.
#[test]
fn rootless_delegated_cgroup_v2_limits_apply() {
    require_root!();
    if !is_brig() {
        return skip::test("brig-only (the pure-v2 view is not checked against runc 1.1)");
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cgroup.controllers").exists() {
        return skip::test("no cgroup2 mount at /sys/fs/cgroup/unified to delegate from");
    }
    let deleg = Delegated::new(unified, &format!("brig-rl-{}", std::process::id()));
    let Some(mut u) = User::create("cg") else {
        return;
    };
    let out = Command::new("chown")
        .args(["-R", &format!("{}:{}", u.uid, u.gid)])
        .arg(&deleg.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "chown the delegated cgroup: {out:?}");
    let bin = user_runtime(&u, runtime_bin());
    let (bundle, mut config) = u.bundle("bundle", &bin);
    let huge = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
        && fs::read_to_string(unified.join("cgroup.controllers"))
            .unwrap_or_default()
            .contains("hugetlb");
    if huge {
        let _ = fs::write(unified.join("cgroup.subtree_control"), "+hugetlb");
        config["linux"]["resources"] =
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]});
    } else {
        skip::part("hugetlb limit: no 2MB huge pages or no hugetlb in cgroup2 here");
    }
    config["process"]["args"] = json!(["/probe", "sleep", "600"]);
    save(&bundle, &config);
    u.track(&bin, "rl-deleg");
    // Every command: a private mount namespace with cgroup2 on
    // /sys/fs/cgroup, the shell moved into the delegated "shell" cgroup
    // (root does that, as a login does for a user session), then the user.
    let name = deleg.dir.file_name().unwrap().to_str().unwrap().to_string();
    let v2 = |args: &[&str]| {
        let inner = u.command(&bin, args, &bundle);
        let mut argv: Vec<String> = vec![inner.get_program().to_string_lossy().into_owned()];
        argv.extend(inner.get_args().map(|a| a.to_string_lossy().into_owned()));
        let script = format!(
            "umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup/{name}/shell/cgroup.procs && exec \"$@\""
        );
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", &script, "sh"]).args(&argv);
        c.current_dir(&bundle);
        let (o, e) = (u.work.path().join("v2.out"), u.work.path().join("v2.err"));
        c.stdin(Stdio::null());
        c.stdout(fs::File::create(&o).unwrap());
        c.stderr(fs::File::create(&e).unwrap());
        let status = c.status().unwrap();
        Out {
            status,
            stdout: fs::read_to_string(&o).unwrap_or_default(),
            stderr: fs::read_to_string(&e).unwrap_or_default(),
        }
    };
    let out = v2(&["run", "-d", "rl-deleg"]);
    assert!(out.ok(), "run -d in a delegated cgroup: {out:?}");
    assert!(!out.stderr.contains("without a cgroup"), "{out:?}");
    let cg = deleg.dir.join("rl-deleg");
    assert!(cg.is_dir(), "no cgroup at {}", cg.display());
    let st = parse_json(&v2(&["state", "rl-deleg"]).stdout);
    let pid = st["pid"].as_i64().unwrap().to_string();
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid),
        "init {pid} not in {procs:?}"
    );
    if huge {
        assert_eq!(
            fs::read_to_string(cg.join("hugetlb.2MB.max"))
                .unwrap()
                .trim(),
            "2097152"
        );
    }
    let out = v2(&["pause", "rl-deleg"]);
    assert!(out.ok(), "pause: {out:?}");
    assert_eq!(
        fs::read_to_string(cg.join("cgroup.freeze")).unwrap().trim(),
        "1"
    );
    let out = v2(&["resume", "rl-deleg"]);
    assert!(out.ok(), "resume: {out:?}");
    let out = v2(&["delete", "--force", "rl-deleg"]);
    assert!(out.ok(), "delete: {out:?}");
    assert!(!cg.exists(), "delete left {}", cg.display());
}

/// A cgroup2 directory with a "shell" child, removed on drop (after the
/// user, declared after it, is gone).
struct Delegated {
    dir: PathBuf,
}

impl Delegated {
    fn new(unified: &Path, name: &str) -> Delegated {
        let dir = unified.join(name);
        fs::create_dir_all(dir.join("shell")).unwrap();
        Delegated { dir }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut todo = vec![self.dir.clone()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
            dirs.push(d);
        }
        for d in dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Rootless podman's shape: the runtime runs as root of a user namespace
/// made by the client (here `unshare --user --map-root-user`), and the
/// container shares that namespace (no user namespace in the config).
/// mknod is refused there as in a namespace of the container's own, so
/// the default devices are bound from the host (runc:
/// `userns.RunningInUserNS() || NEWUSER`), the state goes to
/// $XDG_RUNTIME_DIR, the user's, and nothing is said on stderr (the
/// container's own output under conmon) about the missing cgroup.
#[test]
fn rootless_in_the_clients_user_namespace_devices_are_bound() {
    require_root!();
    let Some(u) = User::create("inns") else {
        return;
    };
    if !u
        .run(
            Path::new("/usr/bin/unshare"),
            &["--user", "--map-root-user", "true"],
        )
        .ok()
    {
        return skip::test("unshare --user --map-root-user fails for an ordinary user here");
    }
    let bin = user_runtime(&u, runtime_bin());
    let (bundle, mut config) = u.bundle("bundle", &bin);
    let linux = config["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    linux["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "user");
    config["process"]["args"] = json!(["/probe", "stat", "/dev/null"]);
    save(&bundle, &config);
    let bin_s = bin.to_str().unwrap();
    let id = "rl-inns";
    let out = u.run_in(
        Path::new("/usr/bin/unshare"),
        &["--user", "--map-root-user", bin_s, "run", id],
        &bundle,
    );
    // Each unshare makes a new namespace: what is left is deleted inside one.
    let _ = u.run(
        Path::new("/usr/bin/unshare"),
        &["--user", "--map-root-user", bin_s, "delete", "--force", id],
    );
    assert!(out.ok(), "run in the client's user namespace: {out:?}");
    // The runtime's stderr is the container's here (a client's conmon):
    // no word about the cgroup it could not make, as under runc.
    assert!(out.stderr.is_empty(), "{out:?}");
    let dev_null = parse_json(&out.stdout);
    assert_eq!(
        (&dev_null["kind"], &dev_null["major"], &dev_null["minor"]),
        (&json!("char"), &json!(1), &json!(3)),
        "{out:?}"
    );
    let dir = state_dir(&u, &bin);
    assert!(dir.is_dir(), "no state root {}", dir.display());
    assert_eq!(not_owned_by(&dir, u.uid), Vec::<PathBuf>::new());
}
