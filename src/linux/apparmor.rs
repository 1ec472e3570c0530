//! AppArmor: `process.apparmorProfile`.
//!
//! Two halves, split by who runs them:
//! - [`check`] in the parent, before any process exists: the profile must be
//!   applicable (AppArmor enabled, profile loaded). A profile that cannot be
//!   applied is an error; brig never runs a container unconfined silently
//!   (SECURITY.md, "Seccomp and AppArmor specifics").
//! - [`apply_on_exec`] in init, just before execve: ask the kernel to switch
//!   to the profile at the next exec of this thread (`exec <profile>` written
//!   to `attr/apparmor/exec`). Written through the verified procfs handle,
//!   because a `/proc` the container mounted over could swallow the write and
//!   leave the process unconfined (CVE-2019-16884, CVE-2025-52881).
//!
//! Names:
//! - `""` means no profile was requested: both functions do nothing.
//! - `"unconfined"` is never looked up in the loaded-profile list (the kernel
//!   does not list it). Where AppArmor is not active it is a no-op: the
//!   process is unconfined already, which is what was asked. Where AppArmor
//!   is active it is written like any other profile, as runc does: a real
//!   exec transition, so a container of a confined brig does not inherit
//!   brig's label.
//!
//! Ref: apparmor(7), proc(5) `/proc/pid/attr/`, kernel
//! Documentation/admin-guide/LSM/apparmor.rst, linux 5.1 commit 6d9c939dbe4d
//! ("procfs: add smack subdir to attrs", which introduced `attr/<lsm>/`).

use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::error::{Context, Error, Result};
use crate::linux::procfs::ProcfsHandle;

/// The name that means "no confinement".
const UNCONFINED: &str = "unconfined";

/// Where the AppArmor module says whether it is enabled (`Y`/`N`).
const ENABLED_PARAM: &str = "module/apparmor/parameters/enabled";
/// securityfs' list of active LSMs (kernel >= 4.15).
const LSM_LIST: &str = "kernel/security/lsm";
/// apparmorfs, present only when AppArmor is the running LSM.
const AA_DIR: &str = "kernel/security/apparmor";
/// One loaded profile per line: `name (mode)`.
const AA_PROFILES: &str = "kernel/security/apparmor/profiles";

/// The per-LSM exec attribute (kernel >= 5.1), then the shared one.
const EXEC_ATTR: &str = "thread-self/attr/apparmor/exec";
const EXEC_ATTR_OLD: &str = "thread-self/attr/exec";
const CURRENT_ATTR: &str = "thread-self/attr/apparmor/current";

/// Is AppArmor enabled in this kernel? (`/sys/module/apparmor/parameters/enabled`
/// is `Y`, and securityfs lists it among the active LSMs.)
pub fn enabled() -> bool {
    enabled_in(Path::new("/sys"))
}

/// Parent-side check before any process exists.
///
/// - `""`: nothing requested, Ok.
/// - `"unconfined"`: Ok (see the module docs).
/// - any other name: AppArmor must be enabled and the profile loaded
///   (listed in `/sys/kernel/security/apparmor/profiles`), else an error.
pub fn check(profile: &str) -> Result<()> {
    check_in(Path::new("/sys"), profile)
}

/// In init, just before execve: make the next exec of this thread switch to
/// `profile`, by writing `exec <profile>` to `attr/apparmor/exec` of the
/// calling thread through `procfs` (falling back to `attr/exec` on kernels
/// before 5.1, which have no per-LSM directory).
///
/// Must be called from the thread that will execve (init is single-threaded).
pub fn apply_on_exec(procfs: &ProcfsHandle, profile: &str) -> Result<()> {
    if profile.is_empty() {
        return Ok(());
    }
    validate_name(profile)?;
    if profile == UNCONFINED && !active(procfs) {
        return Ok(());
    }
    write_exec_attr(procfs, profile)
        .context(|| format!("apply apparmor profile {profile:?} on exec"))
}

fn check_in(sys: &Path, profile: &str) -> Result<()> {
    if profile.is_empty() || profile == UNCONFINED {
        return Ok(());
    }
    validate_name(profile)?;
    if !enabled_in(sys) {
        return Err(Error::invalid(format!(
            "apparmor profile {profile:?} requested but AppArmor is not enabled in this kernel"
        )));
    }
    let path = sys.join(AA_PROFILES);
    let list = fs::read_to_string(&path).map_err(|e| {
        Error::io(
            format!(
                "read {} (checking apparmor profile {profile:?})",
                path.display()
            ),
            e,
        )
    })?;
    if !profile_listed(&list, profile) {
        return Err(Error::invalid(format!(
            "apparmor profile {profile:?} is not loaded (load it with apparmor_parser -r)"
        )));
    }
    Ok(())
}

fn enabled_in(sys: &Path) -> bool {
    let param = fs::read_to_string(sys.join(ENABLED_PARAM)).unwrap_or_default();
    if !param_enabled(&param) {
        return false;
    }
    // The module parameter says Y even when another LSM won the "major LSM"
    // slot (security=selinux); only securityfs tells whether AppArmor is
    // really running. Kernels before 4.15 have no lsm list: fall back to the
    // apparmorfs directory, which exists only when AppArmor initialised.
    match fs::read_to_string(sys.join(LSM_LIST)) {
        Ok(list) => lsm_listed(&list, "apparmor"),
        Err(_) => sys.join(AA_DIR).is_dir(),
    }
}

/// `Y\n` from the module parameter.
fn param_enabled(param: &str) -> bool {
    param.trim() == "Y"
}

/// `lockdown,capability,landlock,yama,apparmor,bpf` contains `name`.
fn lsm_listed(list: &str, name: &str) -> bool {
    list.trim().split(',').any(|l| l == name)
}

/// Is `profile` one of the `name (mode)` lines of apparmorfs' profile list?
fn profile_listed(list: &str, profile: &str) -> bool {
    list.lines()
        .filter_map(|line| line.rsplit_once(" ("))
        .any(|(name, mode)| name == profile && mode.ends_with(')'))
}

/// What the host says of AppArmor, for `brig apparmor status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The module is enabled and AppArmor is a running LSM.
    pub enabled: bool,
    /// Loaded profiles: (name, mode), as securityfs lists them.
    pub profiles: Vec<(String, String)>,
}

/// [`Status`] of this host.
pub fn status() -> Status {
    status_in(Path::new("/sys"))
}

fn status_in(sys: &Path) -> Status {
    let enabled = enabled_in(sys);
    let list = if enabled {
        fs::read_to_string(sys.join(AA_PROFILES)).unwrap_or_default()
    } else {
        String::new()
    };
    let profiles = list
        .lines()
        .filter_map(|l| l.rsplit_once(" ("))
        .filter_map(|(name, mode)| Some((name.to_string(), mode.strip_suffix(')')?.to_string())))
        .collect();
    Status { enabled, profiles }
}

/// The kernel takes the whole write as one `exec <name>` command: a newline
/// or NUL would end the name early or be rejected, so refuse them here with
/// a clear message instead of a bare EINVAL from init.
pub fn validate_name(profile: &str) -> Result<()> {
    if profile.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "apparmor profile {profile:?} contains a control character"
        )));
    }
    Ok(())
}

/// The attribute command that switches profile at the next exec.
fn exec_command(profile: &str) -> String {
    format!("exec {profile}")
}

/// Is this task under AppArmor at all? Reading our own label fails with
/// EINVAL when AppArmor is built in but not the running LSM. Kernels before
/// 5.1 have no `attr/apparmor/`: ask sysfs instead.
fn active(procfs: &ProcfsHandle) -> bool {
    match procfs.open(CURRENT_ATTR, OFlag::O_RDONLY) {
        Ok(fd) => {
            let mut label = String::new();
            fs::File::from(fd).read_to_string(&mut label).is_ok() && !label.trim().is_empty()
        }
        Err(e) if e.errno() == Some(Errno::ENOENT) => enabled(),
        Err(_) => false,
    }
}

fn write_exec_attr(procfs: &ProcfsHandle, profile: &str) -> Result<()> {
    let (rel, fd) = match procfs.open(EXEC_ATTR, OFlag::O_WRONLY) {
        Ok(fd) => (EXEC_ATTR, fd),
        // No per-LSM directory: a kernel before 5.1, where attr/exec is
        // AppArmor's when AppArmor is the major LSM (check() made sure).
        Err(e) if e.errno() == Some(Errno::ENOENT) => {
            (EXEC_ATTR_OLD, procfs.open(EXEC_ATTR_OLD, OFlag::O_WRONLY)?)
        }
        Err(e) => return Err(e),
    };
    let cmd = exec_command(profile);
    // One write(2): the kernel parses each write as a whole command. It
    // answers ENOENT when the profile is not loaded.
    let n = nix::unistd::write(fd.as_fd(), cmd.as_bytes())
        .map_err(|e| Error::sys(format!("write {cmd:?} to /proc/{rel}"), e))?;
    if n != cmd.len() {
        return Err(Error::invalid(format!(
            "short write of {cmd:?} to /proc/{rel}: {n} of {} bytes",
            cmd.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /sys: `param` for the module parameter, `lsm` for securityfs'
    /// list (None: no lsm file), `profiles` for apparmorfs (None: no dir).
    fn fake_sys(
        param: Option<&str>,
        lsm: Option<&str>,
        profiles: Option<&str>,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        if let Some(t) = param {
            put(ENABLED_PARAM, t);
        }
        if let Some(t) = lsm {
            put(LSM_LIST, t);
        }
        if let Some(t) = profiles {
            put(AA_PROFILES, t);
        }
        dir
    }

    const LOADED: &str = "brig-default (enforce)\n/usr/bin/man (enforce)\nlax (complain)\n";
    const LSMS: &str = "lockdown,capability,landlock,yama,apparmor,tomoyo,bpf";

    #[test]
    fn param_and_lsm_list_parse() {
        for (param, want) in [
            ("Y\n", true),
            ("Y", true),
            ("N\n", false),
            ("", false),
            ("YES", false),
        ] {
            assert_eq!(param_enabled(param), want, "{param:?}");
        }
        for (list, want) in [
            (LSMS, true),
            ("apparmor\n", true),
            ("lockdown,capability,landlock,bpf\n", false),
            ("capability,apparmorx", false),
            ("", false),
        ] {
            assert_eq!(lsm_listed(list, "apparmor"), want, "{list:?}");
        }
    }

    #[test]
    fn profile_list_matches_whole_names() {
        for (name, want) in [
            ("brig-default", true),
            ("/usr/bin/man", true),
            ("lax", true),
            ("brig", false),
            ("brig-default (enforce)", false),
            ("enforce", false),
            ("", false),
        ] {
            assert_eq!(profile_listed(LOADED, name), want, "{name:?}");
        }
        assert!(profile_listed("with space (enforce)\n", "with space"));
    }

    #[test]
    fn enabled_needs_param_and_securityfs() {
        let cases = [
            (Some("Y\n"), Some(LSMS), None, true),
            (Some("N\n"), Some(LSMS), None, false),
            (None, Some(LSMS), None, false),
            // Built in, but another LSM is the running one.
            (
                Some("Y\n"),
                Some("lockdown,capability,selinux"),
                None,
                false,
            ),
            // securityfs not mounted: cannot tell, so not enabled.
            (Some("Y\n"), None, None, false),
            // Pre-4.15 kernel: no lsm list, apparmorfs directory decides.
            (Some("Y\n"), None, Some(""), true),
        ];
        for (param, lsm, profiles, want) in cases {
            let sys = fake_sys(param, lsm, profiles);
            assert_eq!(
                enabled_in(sys.path()),
                want,
                "{param:?} {lsm:?} {profiles:?}"
            );
        }
    }

    #[test]
    fn check_cases() {
        let on = fake_sys(Some("Y\n"), Some(LSMS), Some(LOADED));
        let off = fake_sys(Some("N\n"), Some(LSMS), None);
        let cases: [(&Path, &str, Option<&str>); 8] = [
            (on.path(), "brig-default", None),
            (on.path(), "lax", None),
            (on.path(), "", None),
            (on.path(), "unconfined", None),
            (off.path(), "unconfined", None),
            (off.path(), "", None),
            (
                on.path(),
                "nope",
                Some("apparmor profile \"nope\" is not loaded (load it with apparmor_parser -r)"),
            ),
            (
                off.path(),
                "brig-default",
                Some("apparmor profile \"brig-default\" requested but AppArmor is not enabled in this kernel"),
            ),
        ];
        for (sys, name, want) in cases {
            let got = check_in(sys, name).map_err(|e| e.chain());
            match want {
                None => assert!(got.is_ok(), "{name:?}: {got:?}"),
                Some(msg) => assert_eq!(got.unwrap_err(), msg, "{name:?}"),
            }
        }
    }

    #[test]
    fn check_rejects_control_characters() {
        let on = fake_sys(Some("Y\n"), Some(LSMS), Some(LOADED));
        let err = check_in(on.path(), "brig-default\nexec x").unwrap_err();
        assert!(err.chain().contains("control character"), "{}", err.chain());
    }

    #[test]
    fn check_unreadable_profile_list_is_an_error() {
        // Enabled, but apparmorfs has no profiles file.
        let sys = fake_sys(Some("Y\n"), Some(LSMS), None);
        let err = check_in(sys.path(), "brig-default").unwrap_err();
        assert!(
            err.chain()
                .contains("checking apparmor profile \"brig-default\""),
            "{}",
            err.chain()
        );
        assert_eq!(err.errno(), Some(Errno::ENOENT));
    }

    #[test]
    fn exec_command_format() {
        assert_eq!(exec_command("brig-default"), "exec brig-default");
        assert_eq!(exec_command("unconfined"), "exec unconfined");
    }

    /// On a kernel without AppArmor (the development machine), "unconfined"
    /// is a no-op and a real profile fails loudly. Run in a thread of its own:
    /// attr/exec is per thread, so nothing outlives it even if a write landed.
    #[test]
    fn apply_without_apparmor() {
        crate::skip::require_root!();
        if enabled() {
            return crate::skip::test(
                "AppArmor is enabled here; the VM test (make test-apparmor) covers apply_on_exec",
            );
        }
        std::thread::spawn(|| {
            let procfs = ProcfsHandle::new().unwrap();
            apply_on_exec(&procfs, "").unwrap();
            apply_on_exec(&procfs, "unconfined").unwrap();
            let err = apply_on_exec(&procfs, "brig-default").unwrap_err();
            assert!(
                err.chain()
                    .starts_with("apply apparmor profile \"brig-default\" on exec: "),
                "{}",
                err.chain()
            );
        })
        .join()
        .unwrap();
    }
}
