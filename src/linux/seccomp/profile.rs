//! brig's default profile (profiles/seccomp/default.json).
//!
//! The file is OCI `linux.seccomp` plus, per syscall entry, the
//! `includes`/`excludes` conditions `{caps, arches, minKernel}` that
//! Docker-style profiles use and oci-spec's `LinuxSyscall` lacks: an entry
//! applies when the process has every cap in `includes.caps`, the native arch
//! is in `includes.arches` (if given) and the kernel is at least
//! `includes.minKernel`; `excludes` removes it when any of its conditions
//! holds. brig evaluates them here, so the result is plain OCI.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder, LinuxSyscall,
    LinuxSyscallBuilder,
};
use serde::Deserialize;

const DEFAULT_JSON: &str = include_str!("../../../profiles/seccomp/default.json");

/// The capabilities containerd/CRI gives a container by default; what
/// [`default_profile`] evaluates the profile for.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProfileFile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Vec<Arch>,
    syscalls: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    #[allow(dead_code)]
    comment: Option<String>,
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Cond,
    #[serde(default)]
    excludes: Cond,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Cond {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<Arch>,
    min_kernel: Option<String>,
}

/// Where the profile is evaluated: the process's capabilities, the native
/// arch and the running kernel's (major, minor).
pub(super) struct Target<'a> {
    pub caps: &'a [String],
    pub native: Arch,
    pub kernel: (u32, u32),
}

pub(super) fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Capability names compare case-insensitively, with or without `CAP_`.
fn has_cap(caps: &[String], want: &str) -> bool {
    let norm = |c: &str| {
        let u = c.to_ascii_uppercase();
        u.strip_prefix("CAP_").map(str::to_owned).unwrap_or(u)
    };
    let want = norm(want);
    caps.iter().any(|c| norm(c) == want)
}

fn kernel_at_least(t: &Target, min: &str) -> bool {
    parse_kernel(min).is_some_and(|m| t.kernel >= m)
}

impl Entry {
    fn applies(&self, t: &Target) -> bool {
        let inc = &self.includes;
        let exc = &self.excludes;
        inc.caps.iter().all(|c| has_cap(t.caps, c))
            && (inc.arches.is_empty() || inc.arches.contains(&t.native))
            && inc
                .min_kernel
                .as_deref()
                .is_none_or(|m| kernel_at_least(t, m))
            && !exc.caps.iter().any(|c| has_cap(t.caps, c))
            && !exc.arches.contains(&t.native)
            && !exc
                .min_kernel
                .as_deref()
                .is_some_and(|m| kernel_at_least(t, m))
    }
}

/// The arches a native arch runs binaries of (its compat ABIs).
fn family(native: Arch) -> &'static [Arch] {
    use Arch::*;
    match native {
        ScmpArchX86_64 => &[ScmpArchX86_64, ScmpArchX86, ScmpArchX32],
        ScmpArchAarch64 => &[ScmpArchAarch64, ScmpArchArm],
        ScmpArchS390x => &[ScmpArchS390x, ScmpArchS390],
        ScmpArchMips64 => &[ScmpArchMips64, ScmpArchMips64n32, ScmpArchMips],
        ScmpArchMipsel64 => &[ScmpArchMipsel64, ScmpArchMipsel64n32, ScmpArchMipsel],
        ScmpArchPpc64 => &[ScmpArchPpc64, ScmpArchPpc],
        _ => &[],
    }
}

pub(super) fn parse(json: &str) -> ProfileFile {
    serde_json::from_str(json).expect("profiles/seccomp/default.json is valid (tested)")
}

pub(super) fn evaluate(p: &ProfileFile, t: &Target) -> LinuxSeccomp {
    let fam = family(t.native);
    let arches: Vec<Arch> = p
        .architectures
        .iter()
        .copied()
        .filter(|a| *a == t.native || fam.contains(a))
        .collect();
    let syscalls: Vec<LinuxSyscall> = p
        .syscalls
        .iter()
        .filter(|e| e.applies(t))
        .map(|e| {
            let mut b = LinuxSyscallBuilder::default()
                .names(e.names.clone())
                .action(e.action);
            if let Some(r) = e.errno_ret {
                b = b.errno_ret(r);
            }
            if let Some(a) = &e.args {
                b = b.args(a.clone());
            }
            b.build().expect("syscall entry has every field")
        })
        .collect();
    let mut b = LinuxSeccompBuilder::default()
        .default_action(p.default_action)
        .architectures(arches)
        .syscalls(syscalls);
    if let Some(r) = p.default_errno_ret {
        b = b.default_errno_ret(r);
    }
    b.build().expect("seccomp has every field")
}

fn native_arch() -> Arch {
    oci_arch(libseccomp::ScmpArch::native())
}

/// The OCI name of a libseccomp arch (`SCMP_ARCH_NATIVE` for one oci-spec
/// does not know).
pub(super) fn oci_arch(a: libseccomp::ScmpArch) -> Arch {
    use libseccomp::ScmpArch as S;
    use Arch::*;
    match a {
        S::X86 => ScmpArchX86,
        S::X8664 => ScmpArchX86_64,
        S::X32 => ScmpArchX32,
        S::Arm => ScmpArchArm,
        S::Aarch64 => ScmpArchAarch64,
        S::Loongarch64 => ScmpArchLoongarch64,
        S::M68k => ScmpArchM68k,
        S::Mips => ScmpArchMips,
        S::Mips64 => ScmpArchMips64,
        S::Mips64N32 => ScmpArchMips64n32,
        S::Mipsel => ScmpArchMipsel,
        S::Mipsel64 => ScmpArchMipsel64,
        S::Mipsel64N32 => ScmpArchMipsel64n32,
        S::Ppc => ScmpArchPpc,
        S::Ppc64 => ScmpArchPpc64,
        S::Ppc64Le => ScmpArchPpc64le,
        S::S390 => ScmpArchS390,
        S::S390X => ScmpArchS390x,
        S::Parisc => ScmpArchParisc,
        S::Parisc64 => ScmpArchParisc64,
        S::Riscv64 => ScmpArchRiscv64,
        S::Sh => ScmpArchSh,
        S::Sheb => ScmpArchSheb,
        _ => ScmpArchNative,
    }
}

/// brig's default profile for a process with `caps` (its bounding set,
/// e.g. `["CAP_SYS_ADMIN", ...]`), on this machine's arch and kernel.
pub fn default_profile_for(caps: &[String]) -> LinuxSeccomp {
    let kernel = nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_kernel(&u.release().to_string_lossy()))
        .unwrap_or((0, 0));
    let t = Target {
        caps,
        native: native_arch(),
        kernel,
    };
    evaluate(&parse(DEFAULT_JSON), &t)
}

/// brig's default profile for containerd's default capability set
/// ([`DEFAULT_CAPS`]): nothing gated on CAP_SYS_ADMIN, CAP_SYS_PTRACE, ...
pub fn default_profile() -> LinuxSeccomp {
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    default_profile_for(&caps)
}

#[cfg(test)]
pub(super) const DEFAULT_JSON_FOR_TESTS: &str = DEFAULT_JSON;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &LinuxSeccomp) -> Vec<(String, LinuxSeccompAction, bool)> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|c| {
                c.names()
                    .iter()
                    .map(move |n| (n.clone(), c.action(), c.args().is_some()))
            })
            .collect()
    }

    fn has(s: &LinuxSeccomp, name: &str, conditional: bool) -> bool {
        names(s).iter().any(|(n, a, c)| {
            n == name && *a == LinuxSeccompAction::ScmpActAllow && *c == conditional
        })
    }

    fn eval(caps: &[&str], native: Arch, kernel: (u32, u32)) -> LinuxSeccomp {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        let t = Target {
            caps: &caps,
            native,
            kernel,
        };
        evaluate(&parse(DEFAULT_JSON_FOR_TESTS), &t)
    }

    #[test]
    fn evaluation_table() {
        use Arch::*;
        let new = (6, 18);
        let unpriv = eval(DEFAULT_CAPS, ScmpArchX86_64, new);
        let admin = eval(&["CAP_SYS_ADMIN"], ScmpArchX86_64, new);
        let s390 = eval(&[], ScmpArchS390x, new);
        let old = eval(&[], ScmpArchX86_64, (4, 4));
        let ptrace_old = eval(&["sys_ptrace"], ScmpArchX86_64, (4, 4));
        // (profile, syscall, conditional, expected allowed)
        let table: &[(&LinuxSeccomp, &str, bool, bool)] = &[
            (&unpriv, "read", false, true),
            (&unpriv, "mount", false, false),
            (&unpriv, "keyctl", false, false),
            (&unpriv, "unshare", true, true),
            (&unpriv, "unshare", false, false),
            (&unpriv, "clone", true, true),
            (&unpriv, "clone", false, false),
            (&unpriv, "chroot", false, true), // CAP_SYS_CHROOT is a default cap
            (&unpriv, "ptrace", false, true),
            (&unpriv, "bpf", false, false),
            (&admin, "mount", false, true),
            (&admin, "clone", false, true),
            (&admin, "clone", true, false),
            (&admin, "clone3", false, true),
            (&admin, "chroot", false, false),
            (&old, "ptrace", false, false),
            (&ptrace_old, "ptrace", false, true),
        ];
        for (i, (p, n, cond, want)) in table.iter().enumerate() {
            assert_eq!(has(p, n, *cond), *want, "case {i}: {n}");
        }
        // clone's flags argument on s390 is index 1.
        let s390_clone: Vec<usize> = s390
            .syscalls()
            .iter()
            .flatten()
            .filter(|c| c.names().iter().any(|n| n == "clone"))
            .flat_map(|c| c.args().iter().flatten().map(|a| a.index()))
            .collect();
        assert_eq!(s390_clone, [1]);
        assert_eq!(
            unpriv.architectures().as_deref().unwrap(),
            [ScmpArchX86_64, ScmpArchX86, ScmpArchX32]
        );
        assert_eq!(
            s390.architectures().as_deref().unwrap(),
            [ScmpArchS390x, ScmpArchS390]
        );
    }

    #[test]
    fn default_profile_validates_and_builds() {
        for p in [
            default_profile(),
            default_profile_for(&["CAP_SYS_ADMIN".into()]),
        ] {
            crate::linux::seccomp::validate(&p).unwrap();
            crate::linux::seccomp::build(&p).unwrap();
        }
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("x"), None);
    }
}
