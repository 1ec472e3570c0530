//! brig's one error type.
//!
//! Variants name the operation that failed; the message carries the object
//! (path, value, id) and the source carries the errno. `Display` never repeats
//! its source: the chain is joined once, at the edge, by [`Error::chain`].
//!
//! A caller that decides by what failed matches [`Error::kind`] (or
//! [`Error::errno`]), never the message text: the text is for people and
//! for the clients that parse runc's lines, and stays as runc words it.

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
    /// Refused by validation: config.json, the command line or the
    /// container's state asks for something brig will not do (made by
    /// [`Error::invalid`]). Nothing was changed for it.
    #[error("{0}")]
    Refused(String),
    /// No container has this id (no state under `--root`). The text is
    /// runc's, which containerd and runc's tests look for.
    #[error("container {id} does not exist")]
    NotFound { id: String },
    /// The container id is taken. The text is runc's.
    #[error("container {id} already exists")]
    AlreadyExists { id: String },
    /// Refused by a node policy (the host administrator's rules, not the
    /// OCI spec's): one line naming the policy, the rule and the config
    /// field it refused, then why.
    #[error("{}", policy_line(policy, rule, field, reason))]
    Policy {
        policy: String,
        rule: String,
        /// The config.json field, as a path: `linux.namespaces`.
        field: String,
        /// What about the field the rule refuses; may be empty.
        reason: String,
    },
    /// A kernel call failed with an errno; `op` names the call and its
    /// object.
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
    /// Context added by an outer layer ("create c1"). Transparent to
    /// [`Error::kind`] and [`Error::errno`].
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

/// What failed, for a caller that decides by it: match this, never the
/// message text. One per [`Error`] variant; [`Error::Context`] layers are
/// looked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Refused by validation ([`Error::invalid`]).
    Refused,
    /// No container with this id.
    NotFound,
    /// The container id is taken.
    AlreadyExists,
    /// Refused by a node policy.
    Policy,
    /// A kernel call failed; [`Error::errno`] says with what.
    Sys,
    /// I/O failed without an errno.
    Io,
    /// JSON could not be read or written.
    Json,
    /// libseccomp refused a rule or the filter.
    Seccomp,
    /// The container's init failed; its chain came across as text (with
    /// its errno, if any, in [`Error::errno`]).
    Init,
}

/// The one line of [`Error::Policy`]: `refused by node policy "p" (rule
/// "r"): linux.namespaces: reason`. Control characters in any part are
/// escaped, so it stays one line whatever a policy file holds.
fn policy_line(policy: &str, rule: &str, field: &str, reason: &str) -> String {
    let mut line = format!(
        "refused by node policy {policy:?} (rule {rule:?}): {}",
        one_line(field)
    );
    if !reason.is_empty() {
        line.push_str(": ");
        line.push_str(&one_line(reason));
    }
    line
}

/// `s` with control characters escaped (`\n`, `\u{1b}`).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Refused by validation: `msg` says what was asked and why brig will
    /// not do it ([`ErrorKind::Refused`]).
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Refused(msg.into())
    }

    /// `container {id} does not exist` ([`ErrorKind::NotFound`]).
    pub fn not_found(id: impl Into<String>) -> Self {
        Error::NotFound { id: id.into() }
    }

    /// `container {id} already exists` ([`ErrorKind::AlreadyExists`]).
    pub fn already_exists(id: impl Into<String>) -> Self {
        Error::AlreadyExists { id: id.into() }
    }

    /// Refused by node policy `policy`, rule `rule`, for config.json's
    /// `field` (a path: `process.capabilities.bounding`); `reason` may be
    /// empty ([`ErrorKind::Policy`]).
    pub fn policy(
        policy: impl Into<String>,
        rule: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Policy {
            policy: policy.into(),
            rule: rule.into(),
            field: field.into(),
            reason: reason.into(),
        }
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

    /// What failed, looking through [`Error::Context`] layers.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Refused(_) => ErrorKind::Refused,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Policy { .. } => ErrorKind::Policy,
            Error::Sys { .. } => ErrorKind::Sys,
            Error::Io { .. } => ErrorKind::Io,
            Error::Json { .. } => ErrorKind::Json,
            Error::Seccomp { .. } => ErrorKind::Seccomp,
            Error::Context { source, .. } => source.kind(),
            Error::Init { .. } => ErrorKind::Init,
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

    /// Each kind, bare and under two Context layers.
    #[test]
    fn kind_looks_through_context() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let short = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "short read");
        let cases: Vec<(Error, ErrorKind)> = vec![
            (Error::invalid("no"), ErrorKind::Refused),
            (Error::not_found("c1"), ErrorKind::NotFound),
            (Error::already_exists("c1"), ErrorKind::AlreadyExists),
            (Error::policy("p", "r", "f", ""), ErrorKind::Policy),
            (Error::sys("kill 1", Errno::ESRCH), ErrorKind::Sys),
            (Error::io("read x", short), ErrorKind::Io),
            (Error::json("parse x", json), ErrorKind::Json),
            (
                Error::Init {
                    chain: "mount: denied".into(),
                    errno: Some(libc::EACCES),
                },
                ErrorKind::Init,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.kind(), want, "{}", e.chain());
            let line = e.chain();
            let wrapped = e.context("inner").context("create c1");
            assert_eq!(wrapped.kind(), want, "{}", wrapped.chain());
            assert_eq!(wrapped.chain(), format!("create c1: inner: {line}"));
        }
    }

    /// The lines runc's tests and containerd parse stay byte for byte.
    #[test]
    fn messages_are_unchanged() {
        for (e, want) in [
            (Error::not_found("c1"), "container c1 does not exist"),
            (Error::already_exists("c1"), "container c1 already exists"),
            (
                Error::invalid("container not running"),
                "container not running",
            ),
            (
                Error::not_found("a.b-c").context("delete a.b-c"),
                "delete a.b-c: container a.b-c does not exist",
            ),
        ] {
            assert_eq!(e.chain(), want);
        }
    }

    #[test]
    fn policy_is_one_line_naming_policy_rule_and_field() {
        for (e, want) in [
            (
                Error::policy("restricted", "no-host-net", "linux.namespaces", ""),
                r#"refused by node policy "restricted" (rule "no-host-net"): linux.namespaces"#,
            ),
            (
                Error::policy(
                    "restricted",
                    "caps",
                    "process.capabilities.bounding",
                    "CAP_SYS_ADMIN is not allowed",
                ),
                r#"refused by node policy "restricted" (rule "caps"): process.capabilities.bounding: CAP_SYS_ADMIN is not allowed"#,
            ),
            (
                Error::policy("p\nx", "r", "f\n", "a\nb"),
                r#"refused by node policy "p\nx" (rule "r"): f\n: a\nb"#,
            ),
        ] {
            assert_eq!(e.chain(), want);
            assert!(!e.chain().contains('\n'));
        }
    }
}
