//! The container's program: its working directory, its path, and the
//! execve that starts it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::{Error, Result, SysResultExt};

/// chdir to `cwd` (while still root), then check that the result is inside
/// our root: the raw getcwd syscall reports a cwd outside it as
/// "(unreachable)..." instead of a path. Ref: CVE-2024-21626 (a leaked
/// host directory fd as cwd).
pub fn chdir_inside(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).or_sys(|| format!("chdir to cwd {}", cwd.display()))?;
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

/// A small text file of the image (/etc/passwd), read only if it is a
/// regular file (a fifo there must not block init) and at most `limit`
/// bytes of it; None if it cannot be read.
pub fn read_image_file(path: &str, limit: u64) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(limit).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The default PATH when the process's environment has none (runc's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolve args[0] as execvp would, with `path` (the process's PATH), so
/// a missing binary fails `create` with a clear message.
pub fn find_executable(arg0: &str, path: Option<&str>) -> Result<CString> {
    if arg0.contains('/') {
        return check_exec(Path::new(arg0)).map_err(|e| e.context(format!("exec {arg0:?}")));
    }
    for dir in path
        .unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| !d.is_empty())
    {
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

/// execve's arguments, built ahead: after the seccomp filter nothing may
/// allocate or make a call the profile could deny, so [`Prepared::exec`]
/// makes only the one syscall.
pub struct Prepared {
    exe: CString,
    // The pointer arrays point into these; they live as long as `self`
    // (a CString's bytes do not move when the CString does).
    _argv: Vec<CString>,
    env: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    env_ptrs: Vec<*const libc::c_char>,
}

impl Prepared {
    pub fn new(exe: CString, args: &[String], env: Vec<CString>) -> Result<Prepared> {
        let argv: Vec<CString> = args
            .iter()
            .map(|a| {
                CString::new(a.as_str())
                    .map_err(|_| Error::invalid(format!("{a:?} contains a NUL byte")))
            })
            .collect::<Result<_>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        Ok(Prepared {
            exe,
            _argv: argv,
            env,
            argv_ptrs,
            env_ptrs,
        })
    }

    /// The environment the program gets (startContainer hooks without
    /// `env` of their own get it too).
    pub fn env(&self) -> &[CString] {
        &self.env
    }

    /// execve; returns only on failure, in runc's words (`exec /run.sh: no
    /// such file or directory`: callers match it).
    pub fn exec(&self) -> Error {
        // SAFETY: exe, argv and env are NULL-terminated arrays of valid C
        // strings owned by self, which outlives the call.
        unsafe {
            libc::execve(
                self.exe.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.env_ptrs.as_ptr(),
            )
        };
        let errno = crate::error::Os(Errno::last());
        Error::invalid(format!(
            "exec {}: {}",
            self.exe.to_string_lossy(),
            errno.text()
        ))
    }
}
