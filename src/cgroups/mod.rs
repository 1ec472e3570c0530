//! cgroups v1, v2 and hybrid hosts.
//!
//! A [`Manager`] is one container's cgroup: the resolved cgroup path and the
//! directory it has in every hierarchy the host mounts. The layout comes from
//! `/proc/self/mountinfo`, never from guesses; tests inject a mountinfo text
//! whose mountpoints live in a temp dir.
//!
//! Resolution follows runc's fs drivers: an absolute `cgroupsPath` is under
//! each hierarchy's root; a relative one (and the default, the container id)
//! is under the caller's own cgroup of that hierarchy (on pure v2: its
//! parent, which holds no processes). Ref: runc libcontainer/cgroups/fs/paths.go,
//! fs2/defaultpath.go.

pub mod devices;
mod files;
pub mod paths;
mod resources;
pub mod rootless;
mod stats;
pub mod sub;
pub mod systemd;
pub mod v2_devices;

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, IoResultExt, Result};
pub use paths::Layout;
use paths::{CgroupMount, Mounts};

pub use resources::validate;

/// Who makes the container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// brig itself, in cgroupfs.
    #[default]
    Fs,
    /// The system's systemd, on the system bus (`--systemd-cgroup`).
    Systemd,
    /// The user's own systemd, on the user's bus: `--systemd-cgroup` when
    /// rootless (see [`systemd::user_instance`]). Its scopes are in the
    /// subtree systemd delegated to the user (`user@UID.service`).
    SystemdUser,
}

impl Driver {
    /// The driver state.json records (`systemd_cgroup`, `systemd_user`).
    pub fn from_state(systemd: bool, user: bool) -> Driver {
        match (systemd, user) {
            (false, _) => Driver::Fs,
            (true, false) => Driver::Systemd,
            (true, true) => Driver::SystemdUser,
        }
    }

    pub fn is_systemd(self) -> bool {
        self != Driver::Fs
    }
}

/// The directory of the container's cgroup in one hierarchy.
#[derive(Debug, Clone)]
struct Hierarchy {
    /// `/sys/fs/cgroup/memory/<cgroup>`.
    dir: PathBuf,
    /// The hierarchy's mountpoint (its root directory).
    mountpoint: PathBuf,
    /// v1 controllers of this hierarchy; for the unified one, the
    /// controllers its root makes available (`cgroup.controllers`).
    controllers: Vec<String>,
    unified: bool,
    /// The absolute cgroup path (as /proc/PID/cgroup shows it).
    cgroup: String,
}

/// One container's cgroup across every hierarchy.
pub struct Manager {
    /// The resolved path as stored in state.json: `/a/b` when every
    /// hierarchy agrees, else `ctrl,ctrl=/a/b;...;=/c` (empty key: unified).
    path: String,
    layout: Layout,
    hierarchies: Vec<Hierarchy>,
    /// The unit under the systemd driver (`--systemd-cgroup`).
    systemd: Option<systemd::Unit>,
    driver: Driver,
    bus: OnceLock<systemd::Bus>,
    /// Set once `add` started the scope: a create that failed before
    /// then must not stop a unit that may be another container's.
    scope_started: AtomicBool,
    unified_fd: OnceLock<Option<OwnedFd>>,
}

const MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_CGROUP: &str = "/proc/self/cgroup";
/// How long freeze, kill and destroy wait for the kernel.
const WAIT: Duration = Duration::from_secs(10);

/// The host's cgroup mounts as mountinfo text, at a cost that does not
/// grow with the host's other mounts (see the function).
fn cgroup_mounts() -> Result<String> {
    crate::linux::mountinfo::cgroup_mounts().or_io(|| format!("read {MOUNTINFO}"))
}

fn read_host(path: &str) -> Result<String> {
    fs::read_to_string(path).or_io(|| format!("read {path}"))
}

impl Manager {
    /// Resolve `linux.cgroupsPath` for container `id` on this host. No
    /// filesystem changes.
    pub fn new(cgroups_path: Option<&str>, id: &str, driver: Driver) -> Result<Manager> {
        Self::new_with(
            &cgroup_mounts()?,
            &read_host(PROC_CGROUP)?,
            cgroups_path,
            id,
            driver,
        )
    }

    /// [`Manager::new`] with the host's mountinfo and /proc/self/cgroup
    /// given as text (tests point the mountpoints at a temp dir).
    pub fn new_with(
        mountinfo: &str,
        proc_cgroup: &str,
        cgroups_path: Option<&str>,
        id: &str,
        driver: Driver,
    ) -> Result<Manager> {
        let mounts = paths::parse_mountinfo(mountinfo)?;
        if driver.is_systemd() {
            // The user's systemd: its units are below its own cgroup, which
            // it asks; it delegates cgroup2 only.
            let mut user_bus = None;
            if driver == Driver::SystemdUser {
                if mounts.layout != Layout::V2 {
                    return Err(Error::invalid(
                        "rootless: the systemd cgroup driver needs a pure cgroup v2 host (a user's systemd cannot delegate v1 controllers); use the cgroupfs driver",
                    ));
                }
                let bus = systemd::Bus::connect(true)?;
                user_bus = Some((bus.manager_cgroup()?, bus));
            }
            let base = user_bus.as_ref().map_or("/", |(cg, _)| cg.as_str());
            let (path, unit) = paths::systemd_path(cgroups_path, id, base)?;
            if unit.ends_with(".slice") {
                return Err(Error::invalid(format!(
                    "cgroupsPath {:?}: a container's unit must be a scope, not the slice {unit}",
                    cgroups_path.unwrap_or_default()
                )));
            }
            let slice = Path::new(&path)
                .parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "-.slice".into());
            let mut m = Self::build(&mounts, |_| path.clone());
            m.systemd = Some(systemd::Unit {
                name: unit,
                slice: Some(slice),
                description: format!("brig container {id}"),
            });
            m.driver = driver;
            if let Some((_, bus)) = user_bus {
                let _ = m.bus.set(bus);
            }
            return Ok(m);
        }
        let inner = paths::inner_path(cgroups_path, id)?;
        if inner.starts_with('/') {
            return Ok(Self::build(&mounts, |_| inner.clone()));
        }
        let own = paths::parse_proc_cgroup(proc_cgroup);
        let layout = mounts.layout;
        Ok(Self::build(&mounts, |m| {
            let mine = own
                .iter()
                .find(|(ctrls, _)| {
                    if m.unified {
                        ctrls.is_empty()
                    } else {
                        *ctrls == m.controllers
                    }
                })
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| "/".into());
            // Pure v2: the caller's own cgroup holds processes, so the
            // "no internal processes" rule forbids enabling controllers
            // below it; runc uses its parent.
            let base = if layout == Layout::V2 {
                Path::new(&mine)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into())
            } else {
                mine
            };
            paths::join(&base, &inner)
        }))
    }

    /// Reconstruct from state.json's (already resolved) cgroup path.
    pub fn open(cgroup_path: &str, driver: Driver) -> Result<Manager> {
        Self::open_with(&cgroup_mounts()?, cgroup_path, driver)
    }

    pub fn open_with(mountinfo: &str, cgroup_path: &str, driver: Driver) -> Result<Manager> {
        let mounts = paths::parse_mountinfo(mountinfo)?;
        let per: Vec<(String, String)> = if cgroup_path.starts_with('/') {
            Vec::new()
        } else {
            cgroup_path
                .split(';')
                .filter_map(|kv| {
                    // Keys may hold '=' (name=systemd); values start with '/'.
                    kv.find("=/").map(|i| (&kv[..i], &kv[i + 1..]))
                })
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        if !cgroup_path.starts_with('/') && per.is_empty() {
            return Err(Error::invalid(format!(
                "cgroup path {cgroup_path:?} in state is not resolved"
            )));
        }
        let mut m = Self::build(&mounts, |mnt| {
            if per.is_empty() {
                return paths::clean(cgroup_path);
            }
            let key = mnt.controllers.join(",");
            per.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| paths::clean(v))
                .unwrap_or_else(|| "/".into())
        });
        // A hierarchy whose path fell back to the root (mounted after the
        // container was created) must not be touched.
        m.hierarchies.retain(|h| h.cgroup != "/");
        m.driver = driver;
        if driver.is_systemd() {
            m.systemd = Some(systemd::Unit {
                name: Path::new(cgroup_path)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                slice: None,
                description: String::new(),
            });
        }
        Ok(m)
    }

    fn build(mounts: &Mounts, mut cgroup_of: impl FnMut(&CgroupMount) -> String) -> Manager {
        let mut hierarchies = Vec::new();
        for m in mounts.v1.iter().chain(mounts.unified.iter()) {
            let cgroup = cgroup_of(m);
            let controllers = if m.unified {
                fs::read_to_string(m.mountpoint.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            } else {
                m.controllers.clone()
            };
            hierarchies.push(Hierarchy {
                dir: paths::dir_in(m, &cgroup),
                mountpoint: m.mountpoint.clone(),
                controllers,
                unified: m.unified,
                cgroup,
            });
        }
        let first = hierarchies
            .first()
            .map(|h| h.cgroup.clone())
            .unwrap_or_default();
        let path = if hierarchies.iter().all(|h| h.cgroup == first) {
            first
        } else {
            hierarchies
                .iter()
                .map(|h| {
                    format!(
                        "{}={}",
                        if h.unified {
                            String::new()
                        } else {
                            h.controllers.join(",")
                        },
                        h.cgroup
                    )
                })
                .collect::<Vec<_>>()
                .join(";")
        };
        Manager {
            path,
            layout: mounts.layout,
            hierarchies,
            systemd: None,
            driver: Driver::Fs,
            bus: OnceLock::new(),
            scope_started: AtomicBool::new(false),
            unified_fd: OnceLock::new(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// No cgroup at all (a rootless container that may not create one,
    /// see [`rootless`]): nothing to create, set, join or remove; every
    /// process is the caller's to find some other way.
    pub fn none(layout: Layout) -> Manager {
        Manager {
            path: String::new(),
            layout,
            hierarchies: Vec::new(),
            systemd: None,
            driver: Driver::Fs,
            bus: OnceLock::new(),
            scope_started: AtomicBool::new(false),
            unified_fd: OnceLock::new(),
        }
    }

    /// True for [`Manager::none`].
    pub fn is_none(&self) -> bool {
        self.hierarchies.is_empty() && self.systemd.is_none()
    }

    /// The first cgroup directory this process may not make (or join, when
    /// it exists): the nearest existing ancestor must be writable and
    /// searchable by us (cgroupfs permissions are plain DAC; a delegated
    /// subtree is owned by the user). None when every one is fine.
    pub fn not_creatable(&self) -> Option<&Path> {
        use nix::unistd::{access, AccessFlags};
        self.hierarchies
            .iter()
            .map(|h| h.dir.as_path())
            .find(|dir| {
                let (probe, mode) = if dir.exists() {
                    (dir.join("cgroup.procs"), AccessFlags::W_OK)
                } else {
                    let parent = dir.ancestors().skip(1).find(|a| a.exists());
                    let Some(parent) = parent else { return true };
                    (parent.to_path_buf(), AccessFlags::W_OK | AccessFlags::X_OK)
                };
                access(&probe, mode).is_err()
            })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The directory holding `controller`'s files and whether it is v2:
    /// a v1 hierarchy that mounts it, else the unified one if it has it.
    fn dir_for(&self, controller: &str) -> Option<(&Path, bool)> {
        let v1 = self
            .hierarchies
            .iter()
            .find(|h| !h.unified && h.controllers.iter().any(|c| c == controller));
        v1.or_else(|| {
            self.unified()
                .filter(|h| h.controllers.iter().any(|c| c == controller))
        })
        .map(|h| (h.dir.as_path(), h.unified))
    }

    fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.unified)
    }

    /// What this host can never apply, refused before anything is made:
    /// `unified` keys on a host with v1 hierarchies (runc's rule: its
    /// controllers are bound to v1 there).
    pub fn check(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let unified = r.unified().as_ref().is_some_and(|u| !u.is_empty());
        if unified && self.hierarchies.iter().any(|h| !h.unified) {
            return Err(Error::invalid(
                "invalid configuration: linux.resources.unified needs a cgroup v2 host, and this one mounts cgroup v1 hierarchies",
            ));
        }
        Ok(())
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn primary(&self) -> Option<&Path> {
        if self.layout == Layout::V2 {
            return self.unified().map(|h| h.dir.as_path());
        }
        ["pids", "freezer", "memory", "devices", "cpu"]
            .iter()
            .find_map(|c| self.dir_for(c).map(|d| d.0))
            .or_else(|| self.hierarchies.first().map(|h| h.dir.as_path()))
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The systemd unit, under the systemd driver.
    pub fn systemd_unit(&self) -> Option<&str> {
        self.systemd.as_ref().map(|u| u.name.as_str())
    }

    /// The driver's bus (the system's, or the user's), connected on first use.
    fn bus(&self) -> Result<&systemd::Bus> {
        if let Some(b) = self.bus.get() {
            return Ok(b);
        }
        let b = systemd::Bus::connect(self.driver == Driver::SystemdUser)?;
        Ok(self.bus.get_or_init(|| b))
    }

    /// mkdir the cgroup in every hierarchy. A cgroup that exists and already
    /// holds processes is an error: brig never shares or adopts one.
    /// Under the systemd driver nothing is made before there is a process:
    /// systemd makes the scope in [`add`](Self::add), and refuses a unit
    /// that already exists.
    pub fn create(&self) -> Result<()> {
        if self.systemd.is_some() {
            return Ok(());
        }
        for h in &self.hierarchies {
            if h.dir.exists() {
                let procs = files::read_pids(&h.dir)?;
                if !procs.is_empty() {
                    return Err(Error::invalid(format!(
                        "container's cgroup is not empty: {} already holds processes {:?}",
                        h.dir.display(),
                        procs
                    )));
                }
                // A child cloned into a frozen cgroup never runs: refuse
                // rather than wait forever (runc's wording).
                if is_frozen(h) {
                    return Err(Error::invalid(format!(
                        "container's cgroup unexpectedly frozen: {}",
                        h.dir.display()
                    )));
                }
            }
        }
        self.make_dirs()
    }

    /// mkdir -p the cgroup in every hierarchy (existing ones are fine).
    fn make_dirs(&self) -> Result<()> {
        for h in &self.hierarchies {
            let rel = h.dir.strip_prefix(&h.mountpoint).unwrap_or(Path::new(""));
            let mut cur = h.mountpoint.clone();
            for comp in rel.components() {
                let parent = cur.clone();
                cur.push(comp);
                if h.unified {
                    // Controllers must be enabled in every ancestor's
                    // subtree_control for the files to appear below it.
                    // Ref: Documentation/admin-guide/cgroup-v2.rst "Enabling and Disabling".
                    files::enable_controllers(&parent);
                }
                match fs::create_dir(&cur) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io(format!("create cgroup {}", cur.display()), e)),
                }
                if h.controllers.iter().any(|c| c == "cpuset") && !h.unified {
                    // A v1 cpuset starts with empty cpus and mems, and a task
                    // cannot join it until both are set: inherit the parent's.
                    files::inherit_cpuset(&parent, &cur)?;
                }
            }
        }
        Ok(())
    }

    /// Write every field of `r` this host supports. Under the systemd
    /// driver the unit's properties are set first, so systemd agrees.
    pub fn set(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        if let Some(u) = &self.systemd {
            let props = systemd::properties(Some(r), self.layout == Layout::V2);
            self.bus()?.set_properties(&u.name, props)?;
        }
        resources::set(self, r)
    }

    /// The `tasks` files of the v1 hierarchies, opened (by us, with our
    /// credentials) for a new single-threaded process to join them itself
    /// with [`join_self`]: a thread that moves itself skips the kernel's
    /// `cgroup_threadgroup_rwsem` write lock, whose RCU grace period a
    /// write of a pid to `cgroup.procs` waits for (about 6 ms of a 30 ms
    /// `run` on this hybrid host). Empty where there are none, and
    /// for a new systemd scope, whose first process systemd places.
    pub fn v1_tasks(&self) -> Result<Vec<OwnedFd>> {
        if self.systemd.as_ref().is_some_and(|u| u.slice.is_some()) {
            return Ok(Vec::new());
        }
        self.hierarchies
            .iter()
            .filter(|h| !h.unified)
            .map(|h| {
                let path = h.dir.join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map(OwnedFd::from)
                    .or_io(|| format!("open cgroup file {}", path.display()))
                    // runc's words (before the pid exists), which its users match.
                    .map_err(|e| e.context("adding pid to cgroups"))
            })
            .collect()
    }

    /// Put `pid` in the cgroup of every hierarchy, but those it is in
    /// already: the unified one when `unified_done` (cloned into it), the
    /// v1 ones when `v1_done` (it joined them itself). Under the systemd
    /// driver a new container's first process starts the scope: systemd
    /// moves it there; brig makes the directories systemd does not manage
    /// (v1 cpuset, devices, freezer ...) and adds it to those.
    pub fn add(&self, pid: Pid, unified_done: bool, v1_done: bool) -> Result<()> {
        let mut placed_by_systemd = false;
        if let Some(u) = self.systemd.as_ref().filter(|u| u.slice.is_some()) {
            let props = systemd::properties(None, self.layout == Layout::V2);
            self.bus()?.start_scope(u, pid.as_raw(), props)?;
            self.scope_started.store(true, Ordering::SeqCst);
            self.make_dirs()?;
            placed_by_systemd = true;
        }
        for h in &self.hierarchies {
            if (h.unified && unified_done) || (!h.unified && v1_done) {
                continue;
            }
            // Where systemd put it already, moving it again would only
            // wait for another RCU grace period.
            if placed_by_systemd && files::read_pids(&h.dir)?.contains(&pid.as_raw()) {
                continue;
            }
            // runc's words, which its users match.
            let written = files::write(&h.dir, "cgroup.procs", &pid.to_string());
            match (written, &self.systemd) {
                (Ok(()), _) => {}
                // A rootless caller outside the user's delegated subtree
                // (a login session's scope) may not move a process into
                // it; the unit's systemd may (the user's asks the
                // system's), for a process the caller owns.
                (Err(e), Some(u))
                    if h.unified && matches!(e.errno(), Some(Errno::EACCES | Errno::EPERM)) =>
                {
                    let sub = h.cgroup.strip_prefix(&self.path).unwrap_or("");
                    self.bus()?
                        .attach(&u.name, sub, pid.as_raw())
                        .map_err(|b| e.context(b.chain()))?;
                }
                (Err(e), _) => return Err(e.context(format!("adding pid {pid} to cgroups"))),
            }
        }
        Ok(())
    }

    /// The unified cgroup directory for `clone3(CLONE_INTO_CGROUP)` (pure
    /// v2, and the cgroup2 hierarchy of a hybrid host), which costs no
    /// RCU grace period either.
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        // A systemd scope cannot exist before its first process.
        if self.systemd.as_ref().is_some_and(|u| u.slice.is_some()) {
            return None;
        }
        let dir = &self.unified()?.dir;
        self.unified_fd
            .get_or_init(|| fs::File::open(dir).ok().map(OwnedFd::from))
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// Every process in the cgroup and its descendants, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.primary() else {
            return Ok(Vec::new());
        };
        let mut all = BTreeSet::new();
        files::walk_pids(dir, &mut all)?;
        Ok(all.into_iter().collect())
    }

    fn freezer(&self) -> Result<(&Path, bool)> {
        if let Some(d) = self.dir_for("freezer") {
            return Ok(d);
        }
        match self.unified() {
            Some(h) if h.dir.join("cgroup.freeze").exists() => Ok((h.dir.as_path(), true)),
            _ => Err(Error::invalid(format!(
                "cgroup {}: no freezer on this host",
                self.path
            ))),
        }
    }

    pub fn freeze(&self) -> Result<()> {
        let (dir, v2) = self.freezer()?;
        let deadline = Instant::now() + WAIT;
        if v2 {
            files::write(dir, "cgroup.freeze", "1")?;
            while !files::read(dir, "cgroup.events")?
                .lines()
                .any(|l| l == "frozen 1")
            {
                if Instant::now() > deadline {
                    let _ = files::write(dir, "cgroup.freeze", "0");
                    return Err(Error::invalid(format!(
                        "cgroup {}: timed out waiting to freeze",
                        dir.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            return Ok(());
        }
        // v1 may report FREEZING for a while; writing FROZEN again retries
        // the tasks that were busy. Ref: cgroup-v1/freezer-subsystem.rst.
        loop {
            files::write(dir, "freezer.state", "FROZEN")?;
            if files::read(dir, "freezer.state")?.trim() == "FROZEN" {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = files::write(dir, "freezer.state", "THAWED");
                return Err(Error::invalid(format!(
                    "cgroup {}: timed out waiting to freeze",
                    dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn thaw(&self) -> Result<()> {
        let (dir, v2) = self.freezer()?;
        if v2 {
            files::write(dir, "cgroup.freeze", "0")
        } else {
            files::write(dir, "freezer.state", "THAWED")
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        let Ok((dir, v2)) = self.freezer() else {
            return Ok(false);
        };
        let file = if v2 { "cgroup.freeze" } else { "freezer.state" };
        match fs::read_to_string(dir.join(file)) {
            Ok(s) => Ok(if v2 {
                s.trim() == "1"
            } else {
                s.trim() == "FROZEN"
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("read {}", dir.join(file).display()), e)),
        }
    }

    /// Signal every process in the cgroup. SIGKILL uses `cgroup.kill` where
    /// the unified cgroup has it (atomic, no fork race). Otherwise the
    /// cgroup is frozen while the signals go out so nothing forks past the
    /// list, as runc does.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::SIGKILL {
            if let Some(h) = self
                .unified()
                .filter(|h| h.dir.join("cgroup.kill").exists())
            {
                // Processes are in the unified cgroup on v2 and hybrid hosts
                // alike: add() puts them in every hierarchy.
                return files::write(&h.dir, "cgroup.kill", "1");
            }
        }
        let frozen = self.freeze().is_ok();
        let result = (|| {
            for pid in self.pids()? {
                crate::linux::signal::send_unless_gone(pid, sig as i32)?;
            }
            Ok(())
        })();
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Kill what is left, wait for it to go and remove the cgroup from every
    /// hierarchy, children first. Missing directories are fine.
    pub fn destroy(&self) -> Result<()> {
        if let Some(u) = &self.systemd {
            if u.slice.is_some() && !self.scope_started.load(Ordering::SeqCst) {
                // Nothing of ours exists: systemd refused the unit or we
                // never got that far; its cgroup may be another's.
                return Ok(());
            }
        }
        if self.primary().is_some_and(|d| d.exists()) && !self.pids()?.is_empty() {
            self.kill_all(Signal::SIGKILL)?;
            let deadline = Instant::now() + WAIT;
            while !self.pids()?.is_empty() {
                if Instant::now() > deadline {
                    return Err(Error::invalid(format!(
                        "cgroup {}: processes {:?} did not exit after SIGKILL",
                        self.path,
                        self.pids()?
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if let Some(u) = &self.systemd {
            // An empty scope has stopped by itself; a failed one is reset.
            // No bus, no systemd to hold a scope: the directories still go
            // (and removing them fails loudly if systemd kept them busy).
            if let Err(e) = self.bus().and_then(|b| b.stop(&u.name)) {
                tracing::debug!("{}", e.chain());
            }
        }
        for h in &self.hierarchies {
            files::remove_tree(&h.dir)?;
        }
        Ok(())
    }

    /// runc's `events` stats "data" object.
    pub fn stats(&self) -> Result<serde_json::Value> {
        stats::collect(self)
    }

    /// The memory and pids limits the kernel holds for the cgroup, in
    /// bytes and tasks: `Some(None)` is no limit ("max", or v1's page
    /// aligned maximum); None when the controller is not there.
    pub fn limits(&self) -> Limits {
        let read = |controller: &str, v2: &str, v1: &str| {
            let (dir, unified) = self.dir_for(controller)?;
            let text = files::read_opt(dir, if unified { v2 } else { v1 })?;
            let t = text.trim();
            Some(match t.parse::<u64>() {
                Ok(n) if n < 1 << 62 => Some(n),
                Ok(_) => None,
                Err(_) if t == "max" => None,
                Err(_) => return None,
            })
        };
        Limits {
            memory: read("memory", "memory.max", "memory.limit_in_bytes"),
            pids: read("pids", "pids.max", "pids.max"),
        }
    }

    /// How many OOM kills the cgroup has seen.
    pub fn oom_count(&self) -> Result<u64> {
        let Some((dir, v2)) = self.dir_for("memory") else {
            return Ok(0);
        };
        let text = files::read(
            dir,
            if v2 {
                "memory.events"
            } else {
                "memory.oom_control"
            },
        )?;
        Ok(files::keyed(&text).get("oom_kill").copied().unwrap_or(0))
    }
}

/// Limits as the kernel holds them (see [`Manager::limits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    pub memory: Option<Option<u64>>,
    pub pids: Option<Option<u64>>,
}

/// `brig features`' `linux.cgroup`, from this host's mounts.
pub fn features() -> serde_json::Value {
    let mounts = read_host(MOUNTINFO)
        .ok()
        .and_then(|t| paths::parse_mountinfo(&t).ok());
    let (v1, v2, rdma) = match &mounts {
        Some(m) => {
            let v1 = m.layout != Layout::V2;
            let v2 = m.unified.is_some();
            let rdma =
                m.v1.iter()
                    .any(|h| h.controllers.iter().any(|c| c == "rdma"))
                    || m.unified.as_ref().is_some_and(|u| {
                        fs::read_to_string(u.mountpoint.join("cgroup.controllers"))
                            .unwrap_or_default()
                            .split_whitespace()
                            .any(|c| c == "rdma")
                    });
            (v1, v2, rdma)
        }
        None => (false, false, false),
    };
    // The systemd driver talks to the system instance, or rootless to the
    // user's own (cgroup v2).
    serde_json::json!({ "v1": v1, "v2": v2, "systemd": true, "systemdUser": true, "rdma": rdma })
}

/// The new process's own half of [`Manager::v1_tasks`]: join each v1
/// hierarchy by writing "0" (this thread) to its `tasks` file. The caller
/// must be single-threaded, so the thread is the whole process; its
/// children are born there.
pub fn join_self(tasks: &[OwnedFd]) -> Result<()> {
    for fd in tasks {
        nix::unistd::write(fd, b"0")
            .map_err(|e| Error::sys(format!("adding pid {} to cgroups", std::process::id()), e))?;
    }
    Ok(())
}

/// Is an existing cgroup frozen (v1 freezer.state FROZEN or FREEZING, v2
/// cgroup.freeze 1)?
fn is_frozen(h: &Hierarchy) -> bool {
    let read = |f: &str| fs::read_to_string(h.dir.join(f)).unwrap_or_default();
    if h.unified {
        read("cgroup.freeze").trim() == "1"
    } else if h.controllers.iter().any(|c| c == "freezer") {
        matches!(read("freezer.state").trim(), "FROZEN" | "FREEZING")
    } else {
        false
    }
}

/// Is /sys/fs/cgroup the cgroup2 filesystem (a pure v2 host)?
pub fn host_is_unified() -> bool {
    crate::linux::fstype::is_cgroup2(Path::new("/sys/fs/cgroup"))
}

#[cfg(test)]
mod tests;
