//! `seccomp default [--cap CAP]...`: brig's default seccomp profile as
//! plain OCI JSON, for an operator to put in a bundle (or hand to runc).

use crate::cli::{SeccompArgs, SeccompCommand};
use crate::error::{Error, Result};
use crate::linux::seccomp::{default_profile_for, DEFAULT_CAPS};

pub fn run(a: &SeccompArgs) -> Result<i32> {
    match &a.command {
        SeccompCommand::Default { caps } => default(caps),
    }
}

fn default(caps: &[String]) -> Result<i32> {
    let known = crate::linux::capabilities::known();
    let caps: Vec<String> = if caps.is_empty() {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    } else {
        caps.iter()
            .map(|c| {
                let name = if c.starts_with("CAP_") {
                    c.to_uppercase()
                } else {
                    format!("CAP_{}", c.to_uppercase())
                };
                if known.contains(&name) {
                    Ok(name)
                } else {
                    Err(Error::invalid(format!(
                        "--cap {c}: not a capability this kernel knows"
                    )))
                }
            })
            .collect::<Result<_>>()?
    };
    let profile = serde_json::to_string_pretty(&default_profile_for(&caps))
        .map_err(|e| Error::json("render the default profile", e))?;
    println!("{profile}");
    Ok(0)
}
