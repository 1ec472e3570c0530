//! brig's one error type.
//!
//! Variants name the operation that failed; the message carries the object
//! (path, value, id) and the source carries the errno. `Display` never repeats
//! its source: the chain is joined once, at the edge, by [`Error::chain`].

use std::fmt;

use nix::errno::Errno;

/// An errno as brig prints it: `operation not permitted (EPERM)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Os(pub Errno);

impl Os {
    /// strerror(3) as Go and runc print it: "no such file or directory".
    pub fn text(&self) -> String {
        let desc = self.0.desc();
        let mut chars = desc.chars();
        match chars.next() {
            Some(first) => format!("{}{}", first.to_lowercase(), chars.as_str()),
            None => String::new(),
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.text(), self.0)
    }
}

impl std::error::Error for Os {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json or the command line asks for something brig will not do.
    #[error("{0}")]
    Invalid(String),
    /// A system call failed; `op` names the call and its object.
    #[error("{op}")]
    Sys {
        op: String,
        #[source]
        errno: Os,
    },
    /// I/O that failed without an errno (short read, bad UTF-8, ...).
    #[error("{op}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// JSON that could not be read or written.
    #[error("{op}")]
    Json {
        op: String,
        #[source]
        source: serde_json::Error,
    },
    /// libseccomp refused a rule or the filter.
    #[error("{op}")]
    Seccomp {
        op: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Context added by an outer layer ("create c1").
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
    /// An error raised inside the container's init, carried across the
    /// channel as its whole chain plus errno.
    #[error("{chain}")]
    Init { chain: String, errno: Option<i32> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn sys(op: impl Into<String>, errno: Errno) -> Self {
        Error::Sys {
            op: op.into(),
            errno: Os(errno),
        }
    }

    /// An io::Error carrying an errno becomes [`Error::Sys`], so every
    /// syscall failure prints the same way.
    pub fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        match source.raw_os_error() {
            Some(raw) => Error::sys(op, Errno::from_raw(raw)),
            None => Error::Io {
                op: op.into(),
                source,
            },
        }
    }

    pub fn json(op: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            op: op.into(),
            source,
        }
    }

    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The errno at the bottom of the chain, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(errno.0),
            Error::Context { source, .. } => source.errno(),
            Error::Init { errno, .. } => errno.map(Errno::from_raw),
            _ => None,
        }
    }

    /// The whole chain on one line: `create c1: mount proc on /proc: operation not permitted (EPERM)`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(e) = cur {
            let s = e.to_string();
            if !s.is_empty() {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
        }
        out
    }
}

/// `.or_sys(|| format!("mount {src} on {dst}"))` for nix results.
pub trait SysResultExt<T> {
    fn or_sys(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysResultExt<T> for std::result::Result<T, Errno> {
    fn or_sys(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
}

/// `.or_io(|| format!("read {}", path.display()))` for std::io results.
pub trait IoResultExt<T> {
    fn or_io(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn or_io(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(op(), e))
    }
}

/// `.context(|| format!("create {id}"))` for brig results.
pub trait Context<T> {
    fn context(self, ctx: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, ctx: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(ctx()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_joins_each_layer_once() {
        let e = Error::sys("mount proc on /proc", Errno::EPERM).context("create c1");
        assert_eq!(
            e.chain(),
            "create c1: mount proc on /proc: operation not permitted (EPERM)"
        );
        assert_eq!(e.errno(), Some(Errno::EPERM));
    }

    #[test]
    fn io_errors_with_errno_print_like_syscalls() {
        let e = Error::io(
            "open /nope",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(e.chain(), "open /nope: no such file or directory (ENOENT)");
    }
}
