//! cgroups end to end on this host (v1 controllers, hybrid): each limit of
//! `linux.resources` is read back from the host's cgroup files of the
//! container, and where runc supports the same setting the same bundle runs
//! under runc and the files are compared. Then update, pause/resume, ps,
//! events, kill --all, delete cleanup, cgroupsPath containment and refusal
//! of a busy cgroup. The pure-v2 view is in `cgroups_v2.rs`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::common::{self, require_root, unique_id, Bundle, Rt, DEADLINE};

const V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// Mountpoint of each cgroup hierarchy, keyed by its controllers as
/// /proc/PID/cgroup names them (`memory`, `name=systemd`, `` for cgroup2).
fn hierarchy_mounts() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let key = match f[sep + 1] {
            "cgroup2" => String::new(),
            "cgroup" => f[sep + 3]
                .split(',')
                .filter(|o| V1.contains(o) || o.starts_with("name="))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        out.entry(key).or_insert_with(|| PathBuf::from(f[4]));
    }
    out
}

/// The host directory of `pid`'s cgroup in each hierarchy: controller
/// (each of a joint mount's controllers, `unified` for cgroup2) -> dir.
pub fn cgroup_dirs(pid: i64) -> BTreeMap<String, PathBuf> {
    let mounts = hierarchy_mounts();
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let Some(mnt) = mounts.get(ctrls) else {
            continue;
        };
        let dir = mnt.join(path.trim_start_matches('/'));
        if ctrls.is_empty() {
            out.insert("unified".to_string(), dir);
        } else {
            for c in ctrls.split(',') {
                out.insert(c.to_string(), dir.clone());
            }
        }
    }
    out
}

/// The raw `/proc/PID/cgroup` paths per hierarchy line (`4:memory` dropped
/// to `memory`).
fn proc_cgroup_paths(pid: i64) -> BTreeMap<String, String> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

pub(crate) fn read(dir: &std::path::Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

pub(crate) fn pid_of(rt: &Rt, id: &str) -> i64 {
    rt.state(id).expect("state")["pid"].as_i64().unwrap()
}

/// A bundle running `args`, with `resources` merged into linux.resources.
pub(crate) fn bundle(rt: &Rt, args: &[&str], resources: Value) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(args);
    b.edit(|c| {
        let r = &mut c["linux"]["resources"];
        for (k, v) in resources.as_object().unwrap() {
            r[k] = v.clone();
        }
    });
    b
}

/// Reads `files` ((controller, file)) of a created container of `bundle`.
fn read_limits(rt: &Rt, b: &Bundle, tag: &str, files: &[(&str, &str)]) -> Vec<String> {
    let id = unique_id(tag);
    rt.create(b, &id, &[]).expect_ok("create");
    let dirs = cgroup_dirs(pid_of(rt, &id));
    let vals = files
        .iter()
        .map(|(c, f)| {
            let d = dirs
                .get(*c)
                .unwrap_or_else(|| panic!("no {c} cgroup: {dirs:?}"));
            read(d, f)
        })
        .collect();
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
    vals
}

/// The same bundle under runc must give the same files.
fn compare_with_runc(b: &Bundle, tag: &str, files: &[(&str, &str)], ours: &[String]) {
    let Some(runc) = Rt::runc_to_compare() else {
        return;
    };
    let theirs = read_limits(&runc, b, tag, files);
    // Kernel lists keep insertion order; compare the sets of lines. runc
    // 1.1 still allows /dev/net/tun by default (dropped in runc 1.2 and
    // never allowed by brig).
    let norm = |v: &[String]| -> Vec<Vec<String>> {
        v.iter()
            .map(|s| {
                let mut l: Vec<String> = s
                    .lines()
                    .filter(|l| *l != "c 10:200 rwm")
                    .map(str::to_string)
                    .collect();
                l.sort();
                l
            })
            .collect()
    };
    assert_eq!(
        norm(ours),
        norm(&theirs),
        "brig and runc wrote different files {files:?}"
    );
}

#[test]
fn v1_limits_are_written_and_match_runc() {
    require_root!();
    let rt = Rt::new();
    let b = bundle(
        &rt,
        &["sleep", "1000"],
        json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 10},
            "pids": {"limit": 42},
            "cpu": {"shares": 512, "quota": 20000, "period": 50000, "cpus": "0", "mems": "0"},
        }),
    );
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("pids", "pids.max"),
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
    ];
    let got = read_limits(&rt, &b, "lim", &files);
    let want = [
        "67108864",
        "33554432",
        "134217728",
        "10",
        "42",
        "512",
        "20000",
        "50000",
        "0",
        "0",
    ];
    assert_eq!(got, want, "{files:?}");
    compare_with_runc(&b, "limrunc", &files, &got);
}

/// A block device of this machine, `major:minor`, for blkio rules.
fn some_block_device() -> Option<String> {
    fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !n.starts_with("loop") && !n.starts_with("ram")
        })
        .find_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|s| s.trim().to_string())
}

#[test]
fn v1_blkio_where_the_kernel_has_it() {
    require_root!();
    let rt = Rt::new();
    let Some(dev) = some_block_device() else {
        return crate::skip::test("no block device in /sys/block");
    };
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| PathBuf::from("/sys/fs/cgroup/blkio").join(f).exists());
    let mut blkio = json!({
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 300}],
    });
    let mut files = vec![
        ("blkio", "blkio.throttle.read_bps_device"),
        ("blkio", "blkio.throttle.write_iops_device"),
    ];
    match weight_file {
        Some(f) => {
            blkio["weight"] = json!(300);
            files.push(("blkio", f));
        }
        None => crate::skip::part(
            "blkio weight: this kernel has neither blkio.weight nor blkio.bfq.weight (no CFQ/BFQ)",
        ),
    }
    let b = bundle(&rt, &["sleep", "1000"], json!({ "blockIO": blkio }));
    let got = read_limits(&rt, &b, "blkio", &files);
    assert_eq!(got[0], format!("{dev} 1048576"));
    assert_eq!(got[1], format!("{dev} 300"));
    if weight_file.is_some() {
        assert!(got[2].contains("300"), "{got:?}");
    }
    compare_with_runc(&b, "blkiorunc", &files, &got);
}

/// Docker sends `"blockIO": {"weight": 0}` for every container run without
/// `--blkio-weight`: a weight of 0 means "not set" (as in runc), not a
/// weight out of the kernel's range, and no blkio file is written for it.
#[test]
fn blkio_weight_zero_is_not_set() {
    require_root!();
    let rt = Rt::new();
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| PathBuf::from("/sys/fs/cgroup/blkio").join(f).exists());
    let b = bundle(
        &rt,
        &["sleep", "1000"],
        json!({"blockIO": {"weight": 0, "leafWeight": 0}}),
    );
    let files: Vec<(&str, &str)> = weight_file.iter().map(|f| ("blkio", *f)).collect();
    let got = read_limits(&rt, &b, "blkio0", &files);
    if let Some(f) = weight_file {
        let parent = read(std::path::Path::new("/sys/fs/cgroup/blkio"), f);
        assert_eq!(got[0], parent, "{f}: the parent's default");
    }
    compare_with_runc(&b, "blkio0runc", &files, &got);
}

/// /dev/fuse: not in the default allow list of brig or runc, and opening
/// it needs no capability.
pub const FUSE: (u64, u64) = (10, 229);

/// Makes the node `rootfs/mnt/fuse` on the host side (the container has
/// no CAP_MKNOD by default).
pub fn mknod_fuse(b: &Bundle) {
    let path = b.rootfs().join("mnt/fuse");
    let _ = fs::remove_file(&path);
    nix::sys::stat::mknod(
        &path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(FUSE.0, FUSE.1),
    )
    .expect("mknod rootfs/mnt/fuse");
}

/// `/probe open PATH MODE` in a fresh container of `b`.
pub fn open_in(rt: &Rt, b: &mut Bundle, path: &str, mode: &str) -> Value {
    b.args(&["/probe", "open", path, mode]);
    let id = unique_id("dev");
    rt.run_bundle(b, &id, &[])
        .expect_ok("run probe open")
        .json()
}

#[test]
fn v1_devices_deny_and_allow() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(&rt, &["true"], json!({}));
    mknod_fuse(&b);
    let j = open_in(&rt, &mut b, "/mnt/fuse", "r");
    assert_eq!(j["errno"], 1, "denied device opened: {j}");

    // An explicit read-only rule: read opens, write does not.
    let allow_r =
        json!({"allow": true, "type": "c", "major": FUSE.0, "minor": FUSE.1, "access": "r"});
    b.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(allow_r.clone())
    });
    let j = open_in(&rt, &mut b, "/mnt/fuse", "r");
    assert_eq!(j["errno"], 0, "allowed device not opened: {j}");
    let j = open_in(&rt, &mut b, "/mnt/fuse", "w");
    assert_eq!(j["errno"], 1, "write opened on an r rule: {j}");

    // A node created by linux.devices gets no rule of its own: the
    // config's rules decide (runc's order; containerd and podman add an
    // allow rule for each device they pass). An explicit deny holds.
    let mut b2 = bundle(&rt, &["true"], json!({}));
    let kmsg = json!({"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"});
    b2.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o620, "uid": 0, "gid": 0}]);
        c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(kmsg);
    });
    let j = open_in(&rt, &mut b2, "/dev/kmsg", "w");
    assert_eq!(j["errno"], 1, "denied linux.devices node opened: {j}");
    // With an allow rule from the caller it opens.
    b2.edit(|c| {
        let rules = c["linux"]["resources"]["devices"].as_array_mut().unwrap();
        rules.pop();
        rules.push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}));
    });
    let j = open_in(&rt, &mut b2, "/dev/kmsg", "w");
    assert_eq!(j["errno"], 0, "allowed linux.devices node: {j}");

    // brig's devices.list equals runc's for the same rules.
    b.args(&["sleep", "1000"]);
    let files = [("devices", "devices.list")];
    let got = read_limits(&rt, &b, "devlist", &files);
    assert!(got[0].lines().any(|l| l == "c 10:229 r"), "{got:?}");
    assert!(!got[0].lines().any(|l| l.starts_with("a ")), "{got:?}");
    compare_with_runc(&b, "devlistrunc", &files, &got);
}

/// A config without `linux.resources` (or without device rules) still gets
/// the device allow-list, as with runc; before, brig left the cgroup's
/// inherited "a *:* rwm" and any node the container could make was open.
#[test]
fn no_resources_still_means_the_device_allow_list() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(&rt, &["true"], json!({}));
    b.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("resources");
    });
    mknod_fuse(&b);
    let j = open_in(&rt, &mut b, "/mnt/fuse", "r");
    assert_eq!(j["errno"], 1, "a device off the allow-list opened: {j}");
    let j = open_in(&rt, &mut b, "/dev/null", "w");
    assert_eq!(j["errno"], 0, "/dev/null: {j}");

    b.args(&["sleep", "1000"]);
    let files = [("devices", "devices.list")];
    let got = read_limits(&rt, &b, "devnores", &files);
    assert!(!got[0].lines().any(|l| l.starts_with("a ")), "{got:?}");
    assert!(got[0].lines().any(|l| l == "c 1:3 rwm"), "{got:?}");
}

/// Runs `update ARGS ID` (stdin from `input` when given).
pub(crate) fn update(rt: &Rt, id: &str, args: &[&str], input: Option<&str>) -> common::Out {
    let mut full = vec!["update"];
    full.extend_from_slice(args);
    full.push(id);
    let mut cmd = rt.command(&full);
    let Some(input) = input else {
        return rt.run_cmd(cmd);
    };
    cmd.stdin(Stdio::piped());
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("o"), dir.path().join("e"));
    cmd.stdout(fs::File::create(&o).unwrap());
    cmd.stderr(fs::File::create(&e).unwrap());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    common::Out {
        status,
        stdout: fs::read_to_string(o).unwrap(),
        stderr: fs::read_to_string(e).unwrap(),
    }
}

fn update_sequence(rt: &Rt, b: &Bundle, tag: &str) -> Vec<String> {
    let id = unique_id(tag);
    rt.create(b, &id, &[]).expect_ok("create");
    let dirs = cgroup_dirs(pid_of(rt, &id));
    let (mem, cpu, pids) = (&dirs["memory"], &dirs["cpu"], &dirs["pids"]);
    let mut seen = Vec::new();
    let snap = |seen: &mut Vec<String>| {
        seen.push(format!(
            "mem={} memsw={} soft={} shares={} quota={} period={} pids={}",
            read(mem, "memory.limit_in_bytes"),
            read(mem, "memory.memsw.limit_in_bytes"),
            read(mem, "memory.soft_limit_in_bytes"),
            read(cpu, "cpu.shares"),
            read(cpu, "cpu.cfs_quota_us"),
            read(cpu, "cpu.cfs_period_us"),
            read(pids, "pids.max"),
        ))
    };
    snap(&mut seen);
    update(
        rt,
        &id,
        &[
            "--memory",
            "100m",
            "--memory-swap",
            "200m",
            "--memory-reservation",
            "50m",
            "--cpu-share",
            "256",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "30000",
            "--pids-limit",
            "50",
        ],
        None,
    )
    .expect_ok("update flags");
    snap(&mut seen);
    // Negative numbers as separate words, as runc takes them.
    update(
        rt,
        &id,
        &[
            "--memory-swap",
            "-1",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "-1",
        ],
        None,
    )
    .expect_ok("update -1");
    snap(&mut seen);
    let file = b.path().join("resources.json");
    fs::write(
        &file,
        r#"{"memory":{"limit":83886080},"cpu":{"shares":300},"pids":{"limit":7}}"#,
    )
    .unwrap();
    update(rt, &id, &["--resources", file.to_str().unwrap()], None).expect_ok("update -r FILE");
    snap(&mut seen);
    update(
        rt,
        &id,
        &["-r", "-"],
        Some(r#"{"pids":{"limit":9},"cpu":{"quota":40000}}"#),
    )
    .expect_ok("update -r -");
    snap(&mut seen);
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
    seen
}

#[test]
fn update_flags_and_resources_file() {
    require_root!();
    let rt = Rt::new();
    let b = bundle(
        &rt,
        &["sleep", "1000"],
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}}),
    );
    let seen = update_sequence(&rt, &b, "upd");
    let max = "9223372036854771712";
    assert_eq!(
        seen[1],
        "mem=104857600 memsw=209715200 soft=52428800 shares=256 quota=30000 period=100000 pids=50"
    );
    assert_eq!(
        seen[2],
        format!(
            "mem=104857600 memsw={max} soft=52428800 shares=256 quota=-1 period=100000 pids=max"
        )
    );
    assert!(seen[3].starts_with("mem=83886080 "), "{seen:?}");
    assert!(
        seen[3].contains("shares=300") && seen[3].ends_with("pids=7"),
        "{seen:?}"
    );
    assert!(
        seen[4].contains("quota=40000") && seen[4].ends_with("pids=9"),
        "{seen:?}"
    );
    if let Some(runc) = Rt::runc_to_compare() {
        assert_eq!(seen, update_sequence(&runc, &b, "updrunc"), "brig vs runc");
    }
}

/// The container's pids as `ps --format json` reports them.
fn ps_json(rt: &Rt, id: &str) -> Vec<i64> {
    let out = rt.run(&["ps", "--format", "json", id]).expect_ok("ps json");
    // runc prints Go's nil slice, `null`, for no processes; brig `[]`.
    let text = match out.stdout.trim() {
        "null" if !common::is_brig() => "[]",
        t => t,
    };
    let mut pids: Vec<i64> = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    pids.sort();
    pids
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process that exists and is not a zombie.
fn alive(pid: i64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn pause_resume_ps_and_events() {
    require_root!();
    let rt = Rt::new();
    // A counter that only moves while the container runs.
    let mut b = bundle(
        &rt,
        &[
            "sh",
            "-c",
            "i=0; sleep 1000 & while :; do i=$((i+1)); echo $i > /tmp/n; done",
        ],
        json!({}),
    );
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique_id("pause");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    let counter = b.rootfs().join("tmp/n");
    let count = || {
        fs::read_to_string(&counter)
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    wait_for("counter", || count() > 0);

    let pid = pid_of(&rt, &id);
    let procs = read(&cgroup_dirs(pid)["pids"], "cgroup.procs");
    wait_for("two processes", || ps_json(&rt, &id).len() >= 2);
    let pids = ps_json(&rt, &id);
    assert!(pids.contains(&pid), "init {pid} not in ps {pids:?}");
    let mut host: Vec<i64> = read(&cgroup_dirs(pid)["pids"], "cgroup.procs")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    host.sort();
    assert_eq!(
        pids, host,
        "ps json is not the cgroup's host pids ({procs})"
    );
    let table = rt.run(&["ps", &id]).expect_ok("ps").stdout;
    let mut lines = table.lines();
    assert!(
        lines.next().unwrap().split_whitespace().any(|h| h == "PID"),
        "{table}"
    );
    let table_pids: Vec<i64> = lines
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(table_pids.contains(&pid), "{table}");
    assert!(table_pids.iter().all(|p| host.contains(p)), "{table}");

    let ev = rt
        .run(&["events", "--stats", &id])
        .expect_ok("events --stats");
    // Clients (and runc's own tests) match the line's prefix: runc's key
    // order, type then id then data.
    assert!(
        ev.stdout
            .starts_with(&format!(r#"{{"type":"stats","id":"{id}","data":{{"#)),
        "{ev:?}"
    );
    let ev = ev.json();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], id.as_str(), "{ev}");
    let d = &ev["data"];
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{ev}");
    assert_eq!(
        d["pids"]["current"].as_u64().unwrap(),
        pids.len() as u64,
        "{ev}"
    );

    rt.run(&["pause", &id]).expect_ok("pause");
    assert_eq!(rt.state(&id).unwrap()["status"], "paused");
    assert_eq!(
        read(&cgroup_dirs(pid)["freezer"], "freezer.state"),
        "FROZEN"
    );
    let frozen_at = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), frozen_at, "the counter moved while paused");
    rt.run(&["resume", &id]).expect_ok("resume");
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
    wait_for("counter to move after resume", || count() > frozen_at);
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
}

/// `events` (streaming) prints stats lines and `{"type":"oom","id":ID}`,
/// exactly, when the OOM killer hits a process of
/// the container; it ends when the container is gone.
#[test]
fn events_stream_stats_then_oom() {
    require_root!();
    let rt = Rt::new();
    let b = bundle(
        &rt,
        &[
            "sh",
            "-c",
            "sleep 1; sh -c 'x=$(dd if=/dev/urandom bs=1M count=100)'; sleep 1000",
        ],
        json!({"memory": {"limit": 33554432, "swap": 33554432}}),
    );
    let id = unique_id("oom");
    rt.create(&b, &id, &[]).expect_ok("create");
    let events = rt.spawn(rt.command(&["events", &id]));
    rt.run(&["start", &id]).expect_ok("start");
    let want = format!(r#"{{"type":"oom","id":"{id}"}}"#);
    let log = || fs::read_to_string(&events.out).unwrap_or_default();
    wait_for("an oom event", || log().lines().any(|l| l == want));
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
    let out = events.wait();
    assert!(out.ok(), "{out:?}");
    // runc prints its first stats line only after an interval; brig at
    // once. Either way every line is one of the two shapes.
    let stats = format!(r#"{{"type":"stats","id":"{id}","data":{{"#);
    for line in out.stdout.lines() {
        assert!(line == want || line.starts_with(&stats), "{line}");
    }
}

/// With the host's pid namespace the container outlives its init: `exec`
/// still enters the container (its /proc then shows the path of the
/// container's mount namespace, which must not be taken for the host's),
/// and `delete` of the container whose init is gone kills what is left and
/// removes it.
#[test]
fn exec_and_delete_with_host_pid_namespace_after_init_is_gone() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = unique_id("hostpid");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    let init = pid_of(&rt, &id);
    let out = rt.run(&["exec", &id, "test", "-x", "/probe"]);
    assert!(out.ok(), "exec does not see the container's root: {out:?}");
    for _ in 0..3 {
        rt.run(&["exec", "-d", &id, "sleep", "1001"])
            .expect_ok("exec -d");
    }
    wait_for("four processes", || ps_json(&rt, &id).len() >= 4);
    let pids = ps_json(&rt, &id);
    kill(Pid::from_raw(init as i32), Signal::SIGKILL).unwrap();
    wait_for("init to die", || !alive(init));
    assert!(pids.iter().any(|p| *p != init && alive(*p)), "{pids:?}");
    rt.run(&["delete", &id]).expect_ok("delete");
    assert!(rt.state(&id).is_none(), "state left after delete");
    wait_for("every process to die", || pids.iter().all(|p| !alive(*p)));
}

/// Without its own pid namespace, killing init leaves its children:
/// `kill --all` must reach them through the cgroup.
#[test]
fn kill_all_reaches_every_process() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(
        &rt,
        &["sh", "-c", "sleep 1000 & sleep 1001 & wait"],
        json!({}),
    );
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = unique_id("killall");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    wait_for("three processes", || ps_json(&rt, &id).len() >= 3);
    let pids = ps_json(&rt, &id);
    rt.run(&["kill", "--all", &id, "KILL"])
        .expect_ok("kill --all");
    wait_for("every process to die", || pids.iter().all(|p| !alive(*p)));
    wait_for("an empty cgroup", || ps_json(&rt, &id).is_empty());
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).expect_ok("delete");
}

/// Delete removes the cgroup in every hierarchy, also when init died and
/// left a child behind.
#[test]
fn delete_removes_cgroups_after_init_left_children() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(
        &rt,
        &["sh", "-c", "sleep 1000 & exit 0"],
        json!({"pids": {"limit": 30}}),
    );
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = unique_id("orphan");
    rt.create(&b, &id, &[]).expect_ok("create");
    let dirs = cgroup_dirs(pid_of(&rt, &id));
    let ours: Vec<&PathBuf> = dirs
        .values()
        .filter(|d| d.to_string_lossy().contains(&id))
        .collect();
    assert!(ours.len() >= 5, "container cgroups: {dirs:?}");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "stopped");
    let left = ps_json(&rt, &id);
    assert_eq!(left.len(), 1, "the orphaned sleep: {left:?}");
    rt.run(&["delete", &id]).expect_ok("delete");
    wait_for("the orphan to die", || !alive(left[0]));
    for d in ours {
        assert!(!d.exists(), "{} left after delete", d.display());
    }
    assert!(common::cgroup_leftovers(&id).is_empty());
}

/// `..` in cgroupsPath never climbs: relative paths stay under the
/// runtime's own cgroup, absolute ones under each hierarchy's root.
#[test]
fn cgroups_path_traversal_stays_contained() {
    require_root!();
    let rt = Rt::new();
    let own = proc_cgroup_paths(std::process::id() as i64);
    for (i, raw) in ["../../{}", "/../../{}", "a/../../../{}", "/x/../../../{}"]
        .iter()
        .enumerate()
    {
        let name = unique_id(&format!("trav{i}"));
        let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
        let path = raw.replace("{}", &name);
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
        let id = unique_id("trav");
        rt.create(&b, &id, &[])
            .expect_ok(&format!("create with {path}"));
        let got = proc_cgroup_paths(pid_of(&rt, &id));
        for (ctrls, p) in &got {
            // runc 1.1 does not move the process in the unified hierarchy
            // of a hybrid host; brig does.
            if ctrls == "name=systemd" || (ctrls.is_empty() && !common::is_brig()) {
                continue;
            }
            let want = if path.starts_with('/') {
                format!("/{name}")
            } else {
                let base = own[ctrls].trim_end_matches('/');
                format!("{base}/{name}")
            };
            assert_eq!(p, &want, "{path} in {ctrls}: {got:?}");
        }
        rt.run(&["delete", "--force", &id]).expect_ok("delete");
        assert!(common::cgroup_leftovers(&name).is_empty(), "{path}");
    }
}

/// A cgroup that already holds another container's processes is refused
/// (runc 1.1 only warns), and the refusal leaves the other one alone.
#[test]
fn busy_cgroup_is_refused() {
    require_root!();
    if !common::is_brig() {
        return crate::skip::test(
            "busy cgroup refusal: runc 1.1 only warns about a non-empty cgroup",
        );
    }
    let rt = Rt::new();
    let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
    let path = format!("/{}", unique_id("busy"));
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    let first = unique_id("busy1");
    rt.create(&b, &first, &[]).expect_ok("create first");
    let second = unique_id("busy2");
    let out = rt.create(&b, &second, &[]);
    assert!(!out.ok(), "second container in a busy cgroup: {out:?}");
    assert!(out.stderr.contains("cgroup is not empty"), "{out:?}");
    let pid = pid_of(&rt, &first);
    assert!(alive(pid), "the first container was harmed");
    assert!(cgroup_dirs(pid)["memory"].exists());
    rt.run(&["delete", "--force", &first]).expect_ok("delete");
}

/// A pre-existing frozen cgroup is refused with runc's words, never waited
/// on (a child cloned into it would never run), and is left as it was.
#[test]
fn frozen_cgroup_is_refused() {
    require_root!();
    let Some(freezer) = hierarchy_mounts().get("freezer").cloned() else {
        return crate::skip::test("no v1 freezer hierarchy on this host");
    };
    let rt = Rt::new();
    let mut b = bundle(&rt, &["true"], json!({}));
    let name = unique_id("frozen");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{name}")));
    let dir = freezer.join(&name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
    for verb in ["create", "run"] {
        let id = unique_id("frz");
        rt.track(&id);
        let mut cmd = rt.command(&[verb, "--bundle", b.path().to_str().unwrap(), &id]);
        cmd.stdin(std::process::Stdio::null());
        let child = rt.spawn(cmd);
        let out = child.wait();
        assert!(!out.ok(), "{verb} into a frozen cgroup: {out:?}");
        if common::is_brig() {
            assert!(out.stderr.contains("cgroup unexpectedly frozen"), "{out:?}");
        }
        assert!(rt.state(&id).is_none(), "{verb} left a container");
    }
    assert_eq!(read(&dir, "freezer.state").trim(), "FROZEN");
    std::fs::write(dir.join("freezer.state"), "THAWED").unwrap();
    for (_, mount) in hierarchy_mounts() {
        let _ = std::fs::remove_dir(mount.join(&name));
    }
}

/// A limit for a controller the host does not have (net_cls is mounted
/// nowhere here) fails create with one line and leaves nothing, as runc;
/// `unified` keys on a host with v1 hierarchies are refused the same way.
#[test]
fn limits_the_host_cannot_apply_are_errors() {
    require_root!();
    let rt = Rt::new();
    let mut b = bundle(&rt, &["true"], json!({}));
    let net_cls_mounted = hierarchy_mounts()
        .keys()
        .any(|k| k.split(',').any(|c| c == "net_cls"));
    if net_cls_mounted {
        crate::skip::part("net_cls classID refused: this host mounts net_cls");
    } else {
        b.edit(|c| c["linux"]["resources"]["network"] = json!({"classID": 1048577}));
        let id = unique_id("netcls");
        let out = rt.create(&b, &id, &[]);
        common::assert_clean_failure(&rt, &out, &id, "net_cls classID");
    }
    let v1 = hierarchy_mounts().keys().any(|k| !k.is_empty());
    if !v1 {
        crate::skip::part("unified keys refused: this host has no v1 hierarchies");
        return;
    }
    let mut b = bundle(&rt, &["true"], json!({"unified": {"pids.max": "10"}}));
    b.edit(|c| {
        c["linux"]["resources"]
            .as_object_mut()
            .unwrap()
            .remove("network");
    });
    let id = unique_id("unifv1");
    let out = rt.create(&b, &id, &[]);
    common::assert_clean_failure(&rt, &out, &id, "unified on v1");
    assert!(out.stderr.contains("invalid configuration"), "{out:?}");
}

/// A v1 cgroup mount without "ro" is writable: the container can make a
/// sub-cgroup and move a process there, and `delete --force` still
/// removes everything (runc's "delete --force in cgroupv1 with
/// subcgroups").
#[test]
fn writable_v1_cgroup_mount_and_sub_cgroups() {
    require_root!();
    if !hierarchy_mounts().contains_key("memory") {
        return crate::skip::test("no v1 memory hierarchy");
    }
    let rt = Rt::new();
    let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
    writable_cgroup_mount(&mut b);
    let id = unique_id("subcg");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    let out = rt.run(&[
        "exec", &id, "sh", "-c",
        "mkdir /sys/fs/cgroup/memory/foo && (sleep 1000 >/dev/null 2>&1 &) && echo $$ > /sys/fs/cgroup/memory/foo/tasks && cat /sys/fs/cgroup/memory/foo/tasks",
    ]);
    assert!(out.ok(), "{out:?}");
    assert!(cgroup_dirs(pid_of(&rt, &id))["memory"].join("foo").is_dir());
    rt.run(&["delete", "--force", &id])
        .expect_ok("delete --force");
    assert!(
        common::cgroup_leftovers(&id).is_empty(),
        "{:?}",
        common::cgroup_leftovers(&id)
    );
}

/// `exec --cgroup` on v1: a process joins sub-cgroups the container made,
/// per controller; `..` and a missing sub-cgroup or controller are refused
/// in runc's words.
#[test]
fn exec_into_v1_sub_cgroups() {
    require_root!();
    let h = hierarchy_mounts();
    if !h.contains_key("memory") || !h.contains_key("pids") {
        return crate::skip::test("no v1 memory and pids hierarchies");
    }
    let rt = Rt::new();
    let mut b = bundle(&rt, &["sleep", "1000"], json!({}));
    writable_cgroup_mount(&mut b);
    let id = unique_id("execcg");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    rt.run(&[
        "exec",
        &id,
        "mkdir",
        "/sys/fs/cgroup/memory/submem",
        "/sys/fs/cgroup/pids/subpids",
    ])
    .expect_ok("mkdir sub-cgroups");
    let out = rt
        .run(&[
            "exec",
            "--cgroup",
            "memory:submem",
            "--cgroup",
            "pids:subpids",
            &id,
            "cat",
            "/proc/self/cgroup",
        ])
        .expect_ok("exec --cgroup");
    let line = |ctl: &str| {
        out.stdout
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == ctl))
            })
            .map(|l| l.rsplit(':').next().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(line("memory").ends_with("/submem"), "{out:?}");
    assert!(line("pids").ends_with("/subpids"), "{out:?}");
    for (args, want) in [
        (vec!["--cgroup", ".."], "bad sub cgroup path"),
        (vec!["--cgroup", "nonexistent"], " adding pid "),
        (vec!["--cgroup", "whaaat:/"], "unknown controller "),
    ] {
        let mut full = vec!["exec"];
        full.extend(args.iter().copied());
        full.extend([id.as_str(), "true"]);
        let out = rt.run(&full);
        assert!(!out.ok(), "{args:?}: {out:?}");
        if common::is_brig() {
            assert!(out.stderr.contains(want), "{args:?}: {out:?}");
        }
    }
    rt.run(&["delete", "--force", &id])
        .expect_ok("delete --force");
}

/// The bundle's cgroup mount without "ro": the container may make
/// sub-cgroups.
fn writable_cgroup_mount(b: &mut Bundle) {
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"].as_array_mut().unwrap().retain(|o| o != "ro");
            }
        }
    });
}
