//! `state ID`: the container's state as runc prints it (indented, no
//! trailing newline).

use std::io::Write;

use crate::cli::GlobalOpts;
use crate::error::{IoResultExt, Result};
use crate::state::State;

pub fn run(global: &GlobalOpts, id: &str) -> Result<i32> {
    let st = State::load(&global.root, id)?;
    let status = st.current_status(&global.root);
    let out = serde_json::to_string_pretty(&st.report(status, String::new())).expect("json");
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .or_io(|| "write the state to stdout".into())?;
    Ok(0)
}
