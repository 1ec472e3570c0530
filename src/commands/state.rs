use crate::cli::GlobalOpts;
use crate::error::Result;
use crate::process;
use crate::state::{State, Status};

pub fn run(global: &GlobalOpts, id: &str) -> Result<i32> {
    let st = State::load(&global.root, id)?;
    let status = process::status(&global.root, &st);
    let pid = if status == Status::Stopped { 0 } else { st.pid };
    let out = serde_json::to_string_pretty(&st.to_oci(status, pid)).expect("json");
    println!("{out}");
    Ok(0)
}
