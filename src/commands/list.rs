//! `list`: the containers under --root, as runc prints them: a table
//! (Go's tabwriter layout: each column as wide as its widest cell plus 3,
//! at least 12), the ids alone (`-q`), or JSON (one line: an array of
//! `state` objects with the owner filled in, `null` when there are none).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cli::{GlobalOpts, ListArgs, ListFormat, DEFAULT_ROOT};
use crate::error::{IoResultExt, Result};
use crate::state::{self, State, Status};

pub fn run(global: &GlobalOpts, a: &ListArgs) -> Result<i32> {
    // A missing default root lists nothing; a missing root that was asked
    // for is an error (as runc since 1.2).
    if global.root != Path::new(DEFAULT_ROOT) {
        std::fs::metadata(&global.root).or_io(|| format!("open {}", global.root.display()))?;
    }
    let mut rows: Vec<(State, Status, String)> = Vec::new();
    for id in state::list_ids(&global.root)? {
        let Ok(st) = State::load(&global.root, &id) else {
            continue;
        };
        let status = st.current_status(&global.root);
        let owner = owner_of(&state::container_dir(&global.root, &id));
        rows.push((st, status, owner));
    }
    if a.quiet {
        for (st, _, _) in &rows {
            println!("{}", st.id);
        }
        return Ok(0);
    }
    let reports: Vec<_> = rows
        .iter()
        .map(|(st, status, owner)| st.report(*status, owner.clone()))
        .collect();
    match a.format {
        ListFormat::Json if reports.is_empty() => println!("null"),
        ListFormat::Json => println!("{}", serde_json::to_string(&reports).expect("json")),
        ListFormat::Table => {
            let mut table =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for r in &reports {
                table.push([
                    r.id.to_string(),
                    r.pid.to_string(),
                    r.status.to_string(),
                    r.bundle.display().to_string(),
                    r.created.clone(),
                    r.owner.clone(),
                ]);
            }
            print!("{}", tabulate(&table));
        }
    }
    Ok(0)
}

/// The user name of a state directory's owner, or `#UID` without one.
fn owner_of(dir: &Path) -> String {
    let Ok(meta) = std::fs::metadata(dir) else {
        return String::new();
    };
    crate::rootless::host_user_name(meta.uid()).unwrap_or_else(|| format!("#{}", meta.uid()))
}

/// Rows laid out as Go's tabwriter (minwidth 12, padding 3) lays out
/// runc's: every column but the last padded to its widest cell + 3, at
/// least 12; the last as it is. Pure.
pub fn tabulate<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_as_runc_lays_it_out() {
        let rows = [
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
            [
                "c1",
                "9425",
                "running",
                "/tmp/brig-wtcli/b1",
                "2026-12-02T06:10:13.834446059Z",
                "root",
            ]
            .map(String::from),
        ];
        // What runc 1.1.5 printed for the same container.
        assert_eq!(
            tabulate(&rows),
            "ID          PID         STATUS      BUNDLE               CREATED                          OWNER\n\
             c1          9425        running     /tmp/brig-wtcli/b1   2026-12-02T06:10:13.834446059Z   root\n"
        );
        let header = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
        assert_eq!(
            tabulate(&header),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
