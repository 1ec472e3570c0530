//! OCI `linux.seccomp`: validate, compile with libseccomp, patch in an ENOSYS
//! stub for syscalls newer than the profile, load with seccomp(2), and hand
//! the notify fd to a seccomp agent.
//!
//! The flow the integrator follows:
//! 1. [`validate`] while checking config.json (pure);
//! 2. [`build`] in init before pivot_root (libseccomp may read host files);
//! 3. [`Filter::load`] as the very last step before execve;
//! 4. [`send_to_listener`] with the returned fd when the profile uses `SCMP_ACT_NOTIFY`.
//!
//! Ref: OCI runtime-spec config-linux.md "Seccomp"; seccomp(2); runc
//! libcontainer/seccomp (behaviour mirrored, not code).

mod bpf;
mod compile;
pub mod learned;
mod listener;
pub mod notify;
mod profile;
mod supervise;
#[cfg(test)]
mod tests;
pub mod verdict;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};

use crate::error::{Error, Result};

pub use bpf::Filter;
pub use compile::build;
pub use listener::{encode as listener_payload, send_to_listener, send_to_supervisor};
pub use profile::{default_profile, default_profile_for, DEFAULT_CAPS};
pub use supervise::{learn_filter, new_cookie, report_filter};

/// Every `SCMP_ACT_*` brig accepts (all the OCI spec names).
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every argument comparison operator.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Every architecture libseccomp 2.5 (and oci-spec) knows.
pub const ARCHES: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Every filter flag; brig passes them to seccomp(2) itself, so
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` works with libseccomp 2.5 too.
pub const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Highest argument index a seccomp rule can test (seccomp_data.args has 6).
const MAX_ARGS: usize = 6;

/// The OCI spelling of an action, for messages.
pub(crate) fn action_name(a: LinuxSeccompAction) -> &'static str {
    match a {
        LinuxSeccompAction::ScmpActKill => "SCMP_ACT_KILL",
        LinuxSeccompAction::ScmpActKillThread => "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillProcess => "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActTrap => "SCMP_ACT_TRAP",
        LinuxSeccompAction::ScmpActErrno => "SCMP_ACT_ERRNO",
        LinuxSeccompAction::ScmpActNotify => "SCMP_ACT_NOTIFY",
        LinuxSeccompAction::ScmpActTrace => "SCMP_ACT_TRACE",
        LinuxSeccompAction::ScmpActLog => "SCMP_ACT_LOG",
        LinuxSeccompAction::ScmpActAllow => "SCMP_ACT_ALLOW",
    }
}

pub(crate) fn flag_name(f: LinuxSeccompFilterFlag) -> &'static str {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        }
    }
}

fn takes_ret(a: LinuxSeccompAction) -> bool {
    matches!(
        a,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    )
}

/// True when some rule (never the default, which `validate` rejects) notifies.
pub(crate) fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.syscalls()
        .iter()
        .flatten()
        .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify && !c.names().is_empty())
}

/// Pure checks of `linux.seccomp`.
///
/// Names of actions, operators, flags and architectures are enums in
/// oci-spec, so an unknown one already fails when config.json is parsed
/// (naming the bad value); what is left is the consistency the types cannot
/// express. Ref: config-linux.md "Seccomp".
pub fn validate(s: &LinuxSeccomp) -> Result<()> {
    let default = s.default_action();
    if default == LinuxSeccompAction::ScmpActNotify {
        // A notify default would also catch the runtime's own last syscalls
        // (and the agent handshake): runc refuses it too.
        return Err(Error::invalid(
            "seccomp defaultAction SCMP_ACT_NOTIFY is not allowed",
        ));
    }
    if let Some(ret) = s.default_errno_ret() {
        if !takes_ret(default) {
            return Err(Error::invalid(format!(
                "seccomp defaultErrnoRet {ret} given with defaultAction {}",
                action_name(default)
            )));
        }
        check_ret(ret, "defaultErrnoRet")?;
    }
    if let Some(arches) = s.architectures() {
        for a in arches {
            compile::scmp_arch(*a)?;
        }
    }
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let what = || format!("seccomp syscalls[{i}] ({})", call.names().join(","));
        if call.names().is_empty() {
            return Err(Error::invalid(format!("{} has no names", what())));
        }
        if let Some(ret) = call.errno_ret() {
            if !takes_ret(call.action()) {
                return Err(Error::invalid(format!(
                    "{}: errnoRet {ret} given with action {}",
                    what(),
                    action_name(call.action())
                )));
            }
            check_ret(ret, &format!("{}: errnoRet", what()))?;
        }
        if call.action() == LinuxSeccompAction::ScmpActNotify
            && call.names().iter().any(|n| n == "write")
        {
            // init reports errors to the parent with write(2) after the
            // filter is loaded; notifying it could deadlock (runc refuses
            // too, in these words).
            return Err(Error::invalid(format!(
                "{}: SCMP_ACT_NOTIFY cannot be used for the write syscall",
                what()
            )));
        }
        let args = call.args().as_deref().unwrap_or_default();
        if args.len() > MAX_ARGS {
            return Err(Error::invalid(format!(
                "{}: {} argument conditions, at most {MAX_ARGS}",
                what(),
                args.len()
            )));
        }
        for a in args {
            if a.index() >= MAX_ARGS {
                return Err(Error::invalid(format!(
                    "{}: argument index {} out of range 0..{MAX_ARGS}",
                    what(),
                    a.index()
                )));
            }
        }
    }
    // A listenerPath without any SCMP_ACT_NOTIFY rule is ignored, as runc
    // ignores it: nothing would ever be sent to the agent.
    let notify = uses_notify(s);
    match (notify, s.listener_path()) {
        (true, None) => Err(Error::invalid(
            "seccomp uses SCMP_ACT_NOTIFY but listenerPath is not set",
        )),
        (true, Some(p)) if !p.is_absolute() => Err(Error::invalid(format!(
            "seccomp listenerPath {} is not absolute",
            p.display()
        ))),
        _ => Ok(()),
    }
}

/// SECCOMP_RET_DATA is 16 bits wide; a larger value cannot be represented.
fn check_ret(ret: u32, what: &str) -> Result<()> {
    if ret > u32::from(u16::MAX) {
        return Err(Error::invalid(format!(
            "seccomp {what} {ret} does not fit in 16 bits"
        )));
    }
    Ok(())
}

/// The OCI name of an architecture, for messages and `features`.
pub(crate) fn arch_name(a: Arch) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{a:?}"))
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    fn parse(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validate_table() {
        use serde_json::json;
        let ok = |v| (v, None::<&str>);
        let bad = |v, m| (v, Some(m));
        let cases = [
            ok(json!({"defaultAction": "SCMP_ACT_ALLOW"})),
            ok(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38})),
            ok(json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 1})),
            bad(
                json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}),
                "defaultErrnoRet 1 given with defaultAction SCMP_ACT_KILL",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}),
                "does not fit",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}),
                "defaultAction SCMP_ACT_NOTIFY",
            ),
            ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_LOG", "errnoRet": 5}]}),
                "errnoRet 5 given with action SCMP_ACT_LOG",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": [], "action": "SCMP_ACT_LOG"}]}),
                "has no names",
            ),
            ok(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}),
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}),
                "listenerPath is not set",
            ),
            ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock"})),
            ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "a.sock"})),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "a.sock", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}),
                "not absolute",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [
                {"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
                "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
                "argument index 6 out of range",
            ),
            bad(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO",
                 "args": (0..7).map(|i| json!({"index": i % 6, "value": 1, "op": "SCMP_CMP_EQ"})).collect::<Vec<_>>()}]}),
                "7 argument conditions, at most 6",
            ),
            ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
                "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                          "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})),
        ];
        for (v, want) in cases {
            let got = validate(&parse(v.clone()));
            match (want, got) {
                (None, Ok(())) => {}
                (Some(m), Err(e)) => assert!(e.chain().contains(m), "{v}: {}", e.chain()),
                (w, g) => panic!("{v}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn unknown_names_fail_at_parse_naming_the_value() {
        use serde_json::json;
        for (v, name) in [
            (json!({"defaultAction": "SCMP_ACT_FOO"}), "SCMP_ACT_FOO"),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
                "SCMP_ARCH_VAX",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
                "SECCOMP_FILTER_FLAG_NOPE",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}),
                "SCMP_CMP_ALMOST",
            ),
        ] {
            let e = serde_json::from_value::<LinuxSeccomp>(v).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn feature_lists_match_what_parses() {
        for a in ACTIONS {
            let v = serde_json::json!({"defaultAction": a});
            assert!(serde_json::from_value::<LinuxSeccomp>(v).is_ok(), "{a}");
        }
        for o in OPERATORS {
            let v = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": o}]}]});
            assert!(serde_json::from_value::<LinuxSeccomp>(v).is_ok(), "{o}");
        }
        for a in ARCHES {
            let v = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [a]});
            let s: LinuxSeccomp = serde_json::from_value(v).unwrap();
            validate(&s).unwrap();
        }
        for f in FLAGS {
            let v = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [f]});
            assert!(serde_json::from_value::<LinuxSeccomp>(v).is_ok(), "{f}");
        }
    }

    #[test]
    fn same_arg_conditions_split_into_rules() {
        let args: Vec<oci_spec::runtime::LinuxSeccompArg> =
            serde_json::from_value(serde_json::json!([
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 1, "op": "SCMP_CMP_EQ"}]))
            .unwrap();
        assert_eq!(
            compile::rule_sets(&args)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [2]
        );
        let args: Vec<oci_spec::runtime::LinuxSeccompArg> =
            serde_json::from_value(serde_json::json!([
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]))
            .unwrap();
        assert_eq!(
            compile::rule_sets(&args)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [1, 1, 1]
        );
        assert_eq!(
            compile::rule_sets(&[])
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [0]
        );
    }

    #[test]
    fn listener_payload_shape() {
        let state = serde_json::json!({"ociVersion": "1.1.0", "id": "c"});
        let p = listener::payload(&state, 7, None);
        assert_eq!(
            p,
            serde_json::json!({"ociVersion": "1.1.0", "fds": ["seccompFd"], "pid": 7, "state": state})
        );
        let p = listener::payload(&serde_json::json!({}), 7, Some("m"));
        assert_eq!(p["metadata"], "m");
        assert_eq!(p["ociVersion"], "1.2.0");
    }
}
