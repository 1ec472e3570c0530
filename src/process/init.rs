//! Role INIT: the container's first process, re-executed from the
//! read-only brig image, in its namespaces. One linear function in kernel
//! order; each step says why it is where it is.
//!
//! `brig exec` runs the same function in `InitMode::Exec`: the container is
//! already built, so hostname, rootfs, sysctls, the console mount and the
//! wait for `start` are skipped; the confinement (`finalize`) is the same.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, sethostname, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result, SysResultExt};
use crate::linux::namespaces::Kind;
use crate::linux::procfs::ProcfsHandle;
use crate::linux::{apparmor, capabilities, fds, landlock, rlimits, rootfs, seccomp, sysctl, tty};
use crate::process::channel::Channel;
use crate::process::child::INIT_FD_ENV;
use crate::process::messages::{InitConfig, InitMode, ToInit, ToParent};

/// Entry point of `brig init`. Never returns.
pub fn main() -> ! {
    set_name(c"brig:[2:INIT]");
    let fd: RawFd = match std::env::var(INIT_FD_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(fd) => fd,
        None => {
            eprintln!(
                "brig: init: {INIT_FD_ENV} is not set; `brig init` is started by brig itself"
            );
            std::process::exit(1);
        }
    };
    // SAFETY: the child passed us this descriptor across execve and nothing
    // else in this fresh image owns it.
    let ch = Channel::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
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

fn set_name(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
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
    let log = cfg.log.fd.map(|fd| {
        // SAFETY: the parent passed this descriptor for us alone (InitLog).
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    let logger = crate::logging::Logger::from_fd(log, cfg.log.format, cfg.log.debug);
    let _ = tracing::subscriber::set_global_default(logger);
    // runc's words for this point (`--debug`), which its users look for.
    tracing::debug!("child process in init()");
    init(ch, &cfg)
}

fn init(ch: &Channel, cfg: &InitConfig) -> Result<Infallible> {
    let spec = &cfg.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process is missing"))?;
    let linux = spec.linux().as_ref();

    // Nobody in the container may ptrace us or open our /proc entries
    // before execve (CVE-2019-5736 class); execve resets this.
    nix::sys::prctl::set_dumpable(false).or_sys(|| "prctl PR_SET_DUMPABLE 0".into())?;

    // Whether the container has a mount namespace of its own is decided
    // here, while we still see the host's: once we are in it, its path
    // (/proc/<init>/ns/mnt for exec) is our own, and with the host's pid
    // namespace the container's /proc shows that path too, so it would
    // look like the host's.
    let own_mnt = cfg.ns.has_own(Kind::Mount);
    // A mount namespace given by path (always for exec) is entered first,
    // now that brig's image is loaded: every later file access is the
    // container's. The child left it for us (see child.rs).
    if let Some((kind, path)) = cfg.ns.joins().find(|(k, _)| *k == Kind::Mount) {
        crate::linux::namespaces::join(kind, path)?;
    }

    // Compile the filter while libseccomp and host files are still at hand;
    // it is loaded last.
    let filter = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::build(s)?),
        None => None,
    };
    let landlock = landlock::parse(spec.annotations().as_ref())?;

    let create = cfg.mode == InitMode::Create;
    if create && cfg.ns.has_own(Kind::Uts) {
        if let Some(h) = spec.hostname() {
            sethostname(h).or_sys(|| format!("sethostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname() {
            setdomainname(d)?;
        }
    }

    // The root filesystem is ours to build only in a new mount namespace;
    // a joined one is already what its owner made it (exec joins only).
    let new_mnt = create && cfg.ns.is_new(Kind::Mount);
    if new_mnt {
        rootfs::prepare(
            spec,
            &cfg.rootfs,
            cfg.cgroup_view.as_ref(),
            &cfg.idmapped_fds,
        )?;
    }
    // Hooks after the mounts, before pivot_root, so they still see the
    // host's paths (sync 1c/1d: prestart and createRuntime in the parent;
    // then createContainer here). Ref: runtime-spec config.md.
    if create {
        super::init_hooks::before_pivot(ch, cfg)?;
    }
    if new_mnt {
        rootfs::pivot(&cfg.rootfs, cfg.no_pivot)?;
    } else if !own_mnt {
        // No mount namespace: the host's mounts, but root.path as the
        // root, as runc does (config.md: root is the container's root).
        rootfs::chroot_into(&cfg.rootfs)?;
    }

    // A private procfs made inside the container's namespaces: sysctl and
    // attr writes land in them and cannot be redirected by anything
    // mounted in the container (CVE-2019-16884 class).
    let procfs = ProcfsHandle::new()?;
    // Sysctls before /proc/sys becomes read-only in finish().
    if let Some(s) = linux.and_then(|l| l.sysctl().as_ref()).filter(|_| create) {
        sysctl::apply(&procfs, s)?;
    }
    if new_mnt {
        rootfs::finish(spec)?;
    }

    // A session of its own, and the terminal as its controlling tty.
    nix::unistd::setsid().or_sys(|| "setsid".into())?;
    if process.terminal().unwrap_or(false) {
        let console = cfg
            .console_fd
            .ok_or_else(|| Error::invalid("terminal is true but there is no console socket"))?;
        let pty = tty::open_pty()?;
        if cfg.console_raw_output {
            tty::clear_onlcr(&pty.master)?;
        }
        if let Some(size) = process.console_size() {
            tty::set_size(
                std::os::fd::AsRawFd::as_raw_fd(&pty.slave),
                size.height() as u16,
                size.width() as u16,
            )?;
        }
        tty::send_master(console, &pty.master)?;
        if new_mnt {
            tty::mount_console(&pty.slave_path)?;
        }
        tty::give_slave_to(&pty.slave, process.user().uid())?;
        tty::make_stdio(pty.slave)?;
    }
    // While still root: the user the process runs as owns its stdio.
    tty::give_stdio_to(process.user().uid())?;

    rlimits::apply(process.rlimits().as_ref())?;
    if !cfg.no_new_keyring {
        join_session_keyring(&cfg.id)?;
    }

    // chdir while still root, then verify the cwd is inside the container
    // (CVE-2024-21626: a leaked host fd as cwd).
    let cwd = process.cwd();
    nix::unistd::chdir(cwd.as_path()).or_sys(|| format!("chdir to cwd {}", cwd.display()))?;
    verify_cwd()?;

    let env = build_env(
        process.env().as_deref().unwrap_or(&[]),
        process.user().uid(),
        cfg,
    )?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let exe = find_executable(args, &env)?;

    if let Some(profile) = process.apparmor_profile() {
        apparmor::apply_on_exec(&procfs, profile)?;
    }

    let released = if create {
        // sync 2: set up; wait for start.
        tracing::debug!("init: closing the pipe to signal completion");
        ch.send(&ToParent::Ready)?;
        // sync 3: `start` opens exec.fifo for reading; our blocking open for
        // writing returns then.
        let released = match cfg.fifo_fd {
            Some(fifo) => Some(wait_for_start(fifo, &procfs)?),
            None => None,
        };
        // The fifo stays open (close-on-exec) when `start` waits for the
        // startContainer hooks and the execve; else it closes now.
        released.filter(|_| crate::hooks::start_waits_for_exec(spec.hooks().as_ref()))
    } else {
        None
    };
    drop(procfs);

    // finalize() marks the channel close-on-exec with every fd above the
    // preserved ones (the parent checked those are open, so the channel is
    // above them): for exec, its closing at execve is the parent's sign of
    // success.
    finalize(cfg, spec, filter, landlock, exe, args, env, released)
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
#[allow(clippy::too_many_arguments)]
fn finalize(
    cfg: &InitConfig,
    spec: &Spec,
    filter: Option<seccomp::Filter>,
    landlock: Option<landlock::LandlockPolicy>,
    exe: CString,
    args: &[String],
    env: Vec<CString>,
    released: Option<std::fs::File>,
) -> Result<Infallible> {
    let process = spec.process().as_ref().expect("checked in init");
    let caps = process.capabilities().as_ref();
    let nnp = process.no_new_privileges().unwrap_or(false);
    let user = process.user();

    umask(Mode::from_bits_truncate(user.umask().unwrap_or(0o022)));
    // Only stdio and the preserved descriptors reach the container; the
    // fifo (above them: every preserved one is open) closes at execve,
    // which tells a waiting `start` the program runs.
    let first_closed = 3 + cfg.preserve_fds as RawFd;
    fds::cloexec_from(first_closed)?;
    for fd in 3..first_closed {
        if fds::is_open(fd) {
            fds::clear_cloexec(fd)?;
        }
    }

    capabilities::prepare(caps)?;
    if let Some(policy) = &landlock {
        landlock::apply(policy)?;
    }
    set_user(user)?;
    // Without no_new_privs, loading the filter needs CAP_SYS_ADMIN, which
    // the container may not get: keep it for that one call. It cannot
    // outlive the execve: a program's capabilities are computed anew from
    // the bounding, inheritable and ambient sets set here (capabilities(7),
    // "Transformation of capabilities during execve()"), none of which
    // gains it, so no capset has to follow the filter.
    let load_as_admin = filter.is_some() && !nnp;
    capabilities::apply(caps, load_as_admin)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().or_sys(|| "prctl PR_SET_NO_NEW_PRIVS".into())?;
    }
    // What the agent is sent, encoded now: no allocation after the filter.
    let agent = match (cfg.seccomp_listener_fd, filter.as_ref()) {
        (Some(listener), Some(f)) if f.uses_notify() => {
            let metadata = spec
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().as_ref())
                .and_then(|s| s.listener_metadata().clone());
            let body = seccomp::listener_payload(
                &cfg.state_json,
                nix::unistd::getpid().as_raw(),
                metadata.as_deref(),
            )?;
            // SAFETY: the parent connected this socket and passed it to
            // us; we are its only owner.
            Some((unsafe { OwnedFd::from_raw_fd(listener) }, body))
        }
        _ => None,
    };
    let argv: Vec<CString> = args.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    if cfg.mode == InitMode::Exec {
        // Before the filter: the profile may deny the write of this line.
        tracing::debug!("setns_init: about to exec");
    }
    // The filter: from here on only what the config itself asks for.
    let notify_fd = match filter {
        Some(f) => f.load()?,
        None => None,
    };
    if let (Some(fd), Some((sock, body))) = (notify_fd, agent) {
        seccomp::send_to_listener(&sock, &body, fd)?;
    }
    // startContainer hooks with the container's final credentials, seccomp
    // and descriptors, right before execve (as runc does).
    if cfg.mode == InitMode::Create {
        super::init_hooks::start_container(cfg, released.as_ref(), &env)?;
    }
    // SAFETY: exe, argv and env are NULL-terminated arrays of valid C
    // strings that outlive the call.
    unsafe { libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    let errno = crate::error::Os(Errno::last());
    Err(Error::invalid(format!(
        "exec {}: {}",
        exe.to_string_lossy(),
        errno.text()
    )))
}

/// Supplementary groups, gid, uid: as root, before the capability sets
/// (PR_SET_KEEPCAPS from capabilities::prepare keeps the permitted set).
fn set_user(user: &oci_spec::runtime::User) -> Result<()> {
    let additional = user.additional_gids().as_deref().unwrap_or(&[]);
    let gids: Vec<Gid> = additional.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&gids).or_sys(|| format!("setgroups {additional:?}"))?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).or_sys(|| format!("setresgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).or_sys(|| format!("setresuid {uid}"))
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

fn setdomainname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe a live byte slice.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc < 0 {
        return Err(Error::sys(format!("setdomainname {name:?}"), Errno::last()));
    }
    Ok(())
}

/// A session keyring named after the container, so containers do not share
/// the host's (runc does the same). ENOSYS (no keyring support) is fine.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = cstring(&format!("_ses.{id}"))?;
    // SAFETY: keyctl with a valid C string name.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        let e = Errno::last();
        if e != Errno::ENOSYS {
            return Err(Error::sys("join a new session keyring", e));
        }
    }
    Ok(())
}

/// The raw getcwd syscall reports a cwd outside our root as
/// "(unreachable)..." instead of a path.
fn verify_cwd() -> Result<()> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is writable for its full length.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if rc < 0 {
        return Err(Error::sys("getcwd after chdir", Errno::last()));
    }
    if buf.first() != Some(&b'/') {
        return Err(Error::invalid(
            "current working directory is outside the container's root",
        ));
    }
    Ok(())
}

/// process.env as runc prepares it (one entry per key, the last one
/// wins; HOME from the container's /etc/passwd when missing or empty,
/// else "/"; see env.rs), plus LISTEN_FDS/LISTEN_PID for socket activation.
fn build_env(env: &[String], uid: u32, cfg: &InitConfig) -> Result<Vec<CString>> {
    let mut out = crate::process::env::prepare(env, || home_of(uid).unwrap_or_else(|| "/".into()));
    if let Some(n) = cfg.listen_fds {
        out.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        out.push(format!("LISTEN_FDS={n}"));
        out.push(format!("LISTEN_PID={}", nix::unistd::getpid()));
    }
    out.iter().map(|e| cstring(e)).collect()
}

/// The image's /etc/passwd is the image's: only a regular file is read
/// (a fifo there must not block init), and at most 1 MiB of it.
fn home_of(uid: u32) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open("/etc/passwd")
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut passwd = String::new();
    f.take(1 << 20).read_to_string(&mut passwd).ok()?;
    crate::process::env::home_in_passwd(&passwd, uid)
}

/// Resolve args[0] as execvp would, with the container's PATH, so a
/// missing binary fails `create` with a clear message.
fn find_executable(args: &[String], env: &[CString]) -> Result<CString> {
    let arg0 = args
        .first()
        .ok_or_else(|| Error::invalid("process.args is empty"))?;
    if arg0.contains('/') {
        return check_exec(Path::new(arg0)).map_err(|e| e.context(format!("exec {arg0:?}")));
    }
    let path = env
        .iter()
        .find_map(|e| {
            e.to_bytes()
                .strip_prefix(b"PATH=")
                .map(|p| String::from_utf8_lossy(p).into_owned())
        })
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = PathBuf::from(dir).join(arg0);
        if let Ok(c) = check_exec(&candidate) {
            return Ok(c);
        }
    }
    Err(Error::invalid(format!(
        "exec {arg0:?}: executable file not found in $PATH"
    )))
}

fn check_exec(p: &Path) -> Result<CString> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path has a NUL byte"))?;
    let meta = std::fs::metadata(p).map_err(|e| Error::io(format!("stat {}", p.display()), e))?;
    if meta.is_dir() {
        return Err(Error::invalid(format!("{} is a directory", p.display())));
    }
    nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)
        .or_sys(|| format!("access {}", p.display()))?;
    Ok(c)
}

/// Block until `start` opens the fifo, then tell it we are going (one byte).
/// Returns the fifo, open for writing and close-on-exec.
fn wait_for_start(fifo: RawFd, procfs: &ProcfsHandle) -> Result<std::fs::File> {
    let mut f = std::fs::File::from(
        procfs
            .reopen(fifo, nix::fcntl::OFlag::O_WRONLY)
            .map_err(|e| e.context("open exec fifo"))?,
    );
    std::io::Write::write_all(&mut f, b"0").map_err(|e| Error::io("write exec fifo", e))?;
    // SAFETY: fifo is the O_PATH fd the parent passed; we own it and drop it here.
    drop(unsafe { OwnedFd::from_raw_fd(fifo) });
    Ok(f)
}
