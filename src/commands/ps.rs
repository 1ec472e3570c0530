//! `brig ps [--format table|json] ID [ps args]`: the container's processes.
//! Table: runs ps(1) (default `-ef`) and keeps the header and the lines of
//! the container's pids, as runc does; json: the array of host pids.
//! A rootless container without a cgroup: the processes of its pid
//! namespace.

use std::process::Command;

use super::pause::manager;
use crate::cli::{GlobalOpts, ListFormat, PsArgs};
use crate::error::{Error, IoResultExt, Result};
use crate::state::State;

pub fn run(global: &GlobalOpts, args: &PsArgs) -> Result<i32> {
    let st = State::load(&global.root, &args.id)?;
    let pids = match &st.cgroup_path {
        Some(_) => manager(&st)?.pids()?,
        // A rootless container without a cgroup: the processes of its own
        // pid namespace, when it has one.
        None if st.own_pid_ns && st.init_alive() => crate::linux::pid::in_pid_ns_of(st.pid)?,
        None if st.own_pid_ns => Vec::new(),
        None => manager(&st)?.pids()?,
    };
    match args.format {
        ListFormat::Json => {
            if !args.ps_args.is_empty() {
                return Err(Error::invalid(
                    "ps arguments cannot be used with --format json",
                ));
            }
            println!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| Error::json("encode pids", e))?
            );
        }
        ListFormat::Table => {
            let ps_args: Vec<&str> = if args.ps_args.is_empty() {
                vec!["-ef"]
            } else {
                args.ps_args.iter().map(String::as_str).collect()
            };
            let out = Command::new("ps")
                .args(&ps_args)
                .output()
                .or_io(|| format!("run ps {}", ps_args.join(" ")))?;
            if !out.status.success() {
                return Err(Error::invalid(format!(
                    "ps {} failed: {}",
                    ps_args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            print!(
                "{}",
                filter_table(&String::from_utf8_lossy(&out.stdout), &pids)?
            );
        }
    }
    Ok(0)
}

/// Keep ps's header and the lines whose PID column is one of `pids`.
pub fn filter_table(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::invalid("ps output has no PID column"))?;
    let mut out = format!("{header}\n");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 1\nroot 420 1 0 10:00 ? 00:00:00 x 42\n";
        assert_eq!(
            filter_table(t, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 1\n"
        );
        assert!(filter_table("A B\n1 2\n", &[1]).is_err());
    }
}
