//! `apparmor status|load`: AppArmor on this host, for an operator trying
//! a profile by hand (`make install-apparmor` does the same load).

use std::io::Write;

use crate::cli::{ApparmorArgs, ApparmorCommand, ListFormat};
use crate::error::{Error, IoResultExt, Result};
use crate::linux::apparmor;

/// brig's default profile, compiled in (profiles/apparmor/brig-default).
const BRIG_DEFAULT: &str = include_str!("../../profiles/apparmor/brig-default");
const PROFILE_DIR: &str = "/etc/apparmor.d";

pub fn run(a: &ApparmorArgs) -> Result<i32> {
    match &a.command {
        ApparmorCommand::Status { format } => status(*format),
        ApparmorCommand::Load => load(),
    }
}

fn status(format: ListFormat) -> Result<i32> {
    let s = apparmor::status();
    let brig = s
        .profiles
        .iter()
        .find(|(n, _)| n == "brig-default")
        .map(|(_, m)| m.clone());
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::json!({
                "enabled": s.enabled,
                "profiles": s.profiles.iter().map(|(n, m)| serde_json::json!({"name": n, "mode": m})).collect::<Vec<_>>(),
                "brigDefault": brig,
            })
        ),
        ListFormat::Table => {
            println!(
                "apparmor: {}",
                if s.enabled {
                    "enabled"
                } else {
                    "not enabled in this kernel"
                }
            );
            if s.enabled {
                println!("profiles loaded: {}", s.profiles.len());
                match &brig {
                    Some(mode) => println!("brig-default ({mode})"),
                    None => println!("brig-default: not loaded (brig apparmor load)"),
                }
            }
        }
    }
    Ok(0)
}

fn load() -> Result<i32> {
    if !apparmor::enabled() {
        return Err(Error::invalid("AppArmor is not enabled in this kernel"));
    }
    let path = std::path::Path::new(PROFILE_DIR).join("brig-default");
    std::fs::create_dir_all(PROFILE_DIR).or_io(|| format!("create {PROFILE_DIR}"))?;
    std::fs::write(&path, BRIG_DEFAULT).or_io(|| format!("write {}", path.display()))?;
    let out = std::process::Command::new("apparmor_parser")
        .args(["-r", "-K"])
        .arg(&path)
        .output()
        .or_io(|| "run apparmor_parser (apt-get install apparmor)".into())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::invalid(format!(
            "apparmor_parser -r {}: {}",
            path.display(),
            err.lines().next().unwrap_or("failed")
        )));
    }
    let _ = writeln!(
        std::io::stdout(),
        "brig-default loaded from {}",
        path.display()
    );
    Ok(0)
}
