//! `brig events [--stats] [--interval D] ID`: runc's JSON lines,
//! `{"type":"stats","id":ID,"data":{...}}` every interval and
//! `{"type":"oom","id":ID}` when the OOM killer hits the container.
//! Ends when the container has no processes left.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::pause::manager;
use crate::cgroups::Manager;
use crate::cli::{EventsArgs, GlobalOpts};
use crate::error::{Error, IoResultExt, Result};
use crate::state::State;

/// How often OOM counters are polled between stats events.
const OOM_POLL: Duration = Duration::from_millis(100);

pub fn run(global: &GlobalOpts, args: &EventsArgs) -> Result<i32> {
    let st = State::load(&global.root, &args.id)?;
    let m = manager(&st)?;
    let interval = parse_duration(&args.interval)?;
    if args.stats {
        emit(&Event::stats(&args.id, m.stats()?))?;
        return Ok(0);
    }
    let mut ooms = m.oom_count()?;
    let mut next_stats = Instant::now();
    loop {
        if m.pids()?.is_empty() {
            return Ok(0);
        }
        let now = Instant::now();
        if now >= next_stats {
            emit(&Event::stats(&args.id, m.stats()?))?;
            next_stats = now + interval;
        }
        check_oom(&m, &mut ooms, &args.id)?;
        std::thread::sleep(OOM_POLL.min(next_stats.saturating_duration_since(Instant::now())));
    }
}

fn check_oom(m: &Manager, seen: &mut u64, id: &str) -> Result<()> {
    let now = m.oom_count()?;
    if now > *seen {
        *seen = now;
        emit(&Event {
            kind: "oom",
            id,
            data: None,
        })?;
    }
    Ok(())
}

/// One event line. A struct, not a `json!` map, so the keys come out in
/// runc's order (`type`, `id`, `data`): clients and runc's own tests match
/// the line's prefix, not only its parsed value.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

impl<'a> Event<'a> {
    fn stats(id: &'a str, data: serde_json::Value) -> Self {
        Event {
            kind: "stats",
            id,
            data: Some(data),
        }
    }
}

fn emit(ev: &Event<'_>) -> Result<()> {
    let line =
        serde_json::to_string(ev).map_err(|e| Error::invalid(format!("encode event: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .or_io(|| "write event to stdout".into())
}

/// Go-style durations as runc's `--interval` takes them: `5s`, `500ms`,
/// `1m30s`, `1.5s`, `100us`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid duration {s:?} (want e.g. 5s, 500ms, 1m30s)"
        ))
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num * secs;
        rest = &rest[u..];
    }
    if total <= 0.0 || !total.is_finite() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_in_runc_order() {
        let stats = Event::stats("c1", serde_json::json!({"pids": {"current": 1}}));
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"type":"stats","id":"c1","data":{"pids":{"current":1}}}"#
        );
        let oom = Event {
            kind: "oom",
            id: "c1",
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&oom).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
    }

    #[test]
    fn durations() {
        for (s, ms) in [
            ("5s", Some(5000)),
            ("500ms", Some(500)),
            ("1m30s", Some(90_000)),
            ("1.5s", Some(1500)),
            ("1h", Some(3_600_000)),
        ] {
            assert_eq!(
                parse_duration(s).ok().map(|d| d.as_millis() as u64),
                ms,
                "{s}"
            );
        }
        for s in ["", "5", "s", "0s", "5x", "-1s"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }
}
