use crate::cli::{GlobalOpts, ListArgs, ListFormat};
use crate::error::Result;
use crate::process;
use crate::state::{self, State, Status};

pub fn run(global: &GlobalOpts, a: &ListArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for id in state::list_ids(&global.root)? {
        let Ok(st) = State::load(&global.root, &id) else {
            continue;
        };
        let status = process::status(&global.root, &st);
        let pid = if status == Status::Stopped { 0 } else { st.pid };
        rows.push((st, status, pid));
    }
    if a.quiet {
        for (st, _, _) in &rows {
            println!("{}", st.id);
        }
        return Ok(0);
    }
    match a.format {
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|(st, status, pid)| st.to_oci(*status, *pid))
                .collect();
            println!("{}", serde_json::Value::Array(v));
        }
        ListFormat::Table => {
            println!(
                "{:<12} {:<10} {:<10} {:<40} {:<31} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for (st, status, pid) in &rows {
                println!(
                    "{:<12} {:<10} {:<10} {:<40} {:<31} {}",
                    st.id,
                    pid,
                    status.as_str(),
                    st.bundle.display(),
                    st.created,
                    if st.owner.is_empty() {
                        "root"
                    } else {
                        &st.owner
                    }
                );
            }
        }
    }
    Ok(0)
}
