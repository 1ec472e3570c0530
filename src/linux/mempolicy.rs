//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA memory policy, set
//! with set_mempolicy(2) on init itself; fork and execve keep it.
//! Ref: set_mempolicy(2), linux/mempolicy.h, runtime-spec
//! config-linux.md "Memory policy"; runc libcontainer/specconv (names),
//! configs.ToCPUSet (node lists, in affinity.rs) and its validator (node
//! counts).

use nix::errno::Errno;
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Modes, by spec name, with the kernel's numbers (`features` lists them).
pub const MODES: &[(&str, i32)] = &[
    ("MPOL_BIND", libc::MPOL_BIND),
    ("MPOL_DEFAULT", libc::MPOL_DEFAULT),
    ("MPOL_INTERLEAVE", libc::MPOL_INTERLEAVE),
    ("MPOL_LOCAL", libc::MPOL_LOCAL),
    ("MPOL_PREFERRED", libc::MPOL_PREFERRED),
    // Linux 5.15 and 6.9; not in libc yet.
    ("MPOL_PREFERRED_MANY", 5),
    ("MPOL_WEIGHTED_INTERLEAVE", 6),
];

/// Mode flags, by spec name.
pub const FLAGS: &[(&str, i32)] = &[
    ("MPOL_F_NUMA_BALANCING", libc::MPOL_F_NUMA_BALANCING),
    ("MPOL_F_RELATIVE_NODES", libc::MPOL_F_RELATIVE_NODES),
    ("MPOL_F_STATIC_NODES", libc::MPOL_F_STATIC_NODES),
];

/// What init passes to set_mempolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemPolicyPlan {
    /// The mode with its flags or'ed in.
    pub mode: i32,
    /// The node mask, 64 nodes a word; empty for no nodes.
    pub nodes: Vec<u64>,
}

/// The names in the raw JSON, in runc's words. oci-spec's enums would
/// refuse an unknown or missing mode or flag with serde's text; runc's
/// users (and its tests) look for "invalid memory policy mode/flag".
/// Called on the `linux.memoryPolicy` value when config.json does not
/// parse as it is.
pub fn check_json(v: &Value) -> Result<()> {
    let mode = v.get("mode").and_then(Value::as_str).unwrap_or("");
    if !MODES.iter().any(|(n, _)| *n == mode) {
        return Err(Error::invalid(format!(
            "invalid memory policy mode {mode:?}"
        )));
    }
    for f in v
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = f.as_str().unwrap_or("");
        if !FLAGS.iter().any(|(n, _)| *n == name) {
            return Err(Error::invalid(format!(
                "invalid memory policy flag {:?}",
                f.as_str().map_or_else(|| f.to_string(), str::to_string)
            )));
        }
    }
    Ok(())
}

fn mode_value(m: MemoryPolicyModeType) -> i32 {
    use MemoryPolicyModeType as M;
    let name = match m {
        M::MpolDefault => "MPOL_DEFAULT",
        M::MpolBind => "MPOL_BIND",
        M::MpolInterleave => "MPOL_INTERLEAVE",
        M::MpolWeightedInterleave => "MPOL_WEIGHTED_INTERLEAVE",
        M::MpolPreferred => "MPOL_PREFERRED",
        M::MpolPreferredMany => "MPOL_PREFERRED_MANY",
        M::MpolLocal => "MPOL_LOCAL",
    };
    MODES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("every mode is listed")
        .1
}

fn flag_value(f: MemoryPolicyFlagType) -> i32 {
    match f {
        MemoryPolicyFlagType::MpolFNumaBalancing => libc::MPOL_F_NUMA_BALANCING,
        MemoryPolicyFlagType::MpolFRelativeNodes => libc::MPOL_F_RELATIVE_NODES,
        MemoryPolicyFlagType::MpolFStaticNodes => libc::MPOL_F_STATIC_NODES,
    }
}

/// A node list ("0-3,5,7-9"; spaces and empty elements allowed, as runc
/// reads it) as a mask: the CPU list format.
pub fn parse_nodes(list: &str) -> std::result::Result<Vec<u64>, String> {
    crate::linux::affinity::parse_list(list)
}

/// The checked policy: the node list parses, and has as many nodes as
/// the mode takes (runc's words).
pub fn plan(p: &LinuxMemoryPolicy) -> Result<MemPolicyPlan> {
    let list = p.nodes().as_deref().unwrap_or("");
    let nodes = parse_nodes(list)
        .map_err(|e| Error::invalid(format!("invalid memory policy nodes {list:?}: {e}")))?;
    let count: u32 = nodes.iter().map(|w| w.count_ones()).sum();
    use MemoryPolicyModeType as M;
    match p.mode() {
        M::MpolDefault | M::MpolLocal if count != 0 => {
            return Err(Error::invalid(format!(
                "memory policy mode requires 0 nodes but got {count}"
            )))
        }
        M::MpolBind | M::MpolInterleave | M::MpolPreferredMany | M::MpolWeightedInterleave
            if count == 0 =>
        {
            return Err(Error::invalid(
                "memory policy mode requires at least one node but got 0",
            ))
        }
        // MPOL_PREFERRED: zero nodes means "local".
        _ => {}
    }
    let flags = p
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | flag_value(*f));
    Ok(MemPolicyPlan {
        mode: mode_value(p.mode()) | flags,
        nodes,
    })
}

/// set_mempolicy(mode, mask, maxnode). maxnode is one more than the bits
/// given: the kernel reads maxnode - 1 bits (set_mempolicy(2) BUGS;
/// numactl passes it so too).
pub fn apply(p: &MemPolicyPlan) -> Result<()> {
    let (ptr, maxnode) = match p.nodes.len() {
        0 => (std::ptr::null(), 0),
        n => (p.nodes.as_ptr(), n as libc::c_ulong * 64 + 1),
    };
    // SAFETY: ptr is null with maxnode 0, or points to p.nodes, which
    // holds exactly maxnode - 1 bits; the kernel only reads it.
    let rc = unsafe { libc::syscall(libc::SYS_set_mempolicy, p.mode, ptr, maxnode) };
    if rc != 0 {
        return Err(Error::sys(
            format!("set_mempolicy mode {:#x}", p.mode),
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists() {
        let cases: &[(&str, Result<Vec<u64>, &str>)] = &[
            ("", Ok(vec![])),
            ("0", Ok(vec![1])),
            ("0-7", Ok(vec![0xff])),
            (" 1 , 3-4,", Ok(vec![0b11010])),
            ("64", Ok(vec![0, 1])),
            (
                "0-9876543210",
                Err("values larger than 65536 are not supported"),
            ),
            ("3-1", Err("invalid range: 3-1")),
            (",", Err("no members found")),
            ("a", Err("is not a number")),
        ];
        for (list, want) in cases {
            match (parse_nodes(list), want) {
                (Ok(v), Ok(w)) => assert_eq!(&v, w, "{list:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{list:?}: {e}"),
                (r, w) => panic!("{list:?}: got {r:?}, want {w:?}"),
            }
        }
    }

    /// The raw check and the typed plan together, as config.json meets
    /// them; the messages are the ones runc's memorypolicy.bats looks for.
    #[test]
    fn policies() {
        type Want = Result<(i32, Vec<u64>), &'static str>;
        let cases: &[(&str, Want)] = &[
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0"}"#,
                Ok((3, vec![1])),
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#,
                Ok((2 | 1 << 15, vec![1])),
            ),
            (
                r#"{"mode":"MPOL_PREFERRED","nodes":"0","flags":["MPOL_F_RELATIVE_NODES"]}"#,
                Ok((1 | 1 << 14, vec![1])),
            ),
            (r#"{"mode":"MPOL_DEFAULT"}"#, Ok((0, vec![]))),
            (r#"{"mode":"MPOL_PREFERRED"}"#, Ok((1, vec![]))),
            (r#"{}"#, Err("invalid memory policy mode \"\"")),
            (
                r#"{"mode":"INTERLEAVE","nodes":"0"}"#,
                Err("invalid memory policy mode \"INTERLEAVE\""),
            ),
            (
                r#"{"mode":"MPOL_PREFERRED","nodes":"0","flags":["MPOL_F_RELATIVE_NODES","badflag"]}"#,
                Err("invalid memory policy flag \"badflag\""),
            ),
            (r#"{"nodes":"0-7"}"#, Err("invalid memory policy mode")),
            (
                r#"{"mode":"MPOL_DEFAULT","nodes":"0-7"}"#,
                Err("memory policy mode requires 0 nodes but got 8"),
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":""}"#,
                Err("memory policy mode requires at least one node but got 0"),
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0-9876543210","flags":[]}"#,
                Err("invalid memory policy nodes \"0-9876543210\""),
            ),
        ];
        for (json, want) in cases {
            let v: Value = serde_json::from_str(json).unwrap();
            let got = check_json(&v).and_then(|()| {
                let p: LinuxMemoryPolicy = serde_json::from_value(v).unwrap();
                plan(&p)
            });
            match (got, want) {
                (Ok(p), Ok((mode, nodes))) => {
                    assert_eq!((p.mode, &p.nodes), (*mode, nodes), "{json}")
                }
                (Err(e), Err(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
    }
}
