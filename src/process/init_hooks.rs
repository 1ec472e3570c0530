//! INIT's side of the hook protocol: sync 1c/1d with the parent for the
//! runtime-namespace hooks, createContainer before pivot_root, and
//! startContainer right before execve. The runner itself is `crate::hooks`.

use std::io::Write;

use crate::error::{Error, Result};
use crate::hooks;
use crate::process::channel::Channel;
use crate::process::messages::{InitConfig, ToInit, ToParent};

/// INIT, after the mounts and before pivot_root. sync 1c: ask the parent to
/// run prestart and createRuntime (runtime namespace) and wait for sync 1d;
/// then run createContainer here, in the container's namespaces, with the
/// path still resolved in the runtime's view (nothing is pivoted yet).
pub fn before_pivot(ch: &Channel, cfg: &InitConfig) -> Result<()> {
    let configured = cfg.plan.hooks.in_container.as_ref();
    if cfg.plan.hooks.ask_parent {
        // sync 1c
        ch.send(&ToParent::RunHooks)?;
        // sync 1d
        match ch.recv::<ToInit>()? {
            Some(ToInit::HooksDone) => {}
            // The parent died (or failed a hook and is tearing us down).
            None => std::process::exit(1),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "init: expected HooksDone, got {other:?}"
                )))
            }
        }
    }
    if !hooks::Kind::CreateContainer.list(configured).is_empty() {
        // The hook gets stdio and the preserved fds, never the init channel
        // or the console and agent sockets. Init itself keeps using them; its
        // own execve closes them anyway.
        crate::linux::fds::cloexec_from(3 + cfg.plan.preserve_fds as i32)?;
        // runc runs it from the rootfs directory.
        hooks::run_in(
            hooks::Kind::CreateContainer,
            configured,
            &cfg.state_json,
            Some(&cfg.plan.hooks.cwd),
            hooks::DefaultEnv::Given(&[]),
        )?;
    }
    Ok(())
}

/// INIT, after sync 3, with the final credentials, right before execve
/// (where runc runs them). The exec fifo is still open for writing: a
/// failure is written into it for `start` to report, and it closes at
/// execve, which tells `start` the user process runs. A hook without `env`
/// of its own gets `process_env`, the environment the container's process
/// is about to get (runc's de facto behaviour, kept by its tests).
pub fn start_container(
    cfg: &InitConfig,
    fifo: Option<&std::fs::File>,
    process_env: &[std::ffi::CString],
) -> Result<()> {
    let configured = cfg.plan.hooks.in_container.as_ref();
    let default_env: Vec<String> = process_env
        .iter()
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let result = hooks::run_in(
        hooks::Kind::StartContainer,
        configured,
        &cfg.state_json,
        None,
        hooks::DefaultEnv::Given(&default_env),
    );
    if let (Err(e), Some(mut f)) = (&result, fifo) {
        let _ = f.write_all(e.chain().as_bytes());
    }
    result
}
