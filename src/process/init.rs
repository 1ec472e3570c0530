//! Role INIT: the container's first process, re-executed from the
//! read-only brig image, in its namespaces. It carries out its part of
//! the plan ([`InitPlan`]) in one linear function, in kernel order; each
//! step says why it is where it is. It decides nothing and parses no
//! config of its own.
//!
//! `brig exec` runs the same function in `InitMode::Exec`: the container is
//! already built, so the plan has no hostname, rootfs, sysctls or hooks,
//! and there is no wait for `start`; the confinement (`finalize`) is the
//! same.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::linux::namespaces::Kind;
use crate::linux::procfs::ProcfsHandle;
use crate::linux::{
    affinity, apparmor, capabilities, creds, execve, fds, fifo, inherit, ioprio, keyring, landlock,
    mempolicy, personality, prctl, rlimits, rootfs, sched, seccomp, sysctl, tty, uts,
};
use crate::plan::{InitMode, InitPlan, ProcessAttrs, RootSetup};
use crate::process::channel::Channel;
use crate::process::child::{INIT_FD_ENV, SYSFS_FD_ENV};
use crate::process::messages::{InitConfig, InitFds, ToInit, ToParent};

/// Entry point of `brig init`. Never returns.
pub fn main() -> ! {
    prctl::set_name(c"brig:[2:INIT]");
    let fd: RawFd = match std::env::var(INIT_FD_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(fd) => fd,
        None => {
            eprintln!(
                "brig: init: {INIT_FD_ENV} is not set; `brig init` is started by brig itself"
            );
            std::process::exit(1);
        }
    };
    // The child passed us this descriptor across execve, for us alone.
    let ch = Channel::from_fd(inherit::take(fd));
    let err = match receive_and_run(&ch) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before sync 2 the parent is listening; after it, the container's
    // stderr is the one place left. A failed execve reads there as runc's
    // (`exec /run.sh: no such file or directory`: callers match it), any
    // other failure as brig's one line.
    if ch
        .send(&ToParent::Failed {
            chain: err.chain(),
            errno: err.errno().map(|e| e as i32),
        })
        .is_err()
    {
        let chain = err.chain();
        if chain.starts_with("exec ") {
            eprintln!("{chain}");
        } else {
            eprintln!("brig: init: {chain}");
        }
    }
    std::process::exit(127)
}

fn receive_and_run(ch: &Channel) -> Result<Infallible> {
    // sync 1b: the parent's decisions.
    let cfg = match ch.recv::<ToInit>()? {
        Some(ToInit::Config(cfg)) => cfg,
        Some(other) => {
            return Err(Error::invalid(format!(
                "init: expected Config, got {other:?}"
            )))
        }
        None => std::process::exit(1),
    };
    // Warnings from here on (a Landlock policy the kernel cannot enforce)
    // go where the parent's do, also once the parent has exited.
    // The parent passed this descriptor for us alone (InitLog).
    let log = cfg.log.fd.map(inherit::take);
    let logger = crate::logging::Logger::from_fd(log, cfg.log.format, cfg.log.debug);
    let _ = tracing::subscriber::set_global_default(logger);
    // runc's words for this point (`--debug`), which its users look for.
    tracing::debug!("child process in init()");
    // sync 1b': the cgroup binds, when we start from the template.
    let mut cgroup_trees = Vec::with_capacity(cfg.cgroup_trees);
    for _ in 0..cfg.cgroup_trees {
        match ch.recv_with_fd::<ToInit>()? {
            Some((ToInit::CgroupTree { name }, Some(fd))) => cgroup_trees.push((name, fd)),
            other => {
                return Err(Error::invalid(format!(
                    "init: expected a cgroup tree, got {:?}",
                    other.map(|(m, _)| m)
                )))
            }
        }
    }
    init(ch, &cfg, cgroup_trees)
}

/// The sysfs the child mounted for us, as (index in mounts, fd).
fn sysfs_from_child() -> Option<(usize, RawFd)> {
    let v = std::env::var(SYSFS_FD_ENV).ok()?;
    let (index, fd) = v.split_once(':')?;
    Some((index.parse().ok()?, fd.parse().ok()?))
}

fn init(
    ch: &Channel,
    cfg: &InitConfig,
    cgroup_trees: Vec<(String, OwnedFd)>,
) -> Result<Infallible> {
    let plan = &cfg.plan;
    let process = &plan.process;

    // Nobody in the container may ptrace us or open our /proc entries
    // before execve (CVE-2019-5736 class); execve resets this.
    prctl::set_not_dumpable()?;

    // A mount namespace given by path (always for exec) is entered first,
    // now that brig's image is loaded: every later file access is the
    // container's. The child left it for us (see child.rs).
    if let Some((kind, path)) = plan.ns.joins().find(|(k, _)| *k == Kind::Mount) {
        crate::linux::namespaces::join(kind, path)?;
    }

    if let Some(h) = &plan.hostname {
        uts::set_hostname(h)?;
    }
    if let Some(d) = &plan.domainname {
        uts::set_domainname(d)?;
    }

    // The root filesystem is ours to build only in a new mount namespace;
    // a joined one is already what its owner made it.
    if let RootSetup::Build(r) = &plan.root {
        let mut premade = cfg.fds.premade_mounts.clone();
        premade.extend(sysfs_from_child());
        let ask_parent = |index| mount_source_from_parent(ch, index);
        // The parent passed this descriptor for us alone (InitFds).
        let template_ns = cfg.fds.mnt_template.map(inherit::take);
        let template = template_ns.as_ref().map(|ns| rootfs::Template {
            ns: ns.as_fd(),
            cgroup_trees: &cgroup_trees,
        });
        rootfs::prepare(r, cfg.cgroup_view.as_ref(), &premade, &ask_parent, template)?;
        // Mounted: their descriptors close now, not at execve.
        drop(template_ns);
    }
    drop(cgroup_trees);
    // Hooks after the mounts, before pivot_root, so they still see the
    // host's paths (sync 1c/1d: prestart and createRuntime in the parent;
    // then createContainer here). Ref: runtime-spec config.md.
    if plan.mode == InitMode::Create {
        super::init_hooks::before_pivot(ch, cfg)?;
    }
    // No mount namespace: the container's /dev is the host's, which the
    // chroot below leaves behind, so its pty comes from there first (runc
    // mounts the config's /dev into root.path in the host's mount
    // namespace instead; brig changes nothing there).
    let host_pty = match (&plan.root, plan.process.terminal()) {
        (RootSetup::Chroot(_), Some(true)) => Some(tty::open_pty()?),
        _ => None,
    };
    match &plan.root {
        RootSetup::Build(r) => rootfs::pivot(r)?,
        // No mount namespace: the host's mounts, but root.path as the
        // root, as runc does (config.md: root is the container's root).
        RootSetup::Chroot(path) => rootfs::chroot_into(path)?,
        RootSetup::AsIs => {}
    }

    // A private procfs made inside the container's namespaces: sysctl and
    // attr writes land in them and cannot be redirected by anything
    // mounted in the container (CVE-2019-16884 class).
    let procfs = ProcfsHandle::new()?;
    // A user namespace whose maps an ordinary user wrote has setgroups
    // "deny" (user_namespaces(7)): no supplementary groups can be set, so
    // asking for some is an error now, before `start`, as runc's
    // "cannot set any additional groups in a rootless container".
    let may_setgroups = crate::linux::userns::setgroups_allowed(&procfs)?;
    let additional = process.user().additional_gids().as_deref().unwrap_or(&[]);
    if !may_setgroups && !additional.is_empty() {
        return Err(Error::invalid(format!(
            "process.user.additionalGids {additional:?}: this user namespace denies setgroups (its maps were written by an unprivileged user), so no additional groups can be set"
        )));
    }
    // Sysctls before /proc/sys becomes read-only in finish().
    if !plan.sysctl.is_empty() {
        sysctl::apply(&procfs, &plan.sysctl)?;
    }
    if let RootSetup::Build(r) = &plan.root {
        rootfs::finish(r)?;
    }

    // A session of its own, and the terminal as its controlling tty.
    tty::new_session()?;
    if process.terminal().unwrap_or(false) {
        set_up_terminal(plan, &cfg.fds, host_pty)?;
    }
    // While still root: the user the process runs as owns its stdio.
    tty::give_stdio_to(process.user().uid())?;

    rlimits::apply(process.rlimits().as_ref())?;
    if plan.session_keyring {
        keyring::join_new_session(&format!("_ses.{}", plan.id))?;
    }
    // Scheduler, I/O priority, personality, memory policy: the process's
    // own, kept by execve. Here, after the rootfs is built (an idle class
    // or a bound node would slow brig's own work) and before sync 2, so a
    // refusal by the kernel (a scheduler the cpuset cannot host) fails
    // `create`, as runc's does; while init still holds every capability
    // (real-time policies, negative nice and the RT I/O class need
    // CAP_SYS_NICE / CAP_SYS_ADMIN), and before the seccomp filter, which
    // may deny personality(2) or set_mempolicy(2) to the program.
    set_process_attrs(&plan.attrs)?;

    // chdir while still root, then verify the cwd is inside the container
    // (CVE-2024-21626: a leaked host fd as cwd).
    execve::chdir_inside(process.cwd())?;

    let env = build_env(
        process.env().as_deref().unwrap_or(&[]),
        process.user().uid(),
        plan,
    )?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let arg0 = args
        .first()
        .ok_or_else(|| Error::invalid("process.args is empty"))?;
    let path_env = env
        .iter()
        .find_map(|e| e.to_str().ok()?.strip_prefix("PATH="));
    let exe = execve::find_executable(arg0, path_env)?;

    if let Some(profile) = process.apparmor_profile() {
        apparmor::apply_on_exec(&procfs, profile)?;
    }

    let released = if plan.mode == InitMode::Create {
        // A created container stops on `kill ID TERM` as runc's does; the
        // handlers go at execve.
        crate::linux::signal::exit_on_stop_signals()?;
        // sync 2: set up; wait for start.
        tracing::debug!("init: closing the pipe to signal completion");
        ch.send(&ToParent::Ready)?;
        // sync 3: `start` opens exec.fifo for reading; our blocking open for
        // writing returns then.
        let released = match cfg.fds.fifo {
            Some(fd) => Some(fifo::wait_for_start(inherit::take(fd), &procfs)?),
            None => None,
        };
        // The fifo stays open (close-on-exec) when `start` waits for the
        // startContainer hooks and the execve; else it closes now.
        released.filter(|_| plan.hooks.start_waits_for_exec)
    } else {
        None
    };
    drop(procfs);

    // finalize() marks the channel close-on-exec with every fd above the
    // preserved ones (the parent checked those are open, so the channel is
    // above them): for exec, its closing at execve is the parent's sign of
    // success.
    let prepared = execve::Prepared::new(exe, args, env)?;
    finalize(cfg, prepared, released, may_setgroups)
}

/// sync 1m: the parent makes the tree of mount `index` (an idmapped bind
/// from inside the rootfs, which we cannot idmap in our user namespace)
/// and sends it, close-on-exec, attached to its answer.
fn mount_source_from_parent(ch: &Channel, index: usize) -> Result<OwnedFd> {
    ch.send(&ToParent::MountSource { index })?;
    match ch.recv_with_fd::<ToInit>()? {
        Some((ToInit::MountSource { index: i }, Some(fd))) if i == index => Ok(fd),
        // The parent failed to make it, reports that itself and kills us.
        None => std::process::exit(1),
        Some((other, fd)) => Err(Error::invalid(format!(
            "init: expected the tree of mount #{index}, got {other:?} ({} descriptor)",
            if fd.is_some() { "with a" } else { "without" }
        ))),
    }
}

/// runc's order (setns_init/standard_init): scheduler, I/O priority,
/// personality, memory policy.
fn set_process_attrs(attrs: &ProcessAttrs) -> Result<()> {
    if let Some(s) = &attrs.scheduler {
        sched::apply(s)?;
    }
    if let Some(p) = attrs.io_priority {
        ioprio::apply(p)?;
    }
    if let Some(p) = attrs.personality {
        personality::apply(p)?;
    }
    if let Some(m) = &attrs.memory_policy {
        mempolicy::apply(m)?;
    }
    Ok(())
}

/// The pty: made here, its master sent to the console socket, its slave
/// our controlling terminal and stdio.
fn set_up_terminal(plan: &InitPlan, fds: &InitFds, pty: Option<tty::Pty>) -> Result<()> {
    let console = fds
        .console
        .ok_or_else(|| Error::invalid("terminal is true but there is no console socket"))?;
    let pty = match pty {
        Some(p) => p,
        None => tty::open_pty()?,
    };
    if plan.console_raw_output {
        tty::clear_onlcr(&pty.master)?;
    }
    if let Some(size) = plan.process.console_size() {
        tty::set_size(
            pty.slave.as_raw_fd(),
            size.height() as u16,
            size.width() as u16,
        )?;
    }
    tty::send_master(console, &pty.master)?;
    if matches!(plan.root, RootSetup::Build(_)) {
        tty::mount_console(&pty.slave_path)?;
    }
    tty::give_slave_to(&pty.slave, plan.process.user().uid())?;
    tty::make_stdio(pty.slave)
}

/// The last steps, after `start`: descriptors, privileges, confinement,
/// execve. Every step that the container's seccomp profile could deny
/// comes before the filter: a profile is written for the container's
/// program, not for brig, and a strict allow-list (no close_range, fcntl
/// or umask) must still start. Order: descriptors and umask; the bounding
/// set while still root; Landlock; the user; the capability sets; then
/// no_new_privs and the filter. After the filter only execve follows, and
/// the agent handshake (SCMP_ACT_NOTIFY) and startContainer hooks where
/// the config asks for them (runc runs those after its filter too).
fn finalize(
    cfg: &InitConfig,
    prepared: execve::Prepared,
    released: Option<std::fs::File>,
    may_setgroups: bool,
) -> Result<Infallible> {
    let plan = &cfg.plan;
    let process = &plan.process;
    let caps = process.capabilities().as_ref();
    let nnp = process.no_new_privileges().unwrap_or(false);
    let user = process.user();

    creds::set_umask(user.umask().unwrap_or(0o022));
    crate::linux::signal::default_sigpipe()?;
    // Only stdio and the preserved descriptors reach the container; the
    // fifo (above them: every preserved one is open) closes at execve,
    // which tells a waiting `start` the program runs.
    let first_closed = 3 + plan.preserve_fds as RawFd;
    fds::cloexec_from(first_closed)?;
    for fd in 3..first_closed {
        if fds::is_open(fd) {
            fds::clear_cloexec(fd)?;
        }
    }

    capabilities::prepare(caps)?;
    if let Some(policy) = &plan.landlock {
        landlock::apply(policy)?;
    }
    // As root, before the capability sets (PR_SET_KEEPCAPS from
    // capabilities::prepare keeps the permitted set).
    creds::set_user(
        user.uid(),
        user.gid(),
        user.additional_gids().as_deref().unwrap_or(&[]),
        may_setgroups,
    )?;
    // Without no_new_privs, loading the filter needs CAP_SYS_ADMIN, which
    // the container may not get: keep it for that one call. It cannot
    // outlive the execve: a program's capabilities are computed anew from
    // the bounding, inheritable and ambient sets set here (capabilities(7),
    // "Transformation of capabilities during execve()"), none of which
    // gains it, so no capset has to follow the filter.
    let filter = plan.seccomp.clone();
    // brig's own supervisor (seccomp learn/test) passes only this cookie.
    let handshake = filter.as_ref().and_then(|f| f.handshake());
    let load_as_admin = filter.is_some() && !nnp;
    capabilities::apply(caps, load_as_admin)?;
    if nnp {
        prctl::set_no_new_privs()?;
    }
    // What the agent is sent, encoded now: no allocation after the filter.
    let agent = match (cfg.fds.seccomp_listener, filter.as_ref()) {
        (Some(listener), Some(f)) if f.uses_notify() => {
            let body = seccomp::listener_payload(
                &cfg.state_json,
                std::process::id() as i32,
                plan.seccomp_metadata.as_deref(),
            )?;
            // The parent connected this socket and passed it to us alone.
            Some((inherit::take(listener), body))
        }
        _ => None,
    };

    // The program's CPUs, last: brig's own work in the container stays
    // where the caller (or execCPUAffinity.initial) put it. Before the
    // filter, which may deny sched_setaffinity(2).
    affinity::apply_final(&plan.cpu_affinity)?;
    if plan.mode == InitMode::Exec {
        // Before the filter: the profile may deny the write of this line.
        tracing::debug!("setns_init: about to exec");
    }
    if let Some(f) = &filter {
        // runc's words (`--debug`), which its users and tests look for.
        tracing::debug!("seccomp filter flags: {}", f.flags());
    }
    // The filter: from here on only what the config itself asks for.
    let notify_fd = match filter {
        Some(f) => f.load()?,
        None => None,
    };
    if let (Some(fd), Some((sock, body))) = (notify_fd, agent) {
        match &handshake {
            Some(cookie) => {
                seccomp::send_to_supervisor(&sock, &body, fd, cookie)?;
                // Both go at execve (the socket is close-on-exec): no
                // close(2) or free of brig's among the workload's calls.
                std::mem::forget((sock, body));
            }
            None => seccomp::send_to_listener(&sock, &body, fd)?,
        }
    }
    // startContainer hooks with the container's final credentials, seccomp
    // and descriptors, right before execve (as runc does).
    if plan.mode == InitMode::Create {
        super::init_hooks::start_container(cfg, released.as_ref(), prepared.env())?;
    }
    Err(prepared.exec())
}

/// process.env as runc prepares it (one entry per key, the last one
/// wins; HOME from the container's /etc/passwd when missing or empty,
/// else "/"; see env.rs), plus LISTEN_FDS/LISTEN_PID for socket activation.
fn build_env(env: &[String], uid: u32, plan: &InitPlan) -> Result<Vec<CString>> {
    let mut out = crate::process::env::prepare(env, || home_of(uid).unwrap_or_else(|| "/".into()));
    if let Some(n) = plan.listen_fds {
        out.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        out.push(format!("LISTEN_FDS={n}"));
        out.push(format!("LISTEN_PID={}", std::process::id()));
    }
    out.iter()
        .map(|e| {
            CString::new(e.as_str())
                .map_err(|_| Error::invalid(format!("{e:?} contains a NUL byte")))
        })
        .collect()
}

/// HOME of `uid` in the image's /etc/passwd.
fn home_of(uid: u32) -> Option<String> {
    let passwd = execve::read_image_file("/etc/passwd", 1 << 20)?;
    crate::process::env::home_in_passwd(&passwd, uid)
}
