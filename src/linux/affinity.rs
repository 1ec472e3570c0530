//! CPU affinity: `process.execCPUAffinity` (runtime-spec 1.3) for an
//! exec'd process, and the reset every other container process gets.
//!
//! `initial` is where the runtime's part of an exec'd process runs: the
//! parent takes those CPUs for itself around the clone, so the child is
//! born on them and keeps them when it moves into the container's cgroup
//! (the kernel keeps a mask asked for with sched_setaffinity across a
//! cpuset change, intersected with the new cpuset, since Linux 6.2).
//! `final` is what the program runs on; set by init right before execve.
//!
//! Without either, the process must not inherit the caller's affinity
//! (`taskset -c 0 brig run`): init asks for every CPU, and the kernel
//! leaves those the cgroup's cpuset allows. No cpuset.cpus is read.
//!
//! Ref: sched_setaffinity(2), cpuset(7), runtime-spec config.md
//! "execCPUAffinity"; runc libcontainer/process_linux.go
//! (tryResetCPUAffinity, startWithCPUAffinity, setFinalCPUAffinity) and
//! configs.ToCPUSet (the list format).

use nix::errno::Errno;
use oci_spec::runtime::ExecCPUAffinity;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The highest CPU (or NUMA node) number a list may name: runc's sanity
/// limit (configs.MaxCPU), so a bogus list cannot make a huge mask. Also
/// the size of the mask that means "every CPU".
pub const MAX_ID: u64 = 64 * 1024;

/// A set of CPUs, 64 a word, lowest first: the kernel's cpumask as
/// sched_setaffinity(2) takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSet(pub Vec<u64>);

impl CpuSet {
    /// The first 64 CPUs as runc's `--debug` prints them (`0x3`).
    pub fn low_mask(&self) -> String {
        format!("{:#x}", self.0.first().copied().unwrap_or(0))
    }
}

/// What the program's affinity becomes, decided by the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalAffinity {
    /// No execCPUAffinity (and always the container's init): every CPU
    /// the cgroup's cpuset allows, not the caller's.
    #[default]
    Reset,
    /// Only `initial`: what the kernel made of it at the cgroup move.
    Keep,
    /// `final`.
    Set(CpuSet),
}

/// `execCPUAffinity`, checked: (`initial`, what the program gets). An
/// empty list is no setting, as in runc's ConvertCPUAffinity.
pub fn plan(a: Option<&ExecCPUAffinity>) -> Result<(Option<CpuSet>, FinalAffinity)> {
    let parse = |list: Option<&String>, which: &str| -> Result<Option<CpuSet>> {
        let list = list.map(String::as_str).unwrap_or("");
        let set = parse_list(list)
            .map_err(|e| Error::invalid(format!("bad CPUAffinity.{which}: {e}")))?;
        Ok(Some(CpuSet(set)).filter(|s| !s.0.is_empty()))
    };
    let Some(a) = a else {
        return Ok((None, FinalAffinity::Reset));
    };
    let initial = parse(a.initial().as_ref(), "Initial")?;
    let last = parse(a.cpu_affinity_final().as_ref(), "Final")?;
    let fin = match (&initial, last) {
        (_, Some(set)) => FinalAffinity::Set(set),
        (Some(_), None) => FinalAffinity::Keep,
        (None, None) => FinalAffinity::Reset,
    };
    Ok((initial, fin))
}

/// A list ("0-3,5,7-9"; spaces and empty elements allowed, as runc reads
/// it) as a mask, 64 a word; empty for an empty list. CPUs and NUMA
/// nodes (`linux.memoryPolicy.nodes`) are written alike.
pub fn parse_list(list: &str) -> std::result::Result<Vec<u64>, String> {
    let num = |s: &str| -> std::result::Result<u64, String> {
        let n: u64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
        if n > MAX_ID {
            return Err(format!("values larger than {MAX_ID} are not supported"));
        }
        Ok(n)
    };
    let mut ranges = Vec::new();
    for r in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (start, end) = match r.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(r)?, num(r)?),
        };
        if start > end {
            return Err(format!("invalid range: {r}"));
        }
        ranges.push((start, end));
    }
    if ranges.is_empty() && !list.is_empty() {
        return Err(format!("no members found in set {list:?}"));
    }
    let top = ranges.iter().map(|r| r.1).max();
    let mut mask = vec![0u64; top.map_or(0, |t| t as usize / 64 + 1)];
    for (start, end) in ranges {
        for n in start..=end {
            mask[n as usize / 64] |= 1 << (n % 64);
        }
    }
    Ok(mask)
}

/// The list in its plain form ("0-3,7"), for a config whose list oci-spec
/// would refuse but runc reads (" 1, 3,"): `None` for an empty list.
pub fn canonical_list(list: &str) -> std::result::Result<Option<String>, String> {
    let mask = parse_list(list)?;
    let mut out: Vec<String> = Vec::new();
    let mut cpu = 0u64;
    let top = mask.len() as u64 * 64;
    while cpu < top {
        let set = |c: u64| c < top && mask[c as usize / 64] & (1 << (c % 64)) != 0;
        if !set(cpu) {
            cpu += 1;
            continue;
        }
        let start = cpu;
        while set(cpu + 1) {
            cpu += 1;
        }
        out.push(if start == cpu {
            start.to_string()
        } else {
            format!("{start}-{cpu}")
        });
        cpu += 1;
    }
    Ok(Some(out.join(",")).filter(|s| !s.is_empty()))
}

/// sched_getaffinity(0): the CPUs the calling thread may run on.
pub fn own() -> Result<CpuSet> {
    let mut words = vec![0u64; (MAX_ID / 64) as usize];
    let bytes = std::mem::size_of_val(words.as_slice());
    // SAFETY: words is a writable buffer of exactly `bytes` bytes; the
    // kernel writes at most that many and returns how many it wrote.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, bytes, words.as_mut_ptr()) };
    if rc < 0 {
        return Err(Error::sys("sched_getaffinity", Errno::last()));
    }
    words.truncate((rc as usize).div_ceil(8));
    Ok(CpuSet(words))
}

/// sched_setaffinity(0, set) for the calling thread. The kernel keeps the
/// CPUs the thread's cpuset allows; none of them is EINVAL.
pub fn set_own(set: &CpuSet) -> std::result::Result<(), Errno> {
    let bytes = std::mem::size_of_val(set.0.as_slice());
    // SAFETY: the kernel reads `bytes` bytes from set.0, which holds them.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setaffinity, 0, bytes, set.0.as_ptr()) };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `initial` for the calling thread (the parent, around the clone);
/// returns the CPUs it had, to go back to.
pub fn replace_own(initial: &CpuSet) -> Result<CpuSet> {
    let had = own()?;
    set_own(initial).map_err(|e| Error::sys("error setting initial CPU affinity", e))?;
    Ok(had)
}

/// The program's CPUs, set by init on itself right before execve.
pub fn apply_final(f: &FinalAffinity) -> Result<()> {
    match f {
        FinalAffinity::Keep => Ok(()),
        FinalAffinity::Set(set) => {
            set_own(set).map_err(|e| Error::sys("error setting final CPU affinity", e))
        }
        // As runc: a failed reset leaves the inherited mask, with a warning.
        FinalAffinity::Reset => {
            let every = CpuSet(vec![!0u64; (MAX_ID / 64) as usize]);
            if let Err(e) = set_own(&every) {
                tracing::warn!(
                    "resetting the CPU affinity failed -- the container process may inherit brig's CPU affinity: {}",
                    crate::error::Error::sys("sched_setaffinity", e).chain()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list, its mask or error, its plain form.
    type Case = (
        &'static str,
        Result<Vec<u64>, &'static str>,
        Option<&'static str>,
    );

    #[test]
    fn lists() {
        let cases: &[Case] = &[
            ("", Ok(vec![]), None),
            ("0", Ok(vec![1]), Some("0")),
            ("0-3,7", Ok(vec![0b1000_1111]), Some("0-3,7")),
            ("0-7", Ok(vec![0xff]), Some("0-7")),
            (" 1 , 3-4,", Ok(vec![0b11010]), Some("1,3-4")),
            ("1,0,2", Ok(vec![0b111]), Some("0-2")),
            ("64", Ok(vec![0, 1]), Some("64")),
            ("63-64", Ok(vec![1 << 63, 1]), Some("63-64")),
            (
                "0-9876543210",
                Err("values larger than 65536 are not supported"),
                None,
            ),
            ("3-1", Err("invalid range: 3-1"), None),
            (",", Err("no members found in set \",\""), None),
            ("a", Err("\"a\" is not a number"), None),
            ("1-", Err("\"\" is not a number"), None),
            ("-1", Err("\"\" is not a number"), None),
        ];
        for (list, want, plain) in cases {
            match (parse_list(list), want) {
                (Ok(v), Ok(w)) => {
                    assert_eq!(&v, w, "{list:?}");
                    assert_eq!(canonical_list(list).unwrap().as_deref(), *plain, "{list:?}");
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{list:?}: {e}"),
                (r, w) => panic!("{list:?}: got {r:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn plans() {
        let aff = |json: &str| -> ExecCPUAffinity { serde_json::from_str(json).unwrap() };
        let set = |w: u64| CpuSet(vec![w]);
        assert_eq!(plan(None).unwrap(), (None, FinalAffinity::Reset));
        assert_eq!(
            plan(Some(&aff(r#"{"initial":"1"}"#))).unwrap(),
            (Some(set(2)), FinalAffinity::Keep)
        );
        assert_eq!(
            plan(Some(&aff(r#"{"initial":"0","final":"1"}"#))).unwrap(),
            (Some(set(1)), FinalAffinity::Set(set(2)))
        );
        assert_eq!(
            plan(Some(&aff(r#"{"final":"0-1"}"#))).unwrap(),
            (None, FinalAffinity::Set(set(3)))
        );
        assert_eq!(
            plan(Some(&aff(r#"{}"#))).unwrap(),
            (None, FinalAffinity::Reset)
        );
        let e = plan(Some(&aff(r#"{"initial":"3-1"}"#))).unwrap_err();
        assert_eq!(e.chain(), "bad CPUAffinity.Initial: invalid range: 3-1");
        let e = plan(Some(&aff(r#"{"final":"99999"}"#))).unwrap_err();
        assert!(e.chain().starts_with("bad CPUAffinity.Final: "), "{e}");
        assert_eq!(set(3).low_mask(), "0x3");
        assert_eq!(CpuSet(vec![]).low_mask(), "0x0");
    }
}
