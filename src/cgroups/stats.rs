//! The "data" object of runc's `events` stats, read from v1 or v2 files.
//! Field names, their order and omissions follow runc's types/events.go
//! (as runc 1.1 prints it: every section present, a struct's zero fields
//! without `omitempty` printed as 0), so clients that parse runc's output,
//! as JSON or as text, parse brig's. Objects are built in runc's field
//! order (serde_json keeps it: `preserve_order`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::files::{keyed, read_opt, read_u64};
use super::Manager;
use crate::error::Result;

/// USER_HZ ticks (cpuacct.stat) to nanoseconds. USER_HZ is 100 on Linux.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

pub fn collect(m: &Manager) -> Result<Value> {
    let mut data = Map::new();
    data.insert("cpu".into(), cpu(m));
    data.insert("cpuset".into(), cpuset(m));
    data.insert("memory".into(), memory(m));
    data.insert("pids".into(), pids(m));
    data.insert("blkio".into(), blkio(m));
    data.insert("hugetlb".into(), hugetlb(m)?);
    // No Intel RDT (README), no network statistics: what runc prints then.
    data.insert("intel_rdt".into(), json!({}));
    data.insert("network_interfaces".into(), Value::Null);
    Ok(Value::Object(data))
}

/// Drop zero numbers and empty objects/arrays, like Go's `omitempty`.
fn omit_empty(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, omit_empty(v)))
                .filter(|(_, v)| {
                    !matches!(v, Value::Null)
                        && v != &json!(0)
                        && v != &json!({})
                        && v != &json!([])
                })
                .collect(),
        ),
        other => other,
    }
}

fn nums(s: Option<String>) -> Vec<u64> {
    s.unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn cpu(m: &Manager) -> Value {
    let mut usage = json!({});
    let mut throttling = json!({});
    if let Some((d, false)) = m.dir_for("cpuacct") {
        let st = keyed(&read_opt(d, "cpuacct.stat").unwrap_or_default());
        usage = json!({
            "total": read_u64(d, "cpuacct.usage").unwrap_or(0),
            "percpu": nums(read_opt(d, "cpuacct.usage_percpu")),
            "percpu_kernel": nums(read_opt(d, "cpuacct.usage_percpu_sys")),
            "percpu_user": nums(read_opt(d, "cpuacct.usage_percpu_user")),
            "kernel": st.get("system").copied().unwrap_or(0) * NS_PER_TICK,
            "user": st.get("user").copied().unwrap_or(0) * NS_PER_TICK,
        });
    }
    if let Some((d, v2)) = m.dir_for("cpu") {
        let st = keyed(&read_opt(d, "cpu.stat").unwrap_or_default());
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        if v2 {
            usage = json!({
                "total": g("usage_usec") * 1000,
                "kernel": g("system_usec") * 1000,
                "user": g("user_usec") * 1000,
            });
            throttling = json!({"periods": g("nr_periods"), "throttledPeriods": g("nr_throttled"), "throttledTime": g("throttled_usec") * 1000});
        } else {
            throttling = json!({"periods": g("nr_periods"), "throttledPeriods": g("nr_throttled"), "throttledTime": g("throttled_time")});
        }
    }
    // kernel and user are not omitempty in runc: always there, last.
    let (kernel, user) = (usage["kernel"].take(), usage["user"].take());
    let mut usage = omit_empty(usage);
    if let Some(o) = usage.as_object_mut() {
        o.remove("kernel");
        o.remove("user");
        o.insert(
            "kernel".into(),
            if kernel.is_null() { json!(0) } else { kernel },
        );
        o.insert("user".into(), if user.is_null() { json!(0) } else { user });
    }
    json!({"usage": usage, "throttling": omit_empty(throttling)})
}

/// runc's MemoryEntry: limit, usage, max, failcnt (usage and max left
/// out when 0).
fn entry(limit: Option<u64>, usage: Option<u64>, max: Option<u64>, failcnt: Option<u64>) -> Value {
    let mut e = Map::new();
    e.insert("limit".into(), json!(limit.unwrap_or(0)));
    for (k, v) in [("usage", usage), ("max", max)] {
        if let Some(v) = v.filter(|v| *v != 0) {
            e.insert(k.into(), json!(v));
        }
    }
    e.insert("failcnt".into(), json!(failcnt.unwrap_or(0)));
    Value::Object(e)
}

/// cache (when not 0), usage, swap, kernel, kernelTCP, raw (when there is
/// a memory.stat): runc's order; the four entries are always there.
fn memory(m: &Manager) -> Value {
    let zero = || entry(None, None, None, None);
    let mut out = Map::new();
    let Some((d, v2)) = m.dir_for("memory") else {
        for k in ["usage", "swap", "kernel", "kernelTCP"] {
            out.insert(k.into(), zero());
        }
        return Value::Object(out);
    };
    let raw: BTreeMap<String, u64> = keyed(&read_opt(d, "memory.stat").unwrap_or_default())
        .into_iter()
        .collect();
    let cache = if v2 {
        raw.get("file")
    } else {
        raw.get("cache")
    };
    if let Some(c) = cache.filter(|c| **c != 0) {
        out.insert("cache".into(), json!(c));
    }
    if v2 {
        let events = keyed(&read_opt(d, "memory.events").unwrap_or_default());
        out.insert(
            "usage".into(),
            entry(
                read_u64(d, "memory.max"),
                read_u64(d, "memory.current"),
                read_u64(d, "memory.peak"),
                events.get("max").copied(),
            ),
        );
        let swap_cur = read_u64(d, "memory.swap.current");
        let mem_cur = read_u64(d, "memory.current");
        // runc reports v2 swap as memory+swap, like v1's memsw.
        out.insert(
            "swap".into(),
            entry(
                read_u64(d, "memory.swap.max"),
                swap_cur.zip(mem_cur).map(|(s, m)| s + m),
                None,
                None,
            ),
        );
        // v2 has no kernel memory accounting of its own.
        out.insert("kernel".into(), zero());
        out.insert("kernelTCP".into(), zero());
    } else {
        let e = |p: &str| {
            entry(
                read_u64(d, &format!("{p}.limit_in_bytes")),
                read_u64(d, &format!("{p}.usage_in_bytes")),
                read_u64(d, &format!("{p}.max_usage_in_bytes")),
                read_u64(d, &format!("{p}.failcnt")),
            )
        };
        out.insert("usage".into(), e("memory"));
        out.insert("swap".into(), e("memory.memsw"));
        out.insert("kernel".into(), e("memory.kmem"));
        out.insert("kernelTCP".into(), e("memory.kmem.tcp"));
    }
    if !raw.is_empty() {
        out.insert("raw".into(), json!(raw));
    }
    Value::Object(out)
}

/// runc's CPUSet: the v1 cpuset files (runc reads none on v2); lists
/// expanded ("0-2,4" -> [0,1,2,4]) and left out when empty, the numbers
/// always there.
fn cpuset(m: &Manager) -> Value {
    let v1 = m.dir_for("cpuset").filter(|(_, v2)| !v2).map(|(d, _)| d);
    let num = |name: &str| -> Value {
        let v = v1.and_then(|d| read_opt(d, &format!("cpuset.{name}")));
        match v.as_deref().map(str::trim) {
            Some(s) if name == "sched_relax_domain_level" => json!(s.parse::<i64>().unwrap_or(0)),
            Some(s) => json!(s.parse::<u64>().unwrap_or(0)),
            None => json!(0),
        }
    };
    let list = |name: &str| -> Vec<u16> {
        v1.and_then(|d| read_opt(d, &format!("cpuset.{name}")))
            .map(|s| cpu_list(s.trim()))
            .unwrap_or_default()
    };
    let mut out = Map::new();
    for (key, file, is_list) in [
        ("cpus", "cpus", true),
        ("cpu_exclusive", "cpu_exclusive", false),
        ("mems", "mems", true),
        ("mem_hardwall", "mem_hardwall", false),
        ("mem_exclusive", "mem_exclusive", false),
        ("memory_migrate", "memory_migrate", false),
        ("memory_spread_page", "memory_spread_page", false),
        ("memory_spread_slab", "memory_spread_slab", false),
        ("memory_pressure", "memory_pressure", false),
        ("sched_load_balance", "sched_load_balance", false),
        (
            "sched_relax_domain_level",
            "sched_relax_domain_level",
            false,
        ),
    ] {
        if is_list {
            let l = list(file);
            if !l.is_empty() {
                out.insert(key.into(), json!(l));
            }
        } else {
            out.insert(key.into(), num(file));
        }
    }
    Value::Object(out)
}

/// A cpuset list ("0-2,4") expanded; what does not parse is left out.
/// Pure.
pub fn cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(from), Ok(to)) = (from.parse::<u16>(), to.parse::<u16>()) {
            out.extend(from..=to);
        }
    }
    out
}

fn pids(m: &Manager) -> Value {
    let Some((d, _)) = m.dir_for("pids") else {
        return json!({});
    };
    let limit = read_u64(d, "pids.max")
        .filter(|l| *l != u64::MAX)
        .unwrap_or(0);
    omit_empty(json!({"current": read_u64(d, "pids.current").unwrap_or(0), "limit": limit}))
}

/// `8:0 Read 4096` lines -> runc's BlkioEntry list.
pub fn blkio_entries(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, value) = match f.as_slice() {
                [dev, op, v] => (*dev, *op, v.parse::<u64>().ok()?),
                [dev, v] if dev.contains(':') => (*dev, "", v.parse::<u64>().ok()?),
                _ => return None,
            };
            let (maj, min) = dev.split_once(':')?;
            Some(omit_empty(json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?, "op": op, "value": value})))
        })
        .collect()
}

/// v2 io.stat `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...` -> bytes and ios lists.
pub fn io_stat_entries(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(omit_empty(
                json!({"major": maj, "minor": min, "op": op, "value": v}),
            ));
        }
    }
    (bytes, ios)
}

fn blkio(m: &Manager) -> Value {
    let mut out = Map::new();
    match m.dir_for("blkio").or_else(|| m.dir_for("io")) {
        Some((d, false)) => {
            // CFQ/BFQ files when the scheduler has them, else the throttle
            // layer's (always there). Ref: runc fs/blkio.go.
            let pick = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|n| read_opt(d, n))
                    .unwrap_or_default()
            };
            for (key, names) in [
                (
                    "ioServiceBytesRecursive",
                    [
                        "blkio.io_service_bytes_recursive",
                        "blkio.bfq.io_service_bytes_recursive",
                        "blkio.throttle.io_service_bytes_recursive",
                    ],
                ),
                (
                    "ioServicedRecursive",
                    [
                        "blkio.io_serviced_recursive",
                        "blkio.bfq.io_serviced_recursive",
                        "blkio.throttle.io_serviced_recursive",
                    ],
                ),
            ] {
                let e = blkio_entries(&pick(&names[..]));
                if !e.is_empty() {
                    out.insert(key.into(), json!(e));
                }
            }
        }
        Some((d, true)) => {
            let (bytes, ios) = io_stat_entries(&read_opt(d, "io.stat").unwrap_or_default());
            if !bytes.is_empty() {
                out.insert("ioServiceBytesRecursive".into(), json!(bytes));
            }
            if !ios.is_empty() {
                out.insert("ioServicedRecursive".into(), json!(ios));
            }
        }
        None => {}
    }
    Value::Object(out)
}

/// Page sizes are read off the limit files the cgroup has (`hugetlb.2MB.max`).
fn hugetlb(m: &Manager) -> Result<Value> {
    let Some((d, v2)) = m.dir_for("hugetlb") else {
        return Ok(json!({}));
    };
    let suffix = if v2 { ".max" } else { ".limit_in_bytes" };
    let mut out = Map::new();
    for size in page_sizes(d, suffix) {
        let p = format!("hugetlb.{size}");
        let v = if v2 {
            let failcnt = keyed(&read_opt(d, &format!("{p}.events")).unwrap_or_default())
                .get("max")
                .copied()
                .unwrap_or(0);
            json!({"usage": read_u64(d, &format!("{p}.current")).unwrap_or(0), "max": 0, "failcnt": failcnt})
        } else {
            json!({"usage": read_u64(d, &format!("{p}.usage_in_bytes")).unwrap_or(0),
                   "max": read_u64(d, &format!("{p}.max_usage_in_bytes")).unwrap_or(0),
                   "failcnt": read_u64(d, &format!("{p}.failcnt")).unwrap_or(0)})
        };
        let mut v = omit_empty(v);
        if let Some(o) = v.as_object_mut() {
            o.entry("failcnt").or_insert(json!(0));
        }
        out.insert(size, v);
    }
    Ok(Value::Object(out))
}

fn page_sizes(d: &Path, suffix: &str) -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let size = n
                .strip_prefix("hugetlb.")?
                .strip_suffix(suffix)?
                .to_string();
            (!size.contains('.')).then_some(size)
        })
        .collect();
    sizes.sort();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines() {
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\n8:16 Total 10\nTotal 4106\n");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0], json!({"major": 8, "op": "Read", "value": 4096}));
        assert_eq!(e[1], json!({"major": 8, "op": "Write"}));
        let (b, i) = io_stat_entries("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            b,
            vec![
                json!({"major": 8, "op": "Read", "value": 10}),
                json!({"major": 8, "op": "Write", "value": 20})
            ]
        );
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn cpu_lists() {
        for (s, want) in [
            ("0-1", vec![0, 1]),
            ("0-2,4", vec![0, 1, 2, 4]),
            ("3", vec![3]),
            ("", vec![]),
            ("x,5", vec![5]),
        ] {
            assert_eq!(cpu_list(s), want, "{s:?}");
        }
    }

    #[test]
    fn memory_entry_order() {
        let e = entry(Some(10), Some(5), None, Some(0));
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["limit", "usage", "failcnt"]);
        let e = entry(Some(10), Some(5), Some(7), Some(1));
        assert_eq!(
            e.to_string(),
            r#"{"limit":10,"usage":5,"max":7,"failcnt":1}"#
        );
    }

    #[test]
    fn omitempty() {
        assert_eq!(
            omit_empty(json!({"a": 0, "b": 1, "c": [], "d": {"e": 0}})),
            json!({"b": 1})
        );
    }
}
