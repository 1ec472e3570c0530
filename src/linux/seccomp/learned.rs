//! What brig's seccomp supervisor saw, and what it makes of it: the
//! learned allow-list profile (`seccomp learn`) and the table of would-be
//! denials (`seccomp test`). Pure but for libseccomp's syscall tables.

use std::collections::{BTreeMap, BTreeSet};

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder,
};

use super::compile::{audit_arch, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::profile::oci_arch;

/// The first caller of a syscall, and how often it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub count: u64,
    /// As the container sees it (its pid namespace), else brig's.
    pub first_pid: u32,
    pub first_comm: String,
    /// When it was first seen (0 is the first syscall recorded).
    pub order: u64,
    /// `seccomp test`: what the profile would have answered, each answer
    /// once, in the order first met.
    pub outcomes: Vec<String>,
}

/// Every notified syscall, by (`seccomp_data.arch`, number).
#[derive(Debug, Default)]
pub struct Recording {
    calls: BTreeMap<(u32, i32), Seen>,
}

/// A recorded syscall with its name, when libseccomp knows one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The arches it was made on (none when the arch is unknown).
    pub arches: Vec<Arch>,
    /// Its name, or `syscall N (arch 0x...)` for a number libseccomp does
    /// not know.
    pub name: String,
    pub known: bool,
    pub seen: Seen,
}

impl Recording {
    /// Count one call; `who` (comm and pid) is asked only for the first.
    pub fn add(
        &mut self,
        arch: u32,
        nr: i32,
        outcome: Option<String>,
        who: impl FnOnce() -> (String, u32),
    ) {
        let order = self.calls.len() as u64;
        let seen = self.calls.entry((arch, nr)).or_insert_with(|| {
            let (first_comm, first_pid) = who();
            Seen {
                count: 0,
                first_pid,
                first_comm,
                order,
                outcomes: Vec::new(),
            }
        });
        seen.count += 1;
        if let Some(o) = outcome.filter(|o| !seen.outcomes.contains(o)) {
            seen.outcomes.push(o);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls with their names, by name; one name made on two arches
    /// is one entry (counts added, the first caller of either).
    pub fn calls(&self) -> Vec<Call> {
        let mut by_name: BTreeMap<String, Call> = BTreeMap::new();
        for (&(audit, nr), seen) in &self.calls {
            let (arch, name) = match name_of(audit, nr) {
                Some((a, n)) => (Some(oci_arch(a)), Some(n)),
                None => (scmp_arch_of(audit, nr).map(oci_arch), None),
            };
            let known = name.is_some();
            let name = name.unwrap_or_else(|| format!("syscall {nr} (arch {audit:#x})"));
            by_name
                .entry(name.clone())
                .and_modify(|c| {
                    if let Some(a) = arch.filter(|a| !c.arches.contains(a)) {
                        c.arches.push(a);
                    }
                    c.seen.count += seen.count;
                    for o in &seen.outcomes {
                        if !c.seen.outcomes.contains(o) {
                            c.seen.outcomes.push(o.clone());
                        }
                    }
                    if seen.order < c.seen.order {
                        c.seen.first_pid = seen.first_pid;
                        c.seen.first_comm = seen.first_comm.clone();
                        c.seen.order = seen.order;
                    }
                })
                .or_insert(Call {
                    arches: arch.into_iter().collect(),
                    name,
                    known,
                    seen: seen.clone(),
                });
        }
        by_name.into_values().collect()
    }
}

/// Every arch brig can name a notification's `seccomp_data.arch` for.
const ARCHES: &[ScmpArch] = &[
    ScmpArch::X8664,
    ScmpArch::X86,
    ScmpArch::X32,
    ScmpArch::Aarch64,
    ScmpArch::Arm,
    ScmpArch::Riscv64,
    ScmpArch::Ppc64Le,
    ScmpArch::Ppc64,
    ScmpArch::Ppc,
    ScmpArch::S390X,
    ScmpArch::S390,
    ScmpArch::Loongarch64,
    ScmpArch::Mips64,
    ScmpArch::Mips64N32,
    ScmpArch::Mips,
    ScmpArch::Mipsel64,
    ScmpArch::Mipsel64N32,
    ScmpArch::Mipsel,
    ScmpArch::Parisc64,
    ScmpArch::Parisc,
    ScmpArch::M68k,
    ScmpArch::Sh,
    ScmpArch::Sheb,
];

/// libseccomp's arch for `seccomp_data.arch` and the number (x32 shares
/// x86_64's audit value and sets `__X32_SYSCALL_BIT` in the number).
fn scmp_arch_of(audit: u32, nr: i32) -> Option<ScmpArch> {
    if audit == AUDIT_ARCH_X86_64 {
        return Some(if nr as u32 & X32_SYSCALL_BIT != 0 {
            ScmpArch::X32
        } else {
            ScmpArch::X8664
        });
    }
    ARCHES
        .iter()
        .copied()
        .find(|a| audit_arch(*a) == Some(audit))
}

/// The syscall's name on its arch.
pub fn name_of(audit: u32, nr: i32) -> Option<(ScmpArch, String)> {
    let arch = scmp_arch_of(audit, nr)?;
    let name = ScmpSyscall::from(nr).get_name_by_arch(arch).ok()?;
    Some((arch, name))
}

/// The learned profile: an allow-list of `names` on `arches` (the native
/// one first), everything else EPERM, as brig's default profile answers
/// (and, through brig's ENOSYS stub, syscalls newer than the newest one
/// named fail with ENOSYS, so libc falls back).
pub fn allow_list(names: &BTreeSet<String>, arches: &[Arch]) -> LinuxSeccomp {
    let mut b = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(arches.to_vec());
    if !names.is_empty() {
        b = b.syscalls(vec![LinuxSyscallBuilder::default()
            .names(names.iter().cloned().collect::<Vec<_>>())
            .action(LinuxSeccompAction::ScmpActAllow)
            .build()
            .expect("syscall entry has every field")]);
    }
    b.build().expect("seccomp has every field")
}

/// The profile for what was recorded: known names only (the caller warns
/// about the others), the arches they were made on, the native one first.
pub fn learned_profile(calls: &[Call]) -> LinuxSeccomp {
    let names: BTreeSet<String> = calls
        .iter()
        .filter(|c| c.known)
        .map(|c| c.name.clone())
        .collect();
    let native = oci_arch(ScmpArch::native());
    let mut arches = vec![native];
    for a in ARCHES.iter().map(|a| oci_arch(*a)) {
        if a != native && calls.iter().any(|c| c.known && c.arches.contains(&a)) {
            arches.push(a);
        }
    }
    allow_list(&names, &arches)
}

/// `seccomp test`'s table: one line per syscall the profile would deny.
pub fn denial_table(calls: &[Call]) -> String {
    let w = calls
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max("SYSCALL".len());
    let got = |c: &Call| c.seen.outcomes.join(",");
    let g = calls
        .iter()
        .map(|c| got(c).len())
        .max()
        .unwrap_or(0)
        .max("WOULD GET".len());
    let mut out = format!(
        "{:<w$}  {:>7}  {:<g$}  {:>7}  FIRST COMM\n",
        "SYSCALL", "COUNT", "WOULD GET", "PID"
    );
    for c in calls {
        out.push_str(&format!(
            "{:<w$}  {:>7}  {:<g$}  {:>7}  {}\n",
            c.name,
            c.seen.count,
            got(c),
            c.seen.first_pid,
            c.seen.first_comm
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const I386: u32 = 0x4000_0003;

    #[test]
    fn names_by_arch() {
        type Case = (u32, i32, Option<(ScmpArch, &'static str)>);
        let table: &[Case] = &[
            (AUDIT_ARCH_X86_64, 39, Some((ScmpArch::X8664, "getpid"))),
            (I386, 20, Some((ScmpArch::X86, "getpid"))),
            (
                AUDIT_ARCH_X86_64,
                (X32_SYSCALL_BIT | 39) as i32,
                Some((ScmpArch::X32, "getpid")),
            ),
            (AUDIT_ARCH_X86_64, 100_000, None),
            (0x1234, 1, None),
        ];
        for &(audit, nr, want) in table {
            let got = name_of(audit, nr);
            assert_eq!(
                got.as_ref().map(|(a, n)| (*a, n.as_str())),
                want,
                "{audit:#x} {nr}"
            );
        }
    }

    #[test]
    fn recording_counts_and_keeps_the_first_caller() {
        let mut r = Recording::default();
        r.add(AUDIT_ARCH_X86_64, 39, None, || ("sh".into(), 1));
        r.add(AUDIT_ARCH_X86_64, 39, None, || panic!("asked twice"));
        r.add(AUDIT_ARCH_X86_64, 0, None, || ("cat".into(), 2));
        r.add(I386, 20, None, || ("old".into(), 7));
        r.add(AUDIT_ARCH_X86_64, 100_000, None, || ("x".into(), 3));
        let calls = r.calls();
        let names: Vec<(&str, u64, u32, bool)> = calls
            .iter()
            .map(|c| (c.name.as_str(), c.seen.count, c.seen.first_pid, c.known))
            .collect();
        assert_eq!(
            names,
            [
                ("getpid", 3, 1, true),
                ("read", 1, 2, true),
                ("syscall 100000 (arch 0xc000003e)", 1, 3, false),
            ]
        );
        let p = learned_profile(&calls);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{"names": ["getpid", "read"], "action": "SCMP_ACT_ALLOW"}]
            })
        );
        crate::linux::seccomp::build(&p).unwrap();
    }

    #[test]
    fn a_foreign_arch_is_listed_when_used() {
        let mut r = Recording::default();
        r.add(I386, 3, None, || ("a".into(), 1)); // read on i386
        let p = learned_profile(&r.calls());
        assert_eq!(
            p.architectures().as_deref().unwrap(),
            [Arch::ScmpArchX86_64, Arch::ScmpArchX86]
        );
    }

    #[test]
    fn table_lines() {
        let call = |n: &str, count, got: &[&str], pid, comm: &str| Call {
            arches: Vec::new(),
            name: n.into(),
            known: true,
            seen: Seen {
                count,
                first_pid: pid,
                first_comm: comm.into(),
                order: 0,
                outcomes: got.iter().map(|s| s.to_string()).collect(),
            },
        };
        let t = denial_table(&[
            call("mkdirat", 2, &["EPERM"], 5, "mkdir"),
            call("clone3", 1, &["ENOSYS"], 1, "sh"),
            call("kill", 3, &["EPERM", "kill-process"], 1, "sh"),
        ]);
        assert_eq!(
            t,
            "SYSCALL    COUNT  WOULD GET               PID  FIRST COMM\n\
             mkdirat        2  EPERM                     5  mkdir\n\
             clone3         1  ENOSYS                    1  sh\n\
             kill           3  EPERM,kill-process        1  sh\n"
        );
        let mut r = Recording::default();
        r.add(AUDIT_ARCH_X86_64, 62, Some("EPERM".into()), || {
            ("sh".into(), 1)
        });
        r.add(AUDIT_ARCH_X86_64, 62, Some("EPERM".into()), || {
            ("sh".into(), 1)
        });
        r.add(AUDIT_ARCH_X86_64, 62, Some("trap".into()), || {
            ("sh".into(), 1)
        });
        assert_eq!(r.calls()[0].seen.outcomes, ["EPERM", "trap"]);
    }
}
