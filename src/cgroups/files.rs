//! Reading and writing cgroup files, with errors that name the file and
//! the value the kernel refused.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::error::{Error, IoResultExt, Result};
use crate::linux::fstype;

/// Write `value` to `dir/name` in one write(2), as the kernel parses each
/// write on its own.
pub fn write(dir: &Path, name: &str, value: &str) -> Result<()> {
    let path = dir.join(name);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .or_io(|| format!("open cgroup file {}", path.display()))?;
    f.write_all(value.as_bytes())
        .or_io(|| format!("write {value:?} to {}", path.display()))
}

pub fn read(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    fs::read_to_string(&path).or_io(|| format!("read {}", path.display()))
}

/// A file that may be absent on this kernel.
pub fn read_opt(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

/// A single number; `max` is `u64::MAX`.
pub fn read_u64(dir: &Path, name: &str) -> Option<u64> {
    let s = read_opt(dir, name)?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, oom_control).
pub fn keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// The pids of `dir/cgroup.procs`; a missing cgroup has none.
pub fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}

/// Pids of `dir` and every cgroup below it.
pub fn walk_pids(dir: &Path, out: &mut BTreeSet<i32>) -> Result<()> {
    out.extend(read_pids(dir)?);
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_pids(&e.path(), out)?;
        }
    }
    Ok(())
}

/// Enable in `dir`'s subtree_control every controller `dir` has. One write
/// per controller, so one the kernel refuses (a threaded or busy parent)
/// does not stop the others; a limit that then cannot be written fails in
/// `set` with the file's name.
pub fn enable_controllers(dir: &Path) {
    let have = read_opt(dir, "cgroup.controllers").unwrap_or_default();
    let on = read_opt(dir, "cgroup.subtree_control").unwrap_or_default();
    for c in have.split_whitespace() {
        if !on.split_whitespace().any(|o| o == c) {
            if let Err(e) = write(dir, "cgroup.subtree_control", &format!("+{c}")) {
                tracing::debug!("enable {c} in {}: {}", dir.display(), e.chain());
            }
        }
    }
}

/// Copy cpuset.cpus and cpuset.mems from `parent` into `child` when the
/// child's are empty.
pub fn inherit_cpuset(parent: &Path, child: &Path) -> Result<()> {
    for name in ["cpuset.cpus", "cpuset.mems"] {
        if read_opt(child, name).is_some_and(|s| s.trim().is_empty()) {
            let v = read(parent, name)?;
            write(child, name, v.trim())?;
        }
    }
    Ok(())
}

/// rmdir `dir` and every cgroup below it, children first. A cgroup whose
/// last task has exited can stay busy for a moment, so EBUSY is retried.
pub fn remove_tree(dir: &Path) -> Result<()> {
    // A container's cgroup rarely has cgroups below it: no listing first.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    const EBUSY: i32 = Errno::EBUSY as i32;
    const ENOTEMPTY: i32 = Errno::ENOTEMPTY as i32;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            // A fake tree in tests holds regular files; a cgroupfs never does.
            Err(e) if e.raw_os_error() == Some(ENOTEMPTY) && !fstype::is_cgroup(dir) => {
                return fs::remove_dir_all(dir).or_io(|| format!("remove {}", dir.display()))
            }
            Err(e) => return Err(Error::io(format!("remove cgroup {}", dir.display()), e)),
        }
    }
}
