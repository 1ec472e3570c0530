//! Manager tests: a fake tree in a temp dir (pure), then the real hybrid
//! host (root only), then a pure-v2 view in a private mount namespace.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::*;

fn fake_mountinfo(root: &Path) -> String {
    let r = root.display();
    format!(
        "32 31 0:29 / {r}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
         35 31 0:32 / {r}/memory rw - cgroup cgroup rw,memory\n\
         39 31 0:36 / {r}/pids rw - cgroup cgroup rw,pids\n\
         41 31 0:38 / {r}/unified rw - cgroup2 cgroup2 rw\n"
    )
}

fn fake_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for d in ["cpu,cpuacct", "memory", "pids", "unified"] {
        fs::create_dir(t.path().join(d)).unwrap();
    }
    fs::write(t.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
    t
}

#[test]
fn resolves_absolute_relative_and_default_paths() {
    let t = fake_tree();
    let mi = fake_mountinfo(t.path());
    let own = "3:pids:/\n2:memory:/own/x\n1:cpu,cpuacct:/\n0::/\n";

    let m = Manager::new_with(&mi, own, Some("/a/../../../b"), "c1", Driver::Fs).unwrap();
    assert_eq!(m.path(), "/b");
    assert_eq!(m.layout(), Layout::Hybrid);
    assert_eq!(
        m.dir_for("memory").unwrap(),
        (t.path().join("memory/b").as_path(), false)
    );
    assert_eq!(
        m.dir_for("hugetlb").unwrap(),
        (t.path().join("unified/b").as_path(), true)
    );
    assert!(m.dir_for("devices").is_none());

    // Relative (and the default, the id): under the caller's own cgroup of
    // each hierarchy, never above it.
    let m = Manager::new_with(&mi, own, Some("../../../../etc"), "c1", Driver::Fs).unwrap();
    assert_eq!(
        m.dir_for("memory").unwrap().0,
        t.path().join("memory/own/x/etc")
    );
    assert_eq!(m.dir_for("pids").unwrap().0, t.path().join("pids/etc"));
    let encoded = m.path().to_string();
    assert_eq!(
        encoded,
        "cpu,cpuacct=/etc;memory=/own/x/etc;pids=/etc;=/etc"
    );
    let again = Manager::open_with(&mi, &encoded, Driver::Fs).unwrap();
    assert_eq!(
        again.dir_for("memory").unwrap().0,
        t.path().join("memory/own/x/etc")
    );
    assert_eq!(
        again.dir_for("cpu").unwrap().0,
        t.path().join("cpu,cpuacct/etc")
    );

    let m = Manager::new_with(&mi, own, None, "c1", Driver::Fs).unwrap();
    assert_eq!(m.dir_for("pids").unwrap().0, t.path().join("pids/c1"));

    for bad in ["/", "..", "/../..", "."] {
        assert!(
            Manager::new_with(&mi, own, Some(bad), "c1", Driver::Fs).is_err(),
            "{bad}"
        );
    }

    // Pure v2: relative paths go under the parent of the caller's cgroup.
    let v2 = format!(
        "41 31 0:38 / {}/unified rw - cgroup2 cgroup2 rw\n",
        t.path().display()
    );
    let m = Manager::new_with(&v2, "0::/user/session\n", Some("c1"), "c1", Driver::Fs).unwrap();
    assert_eq!(m.path(), "/user/c1");
    assert_eq!(m.layout(), Layout::V2);
}

#[test]
fn systemd_driver_makes_nothing_before_systemd_does() {
    let t = fake_tree();
    let mi = fake_mountinfo(t.path());
    let m = Manager::new_with(
        &mi,
        "0::/\n",
        Some("machine.slice:brig:c1"),
        "c1",
        Driver::Systemd,
    )
    .unwrap();
    assert_eq!(m.path(), "/machine.slice/brig-c1.scope");
    assert_eq!(m.systemd_unit(), Some("brig-c1.scope"));
    m.create().unwrap();
    assert!(
        !t.path().join("memory/machine.slice").exists(),
        "nothing is created behind systemd's back"
    );
    assert!(m.clone_into_fd().is_none());
    let e = Manager::new_with(
        &mi,
        "0::/\n",
        Some("a.slice:p:a-b.slice"),
        "c1",
        Driver::Systemd,
    )
    .err()
    .unwrap()
    .chain();
    assert!(e.contains("must be a scope"), "{e}");
    // Read back from state.json: the unit is the path's last component.
    let m = Manager::open_with(&mi, "/machine.slice/brig-c1.scope", Driver::Systemd).unwrap();
    assert_eq!(m.systemd_unit(), Some("brig-c1.scope"));
    assert_eq!(m.driver(), Driver::Systemd);
}

#[test]
fn user_systemd_refused_on_v1_before_any_bus() {
    // The fake tree is a hybrid host: a user's systemd delegates cgroup2
    // only, so the driver says so in one line, without a bus to ask.
    let t = fake_tree();
    let mi = fake_mountinfo(t.path());
    let e = Manager::new_with(&mi, "0::/\n", None, "c1", Driver::SystemdUser)
        .err()
        .unwrap()
        .chain();
    assert!(e.contains("needs a pure cgroup v2 host"), "{e}");
}

#[test]
fn create_set_and_destroy_on_a_fake_tree() {
    let t = fake_tree();
    let mi = fake_mountinfo(t.path());
    let m = Manager::new_with(&mi, "0::/\n", Some("/x/c1"), "c1", Driver::Fs).unwrap();
    m.create().unwrap();
    let mem = t.path().join("memory/x/c1");
    for f in [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.swappiness",
        "cgroup.procs",
    ] {
        fs::write(mem.join(f), "").unwrap();
    }
    fs::write(t.path().join("pids/x/c1/pids.max"), "").unwrap();
    fs::write(t.path().join("unified/x/c1/hugetlb.2MB.max"), "").unwrap();
    let r: LinuxResources = serde_json::from_str(
        r#"{"memory":{"limit":1048576,"swap":2097152,"swappiness":10},"pids":{"limit":-1},
            "hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    )
    .unwrap();
    m.set(&r).unwrap();
    assert_eq!(
        fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
        "1048576"
    );
    assert_eq!(
        fs::read_to_string(mem.join("memory.memsw.limit_in_bytes")).unwrap(),
        "2097152"
    );
    assert_eq!(
        fs::read_to_string(mem.join("memory.swappiness")).unwrap(),
        "10"
    );
    assert_eq!(
        fs::read_to_string(t.path().join("pids/x/c1/pids.max")).unwrap(),
        "max"
    );
    assert_eq!(
        fs::read_to_string(t.path().join("unified/x/c1/hugetlb.2MB.max")).unwrap(),
        "4194304"
    );

    // runc 1.2+: a pids limit of 0 is 1 (systemd cannot take 0).
    // (cgroup files are written without O_TRUNC: empty the fake first.)
    fs::write(t.path().join("pids/x/c1/pids.max"), "").unwrap();
    let r: LinuxResources = serde_json::from_str(r#"{"pids":{"limit":0}}"#).unwrap();
    m.set(&r).unwrap();
    assert_eq!(
        fs::read_to_string(t.path().join("pids/x/c1/pids.max")).unwrap(),
        "1"
    );

    // A limit the host cannot take is an error naming the file.
    let r: LinuxResources = serde_json::from_str(r#"{"cpu":{"shares":512}}"#).unwrap();
    let e = m.set(&r).unwrap_err().chain();
    assert!(e.contains("cpu,cpuacct/x/c1/cpu.shares"), "{e}");

    // An existing cgroup that holds processes is refused.
    fs::write(mem.join("cgroup.procs"), "1\n").unwrap();
    let e = m.create().unwrap_err().chain();
    assert!(e.contains("already holds processes"), "{e}");
    fs::write(mem.join("cgroup.procs"), "").unwrap();

    m.destroy().unwrap();
    for d in [
        "memory/x/c1",
        "pids/x/c1",
        "unified/x/c1",
        "cpu,cpuacct/x/c1",
    ] {
        assert!(!t.path().join(d).exists(), "{d}");
    }
    assert!(
        t.path().join("memory/x").exists(),
        "parents are not brig's to remove"
    );
    m.destroy().unwrap();
}

// ---- the real host -------------------------------------------------------

fn privileged(what: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping {what}: needs root");
        crate::skip::test(crate::skip::NEEDS_ROOT);
        return false;
    }
    true
}

fn sleeper() -> Child {
    Command::new("sleep").arg("600").spawn().unwrap()
}

fn unique(tag: &str) -> String {
    format!("/brig-test-{tag}-{}", std::process::id())
}

fn read(dir: &Path, f: &str) -> String {
    fs::read_to_string(dir.join(f))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
        .trim()
        .to_string()
}

#[test]
fn v1_hybrid_host_end_to_end() {
    if !privileged("v1_hybrid_host_end_to_end") {
        return;
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    if paths::parse_mountinfo(&mounts).unwrap().layout == Layout::V2 {
        eprintln!("skipping v1_hybrid_host_end_to_end: host is pure cgroup v2");
        crate::skip::test("the host is pure cgroup v2 (no v1 hierarchy to test)");
        return;
    }
    let path = unique("v1");
    let m = Manager::new(Some(&path), "c1", Driver::Fs).unwrap();
    m.create().unwrap();
    let guard = scopeguard(&m);
    let r: LinuxResources = serde_json::from_str(
        r#"{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728,"swappiness":20,"disableOOMKiller":false},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
            "pids":{"limit":20},
            "blockIO":{"throttleReadBpsDevice":[{"major":254,"minor":0,"rate":1048576}]},
            "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
    )
    .unwrap();
    m.set(&r).unwrap();
    let d = |c: &str| m.dir_for(c).unwrap().0.to_path_buf();
    assert_eq!(read(&d("memory"), "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&d("memory"), "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(
        read(&d("memory"), "memory.memsw.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(read(&d("memory"), "memory.swappiness"), "20");
    assert_eq!(read(&d("cpu"), "cpu.shares"), "512");
    assert_eq!(read(&d("cpu"), "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&d("cpuset"), "cpuset.cpus"), "0");
    assert_eq!(read(&d("pids"), "pids.max"), "20");
    assert_eq!(
        read(&d("blkio"), "blkio.throttle.read_bps_device"),
        "254:0 1048576"
    );
    assert_eq!(read(&d("devices"), "devices.list"), "c 1:3 rwm");
    if let Some((h, true)) = m.dir_for("hugetlb") {
        assert_eq!(read(h, "hugetlb.2MB.max"), "4194304");
    }

    // A value the kernel rejects names the file and the value.
    let bad: LinuxResources = serde_json::from_str(r#"{"cpu":{"cpus":"4096"}}"#).unwrap();
    let e = m.set(&bad).unwrap_err().chain();
    assert!(
        e.contains("write \"4096\" to") && e.contains("cpuset.cpus"),
        "{e}"
    );

    // Update order: raising memory above the current memsw must work.
    let up: LinuxResources =
        serde_json::from_str(r#"{"memory":{"limit":268435456,"swap":536870912}}"#).unwrap();
    m.set(&up).unwrap();
    assert_eq!(read(&d("memory"), "memory.limit_in_bytes"), "268435456");

    let mut child = sleeper();
    let pid = child.id() as i32;
    m.add(Pid::from_raw(pid), false, false).unwrap();
    assert_eq!(m.pids().unwrap(), vec![pid]);
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("pids:{path}")), "{cg}");
    assert_eq!(
        m.clone_into_fd().is_some(),
        m.hierarchies.iter().any(|h| h.unified),
        "a hybrid host clones into its cgroup2 hierarchy"
    );

    // A second container cannot adopt a cgroup that holds processes.
    assert!(Manager::new(Some(&path), "c2", Driver::Fs)
        .unwrap()
        .create()
        .is_err());

    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    let state = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        state
            .lines()
            .any(|l| l.starts_with("State:") && (l.contains("D") || l.contains("S"))),
        "{state}"
    );
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());

    let stats = m.stats().unwrap();
    assert_eq!(stats["pids"]["current"], 1, "{stats}");
    assert_eq!(stats["pids"]["limit"], 20, "{stats}");
    assert_eq!(stats["memory"]["usage"]["limit"], 268435456u64, "{stats}");
    assert!(stats["cpu"]["usage"].get("kernel").is_some(), "{stats}");
    assert_eq!(m.oom_count().unwrap(), 0);

    m.kill_all(Signal::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());

    // destroy also reaps children left behind by a dead init.
    let mut child2 = sleeper();
    m.add(Pid::from_raw(child2.id() as i32), false, false)
        .unwrap();
    // A new process joins the v1 hierarchies itself (no pid write, no RCU
    // grace period): through the tasks files we opened.
    let tasks = m.v1_tasks().unwrap();
    assert_eq!(
        tasks.len(),
        m.hierarchies.iter().filter(|h| !h.unified).count()
    );
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    // SAFETY: join_self only writes to descriptors; the forked child is
    // single-threaded, which is what it needs.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            super::join_self(&tasks).map_err(|e| std::io::Error::other(e.chain()))
        });
    }
    let mut child3 = cmd.spawn().unwrap();
    // As spawn does: the unified hierarchy is the clone's (here: ours).
    m.add(Pid::from_raw(child3.id() as i32), false, true)
        .unwrap();
    let cg = fs::read_to_string(format!("/proc/{}/cgroup", child3.id())).unwrap();
    for h in m.hierarchies.iter().filter(|h| !h.unified) {
        let line = cg
            .lines()
            .find(|l| l.split(':').nth(1) == Some(h.controllers.join(",").as_str()))
            .unwrap_or_else(|| panic!("no line for {:?} in {cg}", h.controllers));
        assert!(line.ends_with(&format!(":{}", h.cgroup)), "{line} in {cg}");
    }
    drop(guard);
    assert!(!child2.wait().unwrap().success(), "destroy killed it");
    assert!(!child3.wait().unwrap().success(), "destroy killed it too");
    for h in &m.hierarchies {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
}

/// Destroys the cgroup when a test panics half-way.
struct Guard<'a>(&'a Manager);
fn scopeguard(m: &Manager) -> Guard<'_> {
    Guard(m)
}
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.destroy() {
            eprintln!("cleanup: {}", e.chain());
        }
    }
}

/// Runs `v2_view_inner` in a private mount namespace where /sys/fs/cgroup
/// is a cgroup2 mount, as on a pure-v2 host.
#[test]
fn v2_view_in_private_mount_namespace() {
    if !privileged("v2_view_in_private_mount_namespace") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "--"])
        .arg(exe)
        .args([
            "--exact",
            "cgroups::tests::v2_view_inner",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BRIG_V2_VIEW", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by v2_view_in_private_mount_namespace inside unshare -m"]
fn v2_view_inner() {
    assert_eq!(
        std::env::var("BRIG_V2_VIEW").as_deref(),
        Ok("1"),
        "only inside the private mount namespace"
    );
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    umount2("/sys/fs/cgroup", MntFlags::MNT_DETACH).unwrap();
    mount(
        Some("none"),
        "/sys/fs/cgroup",
        Some("cgroup2"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();

    let path = unique("v2");
    let m = Manager::new(Some(&path), "c1", Driver::Fs).unwrap();
    assert_eq!(m.layout(), Layout::V2);
    m.create().unwrap();
    let guard = scopeguard(&m);
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    assert!(dir.is_dir());
    assert!(m.clone_into_fd().is_some());

    let r: LinuxResources = serde_json::from_str(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152},{"pageSize":"1GB","limit":0}]}"#,
    )
    .unwrap();
    m.set(&r).unwrap();
    assert_eq!(read(&dir, "hugetlb.2MB.max"), "2097152");
    assert_eq!(read(&dir, "hugetlb.1GB.max"), "0");
    let u: LinuxResources =
        serde_json::from_str(r#"{"unified":{"hugetlb.2MB.max":"4194304"}}"#).unwrap();
    m.set(&u).unwrap();
    assert_eq!(read(&dir, "hugetlb.2MB.max"), "4194304");
    let u: LinuxResources = serde_json::from_str(r#"{"unified":{"memory.max":"1"}}"#).unwrap();
    assert!(m.set(&u).is_err(), "memory is bound to v1 on this host");
    let dev: LinuxResources =
        serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
    // v2 has no devices files: the rules become an attached eBPF program.
    m.set(&dev).unwrap();
    let cg = std::fs::File::open(&dir).unwrap();
    assert_eq!(crate::linux::bpf::query_device_progs(&cg).unwrap().len(), 1);

    let mut child = sleeper();
    let pid = child.id() as i32;
    m.add(Pid::from_raw(pid), false, false).unwrap();
    assert_eq!(m.pids().unwrap(), vec![pid]);
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    let stats = m.stats().unwrap();
    assert!(stats["hugetlb"].get("2MB").is_some(), "{stats}");

    m.kill_all(Signal::SIGKILL).unwrap();
    assert!(!child.wait().unwrap().success());
    drop(guard);
    assert!(!dir.exists());
}
