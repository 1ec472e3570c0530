//! `brig checkpoint ID`: brig has no criu support, so it never
//! checkpoints; but it takes runc's flags and rejects what runc rejects
//! with runc's words first (a container that is not running, a bad
//! `--parent-path`), so a caller learns the same thing about its
//! arguments. Nothing is written.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::cli::{CheckpointArgs, GlobalOpts};
use crate::error::{Error, Result};
use crate::state::{State, Status};

pub fn run(global: &GlobalOpts, args: &CheckpointArgs) -> Result<i32> {
    let st = State::load(&global.root, &args.id)?;
    match st.current_status(&global.root) {
        Status::Running | Status::Paused => {}
        s => {
            return Err(Error::invalid(format!(
                "container cannot be checkpointed in {} state",
                s.as_str()
            )))
        }
    }
    if let Some(mode) = &args.manage_cgroups_mode {
        if !["soft", "full", "strict", "ignore"].contains(&mode.as_str()) {
            return Err(Error::invalid(format!(
                "invalid --manage-cgroups-mode {mode:?} (want soft, full, strict or ignore)"
            )));
        }
    }
    let image = match &args.image_path {
        Some(p) => p.clone(),
        None => std::env::current_dir()
            .map_err(|e| Error::invalid(format!("current directory: {e}")))?
            .join("checkpoint"),
    };
    if let Some(parent) = &args.parent_path {
        check_parent_path(&image, parent)?;
    }
    Err(Error::invalid(
        "checkpoint needs criu, which brig does not support",
    ))
}

/// `--parent-path` names the pre-dump images relative to the image
/// directory (criu links them from there), so it must be relative and an
/// existing directory under `image`.
fn check_parent_path(image: &Path, parent: &Path) -> Result<()> {
    if parent.is_absolute() {
        return Err(Error::invalid("--parent-path must be relative"));
    }
    let real: PathBuf = image.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!(
            "invalid --parent-path: stat {}: not a directory",
            real.display()
        ))),
        Err(e) => Err(Error::invalid(format!(
            "invalid --parent-path: stat {}: {}",
            real.display(),
            crate::error::Os(Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_path_rules() {
        let image = tempfile::tempdir().unwrap();
        std::fs::create_dir(image.path().join("parent")).unwrap();
        std::fs::write(image.path().join("file"), "").unwrap();
        assert!(check_parent_path(image.path(), Path::new("parent")).is_ok());
        for (p, want) in [
            ("/abs/parent", "--parent-path must be relative"),
            ("missing", "invalid --parent-path: stat "),
            ("file", "not a directory"),
        ] {
            let e = check_parent_path(image.path(), Path::new(p)).unwrap_err();
            assert!(e.chain().contains(want), "{p}: {}", e.chain());
        }
    }
}
