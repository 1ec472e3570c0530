//! `brig update [--resources FILE|-] [--memory N] ... ID`: change the
//! limits of a live container, as runc does. Flags override the fields of
//! the `--resources` document; fields given by neither are left alone.

use std::io::Read;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::pause::{locked_state, manager};
use crate::cli::{GlobalOpts, UpdateArgs};
use crate::error::{Context, Error, IoResultExt, Result};

pub fn run(global: &GlobalOpts, args: &UpdateArgs) -> Result<i32> {
    let r = resources(args)?;
    let (st, _lock) = locked_state(global, &args.id)?;
    let m = manager(&st)?;
    // main.rs says "update ID:" once, before the chain.
    m.check(&r)?;
    m.set(&r)?;
    Ok(0)
}

/// The resources to write: the `--resources` document, then each flag.
pub fn resources(args: &UpdateArgs) -> Result<LinuxResources> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        return Err(Error::invalid(
            "intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by brig",
        ));
    }
    let mut r: LinuxResources = match &args.resources {
        None => LinuxResources::default(),
        Some(p) => {
            let mut data = Vec::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .or_io(|| "read resources from stdin".into())?;
            } else {
                data = std::fs::read(p).or_io(|| format!("read {}", p.display()))?;
            }
            let mut r = crate::bundle::from_json_as_runc(&data)
                .map_err(|e| Error::json(format!("parse resources {}", p.display()), e))?;
            crate::bundle::drop_pids_without_limit(&mut r, &data, "");
            r
        }
    };

    let mem = |v: &Option<String>, flag: &str| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_memory(s).context(|| format!("--{flag}")))
            .transpose()
    };
    let (limit, reservation, swap) = (
        mem(&args.memory, "memory")?,
        mem(&args.memory_reservation, "memory-reservation")?,
        mem(&args.memory_swap, "memory-swap")?,
    );
    if limit.is_some() || reservation.is_some() || swap.is_some() {
        let m = r.memory_mut().get_or_insert_with(LinuxMemory::default);
        if limit.is_some() {
            m.set_limit(limit);
        }
        if reservation.is_some() {
            m.set_reservation(reservation);
        }
        if swap.is_some() {
            m.set_swap(swap);
        }
    }

    let cpu_given = args.cpu_share.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_period.is_some()
        || args.cpu_burst.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpu_rt_runtime.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
        || args.cpu_idle.is_some();
    if cpu_given {
        let c = r.cpu_mut().get_or_insert_with(LinuxCpu::default);
        if args.cpu_share.is_some() {
            c.set_shares(args.cpu_share);
        }
        if args.cpu_quota.is_some() {
            c.set_quota(args.cpu_quota);
        }
        if args.cpu_period.is_some() {
            c.set_period(args.cpu_period);
        }
        if args.cpu_burst.is_some() {
            c.set_burst(args.cpu_burst);
        }
        if args.cpu_rt_period.is_some() {
            c.set_realtime_period(args.cpu_rt_period);
        }
        if args.cpu_rt_runtime.is_some() {
            c.set_realtime_runtime(args.cpu_rt_runtime);
        }
        if args.cpuset_cpus.is_some() {
            c.set_cpus(args.cpuset_cpus.clone());
        }
        if args.cpuset_mems.is_some() {
            c.set_mems(args.cpuset_mems.clone());
        }
        if args.cpu_idle.is_some() {
            c.set_idle(args.cpu_idle);
        }
    }
    if let Some(p) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = args.blkio_weight {
        r.block_io_mut()
            .get_or_insert_with(LinuxBlockIo::default)
            .set_weight(Some(w));
    }
    Ok(r)
}

/// A memory size as runc's update takes it: `-1` (no limit), bytes, or a
/// number with a binary unit (`512k`, `1.5g`, `2GiB`, `100 MB`).
/// Ref: docker/go-units RAMInBytes.
pub fn parse_memory(s: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(format!(
            "invalid memory value {s:?} (want bytes, a size like 512m, or -1)"
        ))
    };
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let v = n * (1u64 << shift) as f64;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn memory_values() {
        for (s, want) in [
            ("-1", Some(-1)),
            ("1024", Some(1024)),
            ("10k", Some(10240)),
            ("10K", Some(10240)),
            ("10kb", Some(10240)),
            ("1m", Some(1 << 20)),
            ("1.5g", Some(3 << 29)),
            ("2GiB", Some(2 << 30)),
            ("100 MB", Some(100 << 20)),
            ("", None),
            ("-2", None),
            ("abc", None),
            ("1x", None),
            ("1.", None),
            ("99999999999p", None),
        ] {
            assert_eq!(parse_memory(s).ok(), want, "{s:?}");
        }
    }

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        u: UpdateArgs,
    }

    #[test]
    fn flags_become_resources() {
        let c = Cmd::parse_from([
            "x",
            "--memory",
            "64m",
            "--memory-swap=-1",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "10",
            "--blkio-weight",
            "300",
            "--cpu-idle",
            "1",
            "c1",
        ]);
        let r = resources(&c.u).unwrap();
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["memory"]["limit"], 64 << 20);
        assert_eq!(j["memory"]["swap"], -1);
        assert_eq!(j["cpu"]["quota"], 50000);
        assert_eq!(j["cpu"]["cpus"], "0");
        assert_eq!(j["cpu"]["idle"], 1);
        assert_eq!(j["pids"]["limit"], 10);
        assert_eq!(j["blockIO"]["weight"], 300);
        assert!(j.get("hugepageLimits").is_none());

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.json");
        std::fs::write(
            &f,
            r#"{"memory":{"limit":1000,"reservation":500},"pids":{"limit":3}}"#,
        )
        .unwrap();
        let c = Cmd::parse_from([
            "x",
            "--resources",
            f.to_str().unwrap(),
            "--memory",
            "2k",
            "c1",
        ]);
        let j = serde_json::to_value(resources(&c.u).unwrap()).unwrap();
        assert_eq!(j["memory"]["limit"], 2048, "a flag overrides the file");
        assert_eq!(j["memory"]["reservation"], 500);
        assert_eq!(j["pids"]["limit"], 3);

        // A `pids` without `limit` changes nothing; 0 is a limit (of 1).
        std::fs::write(&f, r#"{"pids":{},"cpu":{"shares":2}}"#).unwrap();
        let c = Cmd::parse_from(["x", "-r", f.to_str().unwrap(), "c1"]);
        assert!(resources(&c.u).unwrap().pids().is_none());
        let c = Cmd::parse_from(["x", "--pids-limit", "0", "c1"]);
        assert_eq!(resources(&c.u).unwrap().pids().unwrap().limit(), 0);
    }

    #[test]
    fn negative_values_as_separate_words() {
        // runc takes `--memory-swap -1`: clap must not read -1 as a flag.
        let c = Cmd::parse_from([
            "x",
            "--memory",
            "-1",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "-1",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "-1",
            "--cpu-idle",
            "-1",
            "c1",
        ]);
        let j = serde_json::to_value(resources(&c.u).unwrap()).unwrap();
        assert_eq!(j["memory"]["limit"], -1);
        assert_eq!(j["memory"]["swap"], -1);
        assert_eq!(j["memory"]["reservation"], -1);
        assert_eq!(j["cpu"]["quota"], -1);
        assert_eq!(j["pids"]["limit"], -1);
        assert_eq!(j["cpu"]["idle"], -1, "the kernel refuses it, not brig");
        assert_eq!(c.u.id, "c1");
    }
}
