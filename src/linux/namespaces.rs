//! Namespaces: which the container creates, which it joins by path, and
//! which it shares with the host (those the config omits).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoResultExt, Result, SysResultExt};

/// The eight kinds, in the order they are joined: user first, so that the
/// namespaces owned by it can be entered with its privileges; mount last
/// among those that change how paths resolve.
pub const JOIN_ORDER: [Kind; 8] = [
    Kind::User,
    Kind::Ipc,
    Kind::Uts,
    Kind::Net,
    Kind::Pid,
    Kind::Cgroup,
    Kind::Time,
    Kind::Mount,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Ipc,
    Uts,
    Net,
    Pid,
    Cgroup,
    Time,
    Mount,
}

impl Kind {
    pub fn from_spec(t: LinuxNamespaceType) -> Kind {
        match t {
            LinuxNamespaceType::User => Kind::User,
            LinuxNamespaceType::Ipc => Kind::Ipc,
            LinuxNamespaceType::Uts => Kind::Uts,
            LinuxNamespaceType::Network => Kind::Net,
            LinuxNamespaceType::Pid => Kind::Pid,
            LinuxNamespaceType::Cgroup => Kind::Cgroup,
            LinuxNamespaceType::Time => Kind::Time,
            LinuxNamespaceType::Mount => Kind::Mount,
        }
    }

    pub fn flag(self) -> CloneFlags {
        match self {
            Kind::User => CloneFlags::CLONE_NEWUSER,
            Kind::Ipc => CloneFlags::CLONE_NEWIPC,
            Kind::Uts => CloneFlags::CLONE_NEWUTS,
            Kind::Net => CloneFlags::CLONE_NEWNET,
            Kind::Pid => CloneFlags::CLONE_NEWPID,
            Kind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            Kind::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
            Kind::Mount => CloneFlags::CLONE_NEWNS,
        }
    }

    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
            Kind::Net => "net",
            Kind::Pid => "pid",
            Kind::Cgroup => "cgroup",
            Kind::Time => "time",
            Kind::Mount => "mnt",
        }
    }

    /// The name in config.json and `features`.
    pub fn spec_name(self) -> &'static str {
        match self {
            Kind::Net => "network",
            Kind::Mount => "mount",
            k => k.proc_name(),
        }
    }
}

/// What happens to one kind of namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ns {
    /// Not in the config: the host's.
    Host,
    /// A new one.
    New,
    /// Join the one at this path.
    Join(PathBuf),
}

/// The namespace plan, decided before any process exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsPlan {
    entries: Vec<(Kind, Ns)>,
}

impl NsPlan {
    /// Pure: what the config says. A kind listed twice the same way is
    /// taken once (runc does, and configs edited by appending do it);
    /// listed twice differently it is an error.
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<NsPlan> {
        let mut entries: Vec<(Kind, Ns)> = JOIN_ORDER.iter().map(|k| (*k, Ns::Host)).collect();
        let mut seen: Vec<(Kind, Ns)> = Vec::new();
        for ns in list {
            let kind = Kind::from_spec(ns.typ());
            let what = match ns.path() {
                Some(p) if p.as_os_str().is_empty() => Ns::New,
                Some(p) if !p.is_absolute() => {
                    return Err(Error::invalid(format!(
                        "namespace {} path {} is not absolute",
                        kind.spec_name(),
                        p.display()
                    )))
                }
                Some(p) => Ns::Join(p.clone()),
                None => Ns::New,
            };
            match seen.iter().find(|(k, _)| *k == kind) {
                Some((_, earlier)) if *earlier == what => continue,
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "namespace {} is listed more than once, with different paths",
                        kind.spec_name()
                    )))
                }
                None => seen.push((kind, what.clone())),
            }
            if let Some(e) = entries.iter_mut().find(|(k, _)| *k == kind) {
                e.1 = what;
            }
        }
        Ok(NsPlan { entries })
    }

    pub fn get(&self, kind: Kind) -> &Ns {
        &self
            .entries
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("every kind is present")
            .1
    }

    pub fn is_new(&self, kind: Kind) -> bool {
        *self.get(kind) == Ns::New
    }

    /// Does the container have a namespace of this kind other than the
    /// host's? (Joined by path counts when the path is not the host's own.)
    pub fn has_own(&self, kind: Kind) -> bool {
        match self.get(kind) {
            Ns::Host => false,
            Ns::New => true,
            Ns::Join(p) => !is_host_ns(kind, p).unwrap_or(false),
        }
    }

    /// Is the user namespace joined by path? Then it owns the namespaces
    /// the container creates: the child makes them after joining it
    /// ([`NsPlan::unshare_flags`]), not the parent at clone, whose new
    /// namespaces would belong to the host's user namespace.
    pub fn joins_user(&self) -> bool {
        matches!(self.get(Kind::User), Ns::Join(_))
    }

    /// A new user namespace with namespaces joined by path (a pod's
    /// network namespace that the host made): the child joins those as
    /// the host's root first (from inside the new user namespace it could
    /// not: they belong to the host's), then unshares the user namespace,
    /// waits for its maps, and unshares the rest inside it (runc's nsexec
    /// order). The pid namespace is entered by the parent and the mount
    /// namespace by init, so they do not count.
    pub fn unshares_user(&self) -> bool {
        self.is_new(Kind::User)
            && self
                .joins()
                .any(|(k, _)| !matches!(k, Kind::User | Kind::Pid | Kind::Mount))
    }

    /// The new namespaces other than time and cgroup. Time is left out:
    /// its offsets must be written before any process enters it, so the
    /// child unshares it and enters it at execve. Cgroup is left out: its
    /// root is the cgroup the process is in when it is created, so the
    /// child unshares it after the parent has placed it (sync 1).
    fn made_early(&self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        for (kind, ns) in &self.entries {
            if *ns == Ns::New && *kind != Kind::Time && *kind != Kind::Cgroup {
                flags |= kind.flag();
            }
        }
        flags
    }

    /// Clone flags for the namespaces created at clone time (none when the
    /// user namespace is joined).
    pub fn clone_flags(&self) -> CloneFlags {
        if self.joins_user() || self.unshares_user() {
            CloneFlags::empty()
        } else {
            self.made_early()
        }
    }

    /// With a joined (or child-unshared) user namespace: what the child
    /// unshares once inside it, the user and pid namespaces aside (a new
    /// pid namespace holds only the children of the process that unshares
    /// it: [`NsPlan::forks_into_pid`]).
    pub fn unshare_flags(&self) -> CloneFlags {
        if self.joins_user() || self.unshares_user() {
            self.made_early() - CloneFlags::CLONE_NEWPID - CloneFlags::CLONE_NEWUSER
        } else {
            CloneFlags::empty()
        }
    }

    /// A joined (or child-unshared) user namespace and a new pid
    /// namespace: the child unshares the pid namespace and forks the
    /// container's init into it.
    pub fn forks_into_pid(&self) -> bool {
        (self.joins_user() || self.unshares_user()) && self.is_new(Kind::Pid)
    }

    /// The namespaces to join, in join order.
    pub fn joins(&self) -> impl Iterator<Item = (Kind, &Path)> {
        self.entries.iter().filter_map(|(k, ns)| match ns {
            Ns::Join(p) => Some((*k, p.as_path())),
            _ => None,
        })
    }
}

const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Open a namespace path and check that it is a namespace of `kind`.
pub fn open_ns(kind: Kind, path: &Path) -> Result<File> {
    let file = File::options()
        .read(true)
        .custom_flags_cloexec()
        .open(path)
        .or_io(|| format!("open {} namespace {}", kind.spec_name(), path.display()))?;
    // SAFETY: ioctl NS_GET_NSTYPE takes no argument and only reads the fd.
    let t = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if t < 0 {
        let e = Errno::last();
        return Err(Error::invalid(format!(
            "{} is not a namespace ({e:?})",
            path.display()
        )));
    }
    if t as i64 != kind.flag().bits() as i64 {
        return Err(Error::invalid(format!(
            "{} is not a {} namespace",
            path.display(),
            kind.spec_name()
        )));
    }
    Ok(file)
}

/// Join the namespace at `path`.
pub fn join(kind: Kind, path: &Path) -> Result<()> {
    let file = open_ns(kind, path)?;
    setns(file.as_fd(), kind.flag())
        .or_sys(|| format!("setns {} {}", kind.spec_name(), path.display()))
}

/// Run `f` in the mount namespace of the process `pidfd` refers to, on a
/// thread of its own that ends when `f` returns: the thread unshares
/// CLONE_FS first (setns(2) refuses a mount namespace to a thread that
/// shares its root and cwd), so brig's own mount namespace, root and cwd
/// never change. `f` resolves paths as that process does before its
/// pivot_root. Ref: setns(2) "CLONE_NEWNS", unshare(2) "CLONE_FS".
pub fn in_mount_ns_of<T: Send>(
    pidfd: BorrowedFd<'_>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::unshare(CloneFlags::CLONE_FS)
                .or_sys(|| "unshare CLONE_FS for a mount namespace thread".into())?;
            setns(pidfd, CloneFlags::CLONE_NEWNS)
                .or_sys(|| "setns into the container's mount namespace".into())?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::invalid("the mount namespace thread panicked")))
    })
}

/// Children are born in our own pid namespace again, after [`join`] of a
/// container's (exec): the kernel refuses to start a thread (EINVAL) while
/// the two differ. Ref: clone(2), CLONE_THREAD; setns(2).
pub fn reset_pid_for_children() -> Result<()> {
    let own = Path::new("/proc/self/ns/pid");
    if is_host_ns(Kind::Pid, Path::new("/proc/self/ns/pid_for_children"))? {
        return Ok(());
    }
    join(Kind::Pid, own)
}

/// Is the namespace at `path` the one brig itself is in (the host's)?
pub fn is_host_ns(kind: Kind, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let own = format!("/proc/self/ns/{}", kind.proc_name());
    let a = std::fs::metadata(path).or_io(|| format!("stat {}", path.display()))?;
    let b = std::fs::metadata(&own).or_io(|| format!("stat {own}"))?;
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

trait CloexecOpen {
    fn custom_flags_cloexec(&mut self) -> &mut Self;
}

impl CloexecOpen for std::fs::OpenOptions {
    fn custom_flags_cloexec(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_CLOEXEC)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    /// A config.json namespace entry, for tests.
    pub(crate) fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let b = LinuxNamespaceBuilder::default().typ(t);
        match path {
            Some(p) => b.path(p).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    #[test]
    fn plan_from_spec() {
        let p = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/proc/1/ns/net")),
            ns(LinuxNamespaceType::Time, None),
        ])
        .unwrap();
        assert_eq!(*p.get(Kind::Pid), Ns::New);
        assert_eq!(*p.get(Kind::Net), Ns::Join("/proc/1/ns/net".into()));
        assert_eq!(*p.get(Kind::User), Ns::Host);
        assert_eq!(p.clone_flags(), CloneFlags::CLONE_NEWPID);
        let c = NsPlan::from_spec(&[ns(LinuxNamespaceType::Cgroup, None)]).unwrap();
        assert_eq!(c.clone_flags(), CloneFlags::empty());
        assert_eq!(p.joins().count(), 1);
    }

    /// A new user namespace with a joined network namespace: nothing at
    /// clone; the child joins, unshares the user namespace, then the rest
    /// inside it, and forks into the new pid namespace.
    #[test]
    fn new_user_namespace_with_joins_is_unshared_by_the_child() {
        let p = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::User, None),
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Ipc, None),
            ns(LinuxNamespaceType::Mount, None),
            ns(LinuxNamespaceType::Network, Some("/var/run/netns/pod")),
        ])
        .unwrap();
        assert!(p.unshares_user() && !p.joins_user());
        assert_eq!(p.clone_flags(), CloneFlags::empty());
        assert_eq!(
            p.unshare_flags(),
            CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNS
        );
        assert!(p.forks_into_pid());
        // Only a joined pid or mount namespace: the clone makes them all.
        let q = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::User, None),
            ns(LinuxNamespaceType::Mount, None),
            ns(LinuxNamespaceType::Pid, Some("/proc/1/ns/pid")),
        ])
        .unwrap();
        assert!(!q.unshares_user());
        assert_eq!(
            q.clone_flags(),
            CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS
        );
        assert!(!q.forks_into_pid());
    }

    #[test]
    fn duplicates_and_relative_paths_are_errors() {
        let same = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Pid, None),
        ]);
        assert!(same.unwrap().is_new(Kind::Pid), "the same twice is once");
        let dup = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Pid, Some("/proc/1/ns/pid")),
        ]);
        assert!(dup.unwrap_err().chain().contains("more than once"));
        let rel = NsPlan::from_spec(&[ns(LinuxNamespaceType::Network, Some("x/net"))]);
        assert!(rel.unwrap_err().chain().contains("not absolute"));
    }

    /// The thread sees the other process's mounts; the test process's own
    /// mount namespace and cwd stay as they were.
    #[test]
    fn a_thread_enters_another_mount_namespace_alone() {
        crate::skip::require_root!();
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs brig-ns-test "$0" && touch "$0/marker" && echo ready && exec sleep 60"#)
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("unshare(1)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        let pidfd = crate::linux::pid::pidfd_open(child.id() as i32).unwrap();
        let marker = dir.path().join("marker");
        let own_ns = std::fs::read_link("/proc/thread-self/ns/mnt").unwrap();
        let cwd = std::env::current_dir().unwrap();
        let seen = in_mount_ns_of(pidfd.as_fd(), || Ok(marker.exists()));
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen.unwrap(), "the thread saw the other namespace's tmpfs");
        assert!(!marker.exists());
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/mnt").unwrap(),
            own_ns
        );
        assert_eq!(std::env::current_dir().unwrap(), cwd);
    }

    #[test]
    fn wrong_kind_of_namespace_file_is_rejected() {
        let e = open_ns(Kind::Net, Path::new("/proc/self/ns/uts")).unwrap_err();
        assert!(
            e.chain().contains("is not a network namespace"),
            "{}",
            e.chain()
        );
        let e = open_ns(Kind::Net, Path::new("/etc/hostname")).unwrap_err();
        assert!(e.chain().contains("is not a namespace"), "{}", e.chain());
        assert!(open_ns(Kind::Net, Path::new("/proc/self/ns/net")).is_ok());
        assert!(is_host_ns(Kind::Net, Path::new("/proc/self/ns/net")).unwrap());
    }
}
