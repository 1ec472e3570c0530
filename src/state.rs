//! Container state under `--root`: one directory per container holding
//! `state.json` (written atomically) and `exec.fifo` (until `start`), guarded
//! by a per-container lock.
//!
//! The directory and a `creating` record are written before any resource is
//! made, so a `create` killed at any point can still be cleaned by
//! `delete --force`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoResultExt, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const LOCK_FILE: &str = "lock";

/// The longest container id brig accepts (runc has no limit; a path
/// component is bounded by NAME_MAX, and 1024 keeps room under --root).
pub const MAX_ID_LEN: usize = 1024;

/// What `state.json` holds. The OCI `state` output is derived from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// `creating` until init reports ready, then `created`; `running`,
    /// `stopped` and `paused` are derived at read time from the process and
    /// the cgroup freezer.
    pub status: Status,
    /// Host pid of the container's init, 0 while creating.
    #[serde(default)]
    pub pid: i32,
    /// Start time of init (field 22 of /proc/PID/stat), guarding against
    /// pid reuse.
    #[serde(default)]
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The cgroup path brig resolved from `linux.cgroupsPath`.
    #[serde(default)]
    pub cgroup_path: Option<String>,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The systemd is the user's own (rootless `--systemd-cgroup`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub systemd_user: bool,
    /// Was a new pid namespace created (so killing init kills all)?
    #[serde(default)]
    pub own_pid_ns: bool,
    /// Whether the container's process runs with a terminal.
    #[serde(default)]
    pub terminal: bool,
    /// config.json as it was at create, as runc keeps it: later edits to
    /// the bundle (or its removal) change nothing. `exec` takes the
    /// container's namespaces and process from it, `start` and `delete`
    /// the hooks (runtime-spec runtime.md, Lifecycle step 2).
    pub config: Box<oci_spec::runtime::Spec>,
    /// The node policy applied at create (as it was then: `exec` applies
    /// this one), and what it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Record>,
    /// The host ids the node's user-namespace pool leased this container
    /// (the policy's `user_namespace` rule); released at delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_range: Option<crate::policy::pool::Range>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        }
    }
}

/// Check a container id: `[A-Za-z0-9_+.-]`, not `.` or `..`, bounded.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("container id is empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!(
            "container id is {} bytes long; the limit is {MAX_ID_LEN}",
            id.len()
        )));
    }
    if id == "." || id == ".." {
        return Err(Error::invalid(format!("invalid container id {id:?}")));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '.' | '-')))
    {
        return Err(Error::invalid(format!(
            "invalid container id {id:?}: character {c:?} is not allowed (use A-Z a-z 0-9 _ + . -)"
        )));
    }
    Ok(())
}

/// The directory of one container under `--root`.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// A container's state directory: 0711, or stricter under the caller's
/// umask (as runc), never group- or world-writable or listable.
pub fn create_container_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().mode(0o711).create(dir)
}

/// An exclusive lock on one container, held for the whole of a command that
/// changes it.
pub struct Lock {
    _lock: crate::linux::lock::FileLock,
}

impl Lock {
    pub fn acquire(dir: &Path) -> Result<Lock> {
        let _lock = crate::linux::lock::lock_exclusive(&dir.join(LOCK_FILE))?;
        Ok(Lock { _lock })
    }
}

/// Create the root directory (0700) if needed.
pub fn ensure_root(root: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .or_io(|| format!("create state root {}", root.display()))
}

impl State {
    /// Who made the container's cgroup, and so who removes it.
    pub fn cgroup_driver(&self) -> crate::cgroups::Driver {
        crate::cgroups::Driver::from_state(self.systemd_cgroup, self.systemd_user)
    }

    pub fn load(root: &Path, id: &str) -> Result<State> {
        validate_id(id)?;
        let path = container_dir(root, id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::not_found(id)),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::json(format!("parse {}", path.display()), e))
    }

    /// Write state.json atomically: a temp file in the same directory,
    /// renamed over the old one.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = container_dir(root, &self.id);
        let data = serde_json::to_vec(self).map_err(|e| Error::json("encode state", e))?;
        write_atomic(&dir.join(STATE_FILE), &data, 0o600)
    }
}

/// Write `data` to `path` through a temp file and rename, so a reader sees
/// the old or the new content, never a torn one. No fsync, as runc: a
/// container does not outlive its host, and a state.json a crash left
/// empty is skipped by `list` and removed by `delete --force`; on a disk
/// root the fsync cost milliseconds per container.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&tmp)
            .or_io(|| format!("create {}", tmp.display()))?;
        f.write_all(data)
            .or_io(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, path).or_io(|| format!("rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Ids of every container under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(Error::io(format!("read {}", root.display()), e)),
    };
    for entry in entries {
        let entry = entry.or_io(|| format!("read {}", root.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if validate_id(&name).is_ok() && entry.path().join(STATE_FILE).exists() {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

/// One container as runc's `state` and `list --format json` print it:
/// runc's fields in runc's order, `annotations` only when there are some
/// (sorted, as Go prints a map), `created` in Go's RFC3339Nano (no
/// trailing zeros in the fraction), the pid 0 once stopped. `state` gives
/// an empty owner, `list` the state directory's owner (runc does both).
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'a str, &'a str>,
    pub owner: String,
    /// brig's addition: the node policy the container was created under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a str>,
    /// brig's addition: the host ids its user namespace was leased.
    #[serde(rename = "usernsRange", skip_serializing_if = "Option::is_none")]
    pub userns_range: Option<crate::policy::pool::Range>,
}

/// An RFC 3339 time with nanoseconds as Go's RFC3339Nano prints it: the
/// fraction without trailing zeros, no fraction when it is 0. Pure.
pub fn go_rfc3339_nano(t: &str) -> String {
    let Some((whole, rest)) = t.split_once('.') else {
        return t.to_string();
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (frac, zone) = rest.split_at(digits);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole}{zone}")
    } else {
        format!("{whole}.{frac}{zone}")
    }
}

impl State {
    /// What `state` (owner "") and `list` print for this container.
    pub fn report(&self, status: Status, owner: String) -> Report<'_> {
        Report {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: go_rfc3339_nano(&self.created),
            annotations: self
                .annotations
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            owner,
            policy: self.policy.as_ref().map(|r| r.policy.name.as_str()),
            userns_range: self.userns_range,
        }
    }

    /// The OCI state JSON hooks and seccomp agents receive.
    pub fn to_oci(&self, status: Status, pid: i32) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

impl State {
    /// Is the recorded init still the same live process (not a zombie, not
    /// a recycled pid)?
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        let pid = nix::unistd::Pid::from_raw(self.pid);
        if !crate::linux::pid::exists(pid) {
            return false;
        }
        match crate::linux::pid::stat(pid) {
            None => false,
            Some(s) if matches!(s.state, 'Z' | 'X') => false,
            Some(s) => self.pid_start_time == 0 || s.start_time == self.pid_start_time,
        }
    }

    /// The status `state` reports, derived from the record, the process,
    /// the exec fifo and the freezer.
    pub fn current_status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return if self.status == Status::Creating && self.pid == 0 {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if self.status == Status::Creating {
            return Status::Creating;
        }
        if container_dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Some(path) = &self.cgroup_path {
            if let Ok(cg) = crate::cgroups::Manager::open(path, self.cgroup_driver()) {
                if cg.is_frozen().unwrap_or(false) {
                    return Status::Paused;
                }
            }
        }
        Status::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["c1", "a.b-c_d+e", "X", &"a".repeat(MAX_ID_LEN)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "é",
            "a\0b",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_time_format() {
        for (t, want) in [
            (
                "2026-12-02T06:10:13.834446059Z",
                "2026-12-02T06:10:13.834446059Z",
            ),
            (
                "2026-12-02T06:10:13.834446050Z",
                "2026-12-02T06:10:13.83444605Z",
            ),
            ("2026-12-02T06:10:13.100000000Z", "2026-12-02T06:10:13.1Z"),
            ("2026-12-02T06:10:13.000000000Z", "2026-12-02T06:10:13Z"),
            ("2026-12-02T06:10:13Z", "2026-12-02T06:10:13Z"),
        ] {
            assert_eq!(go_rfc3339_nano(t), want, "{t}");
        }
    }

    #[test]
    fn report_is_runc_shaped() {
        let mut st: State = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.1", "id": "c1", "status": "created", "pid": 42,
            "bundle": "/b", "rootfs": "/b/rootfs",
            "created": "2026-12-02T06:10:13.500000000Z", "owner": "",
            "config": {"ociVersion": "1.2.1"}
        }))
        .unwrap();
        let text = serde_json::to_string(&st.report(Status::Running, String::new())).unwrap();
        assert_eq!(
            text,
            r#"{"ociVersion":"1.2.1","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-12-02T06:10:13.5Z","owner":""}"#
        );
        st.annotations = HashMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]);
        let text = serde_json::to_string(&st.report(Status::Stopped, "root".into())).unwrap();
        assert!(
            text.contains(r#""pid":0,"status":"stopped""#)
                && text.ends_with(r#""annotations":{"a":"2","z":"1"},"owner":"root"}"#),
            "{text}"
        );
    }

    #[test]
    fn missing_container_is_not_found() {
        let root = tempfile::tempdir().unwrap();
        let e = State::load(root.path(), "c1").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert_eq!(e.chain(), "container c1 does not exist");
        let e = State::load(root.path(), "a/b").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Refused);
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
