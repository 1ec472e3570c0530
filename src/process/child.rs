//! Role CHILD: the freshly cloned process, still running the parent's
//! image. It waits for its cgroup and id maps (sync 1), joins the
//! namespaces given by path, prepares the time namespace, and re-executes
//! into the read-only brig image as INIT. Kept short: until the re-exec its
//! /proc/PID/exe is the host binary (it is non-dumpable, inherited from the
//! parent, so the container cannot open that link).

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};

use crate::error::{Error, Result, SysResultExt};
use crate::linux::namespaces::{self, Kind, NsPlan};
use crate::linux::{affinity, creds, fds, mountapi};
use crate::process::channel::Channel;
use crate::process::messages::{ToInit, ToParent};

/// The env var telling the re-executed init which fd is its channel.
pub const INIT_FD_ENV: &str = "_BRIG_INIT_FD";
/// The env var telling init which fd holds the sysfs the child made, and
/// for which mount: "INDEX:FD".
pub const SYSFS_FD_ENV: &str = "_BRIG_SYSFS_FD";

pub struct ChildPlan<'a> {
    pub ns: &'a NsPlan,
    /// Unshare a time namespace (the parent writes its offsets).
    pub new_time_ns: bool,
    /// Descriptors that must survive the re-exec.
    pub keep_fds: Vec<RawFd>,
    /// Mount a sysfs for init once the network namespace is joined: (index
    /// in mounts, mount attributes); see `rootfs::sysfs_made_by_child`.
    pub sysfs: Option<(usize, u64)>,
    /// net.* sysctls of the joined network namespace, written before the
    /// user namespace is entered.
    pub net_sysctls: &'a [(String, String)],
    /// Born dumpable (a rootless parent writes our id maps): turn
    /// non-dumpable once they are written.
    pub dumpable_until_maps: bool,
    /// Join the user namespace before the others (and the pid namespace
    /// here, forking the init into it): a rootless brig has no privilege
    /// over the container's namespaces from outside its user namespace.
    pub user_first: bool,
    /// The v1 cgroup `tasks` files to join first (Manager::v1_tasks).
    pub cgroup_tasks: &'a [OwnedFd],
}

/// A new pid namespace holds only the children of the process that
/// unshares it: unshare it, fork the container's init into it (a child of
/// brig's PARENT, through CLONE_PARENT), tell the parent its pid (sync 1a)
/// and exit. The init returns from here and goes on as the CHILD.
fn fork_into_new_pid_namespace(ch: &Channel) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWPID).or_sys(|| "unshare pid namespace".into())?;
    fork_init(ch)
}

/// Fork the container's init into the pid namespace entered for our
/// children (new or joined), report its pid (sync 1a) and exit.
fn fork_init(ch: &Channel) -> Result<()> {
    match crate::process::clone::fork_sibling()? {
        None => Ok(()),
        Some(init) => {
            // sync 1a
            let sent = ch.send(&ToParent::Forked { pid: init.as_raw() });
            // SAFETY: _exit never returns; this process's part is done.
            unsafe { libc::_exit(if sent.is_ok() { 0 } else { 1 }) }
        }
    }
}

/// The parent's Go (sync 1, and 1u); a parent that died sends nothing,
/// and the child goes quietly.
fn await_go(ch: &Channel) -> Result<()> {
    match ch.recv::<ToInit>()? {
        Some(ToInit::Go) => Ok(()),
        // SAFETY: _exit never returns.
        None => unsafe { libc::_exit(1) },
        Some(other) => Err(Error::invalid(format!("child: expected Go, got {other:?}"))),
    }
}

/// Never returns: re-exec or _exit.
pub fn run(ch: Channel, plan: ChildPlan<'_>, exe: &OwnedFd) -> ! {
    let err = match child(&ch, &plan, exe) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&ToParent::Failed {
        chain: err.chain(),
        errno: err.errno().map(|e| e as i32),
    });
    // SAFETY: _exit never returns and runs no atexit handlers of the parent's image.
    unsafe { libc::_exit(1) }
}

fn child(ch: &Channel, plan: &ChildPlan<'_>, exe: &OwnedFd) -> Result<Infallible> {
    // This role is what runc calls nsexec; `--debug` traces it in runc's
    // words, which users and runc's tests look for. Logging here is safe:
    // the parent that cloned us is single-threaded, so no lock is held, and
    // its logger (and the --log file) is ours until the re-exec.
    let pid = std::process::id();
    tracing::debug!("nsexec[{pid}]: => nsexec container setup");
    // The CPUs we were born on (execCPUAffinity.initial, else the
    // caller's), before the cgroup may change them: runc's tests read it.
    if tracing::enabled!(tracing::Level::DEBUG) {
        match affinity::own() {
            Ok(set) => tracing::debug!("nsexec[{pid}]: affinity: {}", set.low_mask()),
            Err(e) => tracing::warn!("nsexec[{pid}]: {}", e.chain()),
        }
    }
    // Into the container's v1 cgroups before anything of ours runs or is
    // forked (the init of a new pid namespace is born there).
    if !plan.cgroup_tasks.is_empty() {
        crate::cgroups::join_self(plan.cgroup_tasks)?;
        // sync 0c
        ch.send(&ToParent::CgroupJoined)?;
    }
    if plan.new_time_ns {
        // sync 0: a time namespace for our children and our execve; its
        // offsets may only be written before any process is in it, and the
        // parent writes them (from here, inside a new user namespace, our
        // own /proc files belong to the host's root: we are not dumpable).
        // Ref: time_namespaces(7).
        unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .or_sys(|| "unshare time namespace".into())?;
        ch.send(&ToParent::TimeNamespace)?;
    }
    // sync 1: the parent has put us in the cgroup and written the id maps
    // (and the time offsets).
    await_go(ch)?;
    if plan.dumpable_until_maps && !plan.ns.unshares_user() {
        crate::linux::prctl::set_not_dumpable()?;
    }
    if plan.ns.is_new(Kind::User) && !plan.ns.unshares_user() {
        creds::become_root("the new user namespace")?;
    }
    // Namespaces joined by path, the user namespace last: we are still the
    // host's root, which may enter any of them, also one owned by another
    // user namespace than the one joined (from inside that one it could
    // not be entered: runc#4390). The parent joined the pid namespace for
    // its children already. A joined mount namespace is entered by init
    // after the re-exec: its files are not ours, and brig's dynamic loader
    // may not be there.
    if plan.user_first {
        return join_user_first(ch, plan, exe);
    }
    for (kind, path) in plan.ns.joins() {
        if !matches!(kind, Kind::User | Kind::Pid | Kind::Mount) {
            namespaces::join(kind, path)?;
        }
    }
    // While we are still the host's root, in the joined network namespace.
    for (name, value) in plan.net_sysctls {
        crate::linux::sysctl::write_own_netns(name, value)?;
    }
    let sysfs = match plan.sysfs {
        Some((index, attrs)) => Some((
            index,
            mountapi::new_fs(c"sysfs", attrs)
                .or_sys(|| "mount sysfs for the joined network namespace".into())?,
        )),
        None => None,
    };
    if plan.ns.unshares_user() {
        // sync 1u: our own user namespace, made now that the joined ones
        // are entered; the parent writes its maps.
        unshare(CloneFlags::CLONE_NEWUSER).or_sys(|| "unshare user namespace".into())?;
        ch.send(&ToParent::UserNamespace)?;
        await_go(ch)?;
        if plan.dumpable_until_maps {
            crate::linux::prctl::set_not_dumpable()?;
        }
        creds::become_root("the new user namespace")?;
        let flags = plan.ns.unshare_flags();
        if !flags.is_empty() {
            unshare(flags).or_sys(|| format!("unshare {flags:?} in the new user namespace"))?;
        }
        if plan.ns.forks_into_pid() {
            fork_into_new_pid_namespace(ch)?;
        }
    }
    if let Some((_, path)) = plan.ns.joins().find(|(k, _)| *k == Kind::User) {
        namespaces::join(Kind::User, path)?;
        creds::become_root(&format!("user namespace {}", path.display()))?;
        // The container's new namespaces belong to the user namespace it
        // joined: made now, from inside it.
        let flags = plan.ns.unshare_flags();
        if !flags.is_empty() {
            unshare(flags).or_sys(|| format!("unshare {flags:?} in the joined user namespace"))?;
        }
        if plan.ns.forks_into_pid() {
            fork_into_new_pid_namespace(ch)?;
        }
    }
    reexec(ch, plan, exe, sysfs)
}

/// A rootless brig's child (exec): into the joined user namespace first,
/// as its root; from there the container's other namespaces may be
/// entered, and the pid namespace is entered for the init we fork.
fn join_user_first(ch: &Channel, plan: &ChildPlan<'_>, exe: &OwnedFd) -> Result<Infallible> {
    if let Some((_, path)) = plan.ns.joins().find(|(k, _)| *k == Kind::User) {
        namespaces::join(Kind::User, path)?;
        creds::become_root(&format!("user namespace {}", path.display()))?;
    }
    for (kind, path) in plan.ns.joins() {
        if !matches!(kind, Kind::User | Kind::Mount) {
            namespaces::join(kind, path)?;
        }
    }
    let flags = plan.ns.unshare_flags();
    if !flags.is_empty() {
        unshare(flags).or_sys(|| format!("unshare {flags:?} in the joined user namespace"))?;
    }
    if plan.ns.forks_into_pid() {
        fork_into_new_pid_namespace(ch)?;
    } else if plan.ns.joins().any(|(k, _)| k == Kind::Pid) {
        fork_init(ch)?;
    }
    reexec(ch, plan, exe, None)
}

/// The last steps of CHILD: the cgroup namespace, descriptors, and the
/// re-exec as INIT.
fn reexec(
    ch: &Channel,
    plan: &ChildPlan<'_>,
    exe: &OwnedFd,
    sysfs: Option<(usize, OwnedFd)>,
) -> Result<Infallible> {
    let pid = std::process::id();
    if plan.ns.is_new(Kind::Cgroup) {
        // Now that the parent has put us in our cgroup, it becomes the root
        // of the container's cgroup view.
        unshare(CloneFlags::CLONE_NEWCGROUP).or_sys(|| "unshare cgroup namespace".into())?;
    }
    // Nothing of the caller's reaches init: whatever brig inherited
    // without close-on-exec (a directory of the host's, a client's pipe)
    // closes at the re-exec, before any path in the container is resolved
    // (CVE-2024-21626 class). Only what the plan passes on stays.
    fds::cloexec_from(3)?;
    for fd in &plan.keep_fds {
        if fds::is_open(*fd) {
            fds::clear_cloexec(*fd)?;
        }
    }
    fds::clear_cloexec(ch.raw_fd())?;
    let sysfs_env = match &sysfs {
        Some((index, fd)) => {
            fds::clear_cloexec(fd.as_raw_fd())?;
            Some(
                CString::new(format!("{SYSFS_FD_ENV}={index}:{}", fd.as_raw_fd())).expect("no NUL"),
            )
        }
        None => None,
    };
    tracing::debug!("nsexec[{pid}]: <= nsexec container setup, re-exec as init");
    let argv = [
        c"brig:[2:INIT]".as_ptr(),
        c"init".as_ptr(),
        std::ptr::null(),
    ];
    let env_var = CString::new(format!("{INIT_FD_ENV}={}", ch.raw_fd())).expect("no NUL");
    let envp = [
        env_var.as_ptr(),
        sysfs_env.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
        std::ptr::null(),
    ];
    // SAFETY: argv and envp are NULL-terminated arrays of valid C strings
    // that outlive the call; exe is an open O_PATH fd of the brig binary.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Error::sys(
        "re-exec brig as the container's init",
        Errno::last(),
    ))
}
