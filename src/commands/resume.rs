//! `brig resume ID`: thaw a paused container.

use super::pause::{locked_state, manager};
use crate::cli::{GlobalOpts, IdArg};
use crate::error::{Context, Error, Result};

pub fn run(global: &GlobalOpts, args: &IdArg) -> Result<i32> {
    let st = locked_state(global, &args.id)?;
    let m = manager(&st.0)?;
    if !m.is_frozen()? {
        return Err(Error::invalid(format!(
            "container {} is not paused",
            args.id
        )));
    }
    m.thaw().context(|| format!("resume {}", args.id))?;
    Ok(0)
}
