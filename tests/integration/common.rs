//! The harness: which runtime to drive, busybox bundles with the probe in
//! them, running runtime commands with a private `--root`, polling `state`
//! with a deadline, and `delete --force` of every container on drop.
//!
//! Environment:
//! - `BRIG_RUNTIME`: the runtime under test (default: the `brig` built by
//!   cargo for this test run). `BRIG_RUNTIME=/usr/sbin/runc` checks the tests
//!   themselves against the reference.
//! - `BRIG_PROBE`: a static probe binary (default: tests/probe's release
//!   build, built here on first use when missing).
//! - `RUNC`: the reference runtime for comparison tests (default /usr/sbin/runc).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

/// How long any wait for a container may take before the test fails.
/// A hang guard only, never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Busybox applets linked into every test rootfs.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "true", "false", "sleep", "echo", "id", "hostname", "mount", "env", "ps",
    "stat", "test", "grep", "touch", "mkdir", "rm", "readlink", "umask", "head", "wc", "unshare",
];

/// Skips the calling test when not root, recorded with its reason (see
/// tests/support/skip.rs: the run ends with the count).
pub(crate) use crate::skip::require_root;

/// The runtime under test.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("BRIG_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_brig")),
    }
}

/// True when the runtime under test is brig (not runc): brig-only
/// assertions (error wording, `features` values) run only then.
pub fn is_brig() -> bool {
    static IS: OnceLock<bool> = OnceLock::new();
    *IS.get_or_init(|| {
        let out = Command::new(runtime_bin()).arg("--version").output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .to_lowercase()
                .starts_with("brig"),
            Err(_) => runtime_bin().ends_with("brig"),
        }
    })
}

/// Why a comparison with runc did not run.
pub const NO_RUNC: &str = "runc is not installed (apt-get install runc)";

/// The reference runtime, when installed.
pub fn runc_bin() -> Option<PathBuf> {
    let p = std::env::var_os("RUNC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
    p.exists().then_some(p)
}

/// The static probe, built once per test process if it is not there yet.
pub fn probe_bin() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BRIG_PROBE") {
                return PathBuf::from(p);
            }
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe");
            let bin = dir.join("target/x86_64-unknown-linux-gnu/release/probe");
            if !bin.exists() {
                let st = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
                    .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu"])
                    .current_dir(&dir)
                    .env("RUSTFLAGS", "-C target-feature=+crt-static")
                    .env_remove("CARGO_TARGET_DIR")
                    .status()
                    .expect("run cargo to build tests/probe");
                assert!(st.success(), "building tests/probe failed");
            }
            bin
        })
        .clone()
}

/// A container id unique across this test run (cgroups are host-wide).
pub fn unique_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "bt-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What one runtime command did. stdout/stderr go through files, never
/// pipes: `create` and `run -d` hand their stdio to the container, and a
/// pipe would stay open until the container exits.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// Panics with the whole output unless the command succeeded.
    pub fn expect_ok(self, what: &str) -> Out {
        assert!(self.ok(), "{what} failed: {self:?}");
        self
    }
    /// The stdout as JSON (the first line that parses, for probe output
    /// mixed with other lines).
    pub fn json(&self) -> Value {
        parse_json(&self.stdout)
    }
}

pub fn parse_json(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    text.lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .next()
        .unwrap_or_else(|| panic!("no JSON in output: {text:?}"))
}

/// All JSON lines of a text, in order.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

/// One runtime binary with a private `--root`; deletes (with `--force`)
/// every container it created when dropped.
pub struct Rt {
    pub bin: PathBuf,
    pub root: TempDir,
    io: TempDir,
    calls: AtomicUsize,
    ids: Mutex<Vec<String>>,
}

impl Rt {
    /// The runtime under test.
    pub fn new() -> Rt {
        Rt::with_bin(runtime_bin())
    }

    /// The reference runtime, or None when it is not installed: the caller
    /// records the skip (`skip::test(NO_RUNC)` or `skip::part`).
    pub fn runc() -> Option<Rt> {
        runc_bin().map(Rt::with_bin)
    }

    /// The reference runtime to compare the runtime under test with, for
    /// the comparison at the end of a test; None, recorded as a skipped
    /// part, when runc is not installed or is itself under test.
    #[track_caller]
    pub fn runc_to_compare() -> Option<Rt> {
        if !is_brig() {
            crate::skip::part("the runtime under test is runc: no comparison with itself");
            return None;
        }
        let runc = Rt::runc();
        if runc.is_none() {
            crate::skip::part(format!("{NO_RUNC}: comparison with runc"));
        }
        runc
    }

    pub fn with_bin(bin: PathBuf) -> Rt {
        Rt {
            bin,
            root: tempfile::Builder::new()
                .prefix("brig-root-")
                .tempdir()
                .unwrap(),
            io: tempfile::Builder::new()
                .prefix("brig-io-")
                .tempdir()
                .unwrap(),
            calls: AtomicUsize::new(0),
            ids: Mutex::new(Vec::new()),
        }
    }

    /// A command with `--root` set; the caller adds the rest.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Remember an id for `delete --force` on drop.
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    fn io_files(&self) -> (PathBuf, PathBuf) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        (
            self.io.path().join(format!("{n}.out")),
            self.io.path().join(format!("{n}.err")),
        )
    }

    /// Runs `runtime --root R ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_cmd(self.command(args))
    }

    /// Runs a prepared command to completion, its stdio through files.
    pub fn run_cmd(&self, mut cmd: Command) -> Out {
        let (o, e) = self.io_files();
        cmd.stdout(fs::File::create(&o).unwrap());
        cmd.stderr(fs::File::create(&e).unwrap());
        let status = cmd.status().expect("spawn runtime");
        Out {
            status,
            stdout: fs::read_to_string(&o).unwrap_or_default(),
            stderr: fs::read_to_string(&e).unwrap_or_default(),
        }
    }

    /// Starts a command in the background; its stdout/stderr files are
    /// returned for reading after it ends.
    pub fn spawn(&self, mut cmd: Command) -> Running {
        let (o, e) = self.io_files();
        cmd.stdout(fs::File::create(&o).unwrap());
        cmd.stderr(fs::File::create(&e).unwrap());
        Running {
            child: cmd.spawn().expect("spawn runtime"),
            out: o,
            err: e,
        }
    }

    /// `create --bundle B ID EXTRA...`
    pub fn create(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Out {
        self.track(id);
        let b = bundle.path().to_str().unwrap();
        let mut args = vec!["create", "--bundle", b];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    /// `run --bundle B EXTRA... ID`, waiting for it to finish.
    pub fn run_bundle(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Out {
        self.track(id);
        let b = bundle.path().to_str().unwrap();
        let mut args = vec!["run", "--bundle", b];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    /// `run` in the background (for tests that signal it).
    pub fn spawn_run(&self, bundle: &Bundle, id: &str) -> Running {
        self.track(id);
        let b = bundle.path().to_str().unwrap();
        self.spawn(self.command(&["run", "--bundle", b, id]))
    }

    /// `state ID` as JSON, or None when the runtime says there is no such
    /// container.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        out.ok().then(|| out.json())
    }

    /// Polls `state` until the status is `want`; panics at the deadline.
    pub fn wait_status(&self, id: &str, want: &str) -> Value {
        let start = Instant::now();
        loop {
            let st = self.state(id);
            if let Some(s) = &st {
                if s["status"] == want {
                    return s.clone();
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "container {id} never reached {want}: last state {st:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ids of the containers under this root, from the state directories.
    pub fn root_entries(&self) -> Vec<String> {
        fs::read_dir(self.root.path())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap());
        for id in ids {
            let _ = self.command(&["delete", "--force", &id]).output();
        }
    }
}

/// A runtime command running in the background.
pub struct Running {
    pub child: Child,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Running {
    /// Waits (bounded by DEADLINE) and returns what it did.
    pub fn wait(mut self) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("runtime did not exit within {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Out {
            status,
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

/// An OCI bundle in a temp dir: a busybox rootfs with the probe at /probe,
/// and a config.json from the runtime's own `spec`, edited as JSON.
pub struct Bundle {
    dir: TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle whose config comes from `rt spec`, set to run `/probe`
    /// without a terminal.
    pub fn new(rt: &Rt) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("brig-bundle-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (apt-get install busybox-static)");
        for a in APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        fs::copy(probe_bin(), rootfs.join("probe")).expect("copy the probe");
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();

        let out = rt.run(&["spec", "--bundle", dir.path().to_str().unwrap()]);
        assert!(out.ok(), "spec failed: {out:?}");
        let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
        let mut config: Value = serde_json::from_str(&text).expect("spec wrote JSON");
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/probe"]);
        let b = Bundle { dir, config };
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Sets process.args and saves.
    pub fn args(&mut self, args: &[&str]) -> &mut Bundle {
        self.config["process"]["args"] = json!(args);
        self.save();
        self
    }

    /// Edits the config with a closure and saves.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Bundle {
        f(&mut self.config);
        self.save();
        self
    }

    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.dir.path().join("config.json"), text).unwrap();
    }

    /// Overwrites config.json with raw text (for malformed-input tests).
    pub fn write_raw(&self, text: &str) {
        fs::write(self.dir.path().join("config.json"), text).unwrap();
    }
}

/// Paths under /sys/fs/cgroup (three levels deep) whose name holds `id`:
/// what a failed or deleted container must not leave behind.
pub fn cgroup_leftovers(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            if e.file_name().to_string_lossy().contains(id) {
                found.push(e.path());
            } else if depth < 3 {
                dirs.push((e.path(), depth + 1));
            }
        }
    }
    found
}

/// Asserts the failure contract: non-zero exit, a non-empty error (one line,
/// starting with `brig:`, when the runtime is brig), and nothing left under
/// `--root` or /sys/fs/cgroup for `id`.
pub fn assert_clean_failure(rt: &Rt, out: &Out, id: &str, what: &str) {
    assert!(!out.ok(), "{what}: expected failure, got {out:?}");
    let err = out.stderr.trim();
    assert!(!err.is_empty(), "{what}: no error message: {out:?}");
    if is_brig() {
        assert_eq!(
            err.lines().count(),
            1,
            "{what}: error is not one line: {err:?}"
        );
        assert!(err.starts_with("brig:"), "{what}: error wording: {err:?}");
    }
    let left: Vec<String> = rt.root_entries().into_iter().filter(|e| e == id).collect();
    assert!(left.is_empty(), "{what}: state left under --root: {left:?}");
    let cg = cgroup_leftovers(id);
    assert!(cg.is_empty(), "{what}: cgroups left: {cg:?}");
}

/// Runs `/probe ARGS` in a fresh container of `bundle` and returns its JSON.
pub fn probe_in(rt: &Rt, bundle: &mut Bundle, args: &[&str]) -> Value {
    let mut full = vec!["/probe"];
    full.extend_from_slice(args);
    bundle.args(&full);
    let id = unique_id("probe");
    let out = rt.run_bundle(bundle, &id, &[]).expect_ok("run probe");
    out.json()
}
