//! End-to-end tests: build busybox bundles, drive the runtime's CLI, and read
//! what the probe inside the container reports. `BRIG_RUNTIME=/usr/sbin/runc`
//! runs the same tests against the reference runtime.
//!
//! A test that cannot run here (not root, no runc, a host without the
//! cgroup layout it needs) says so through `skip`: the run ends with a
//! `SKIPPED n of the tests counted as passed above` summary.

mod common;
#[path = "../support/skip.rs"]
mod skip;

mod affinity;
mod attrs;
mod bad_input;
mod cgroups;
mod cgroups_update;
mod cgroups_v2;
mod check;
mod cli;
mod console;
mod container;
mod debug_log;
mod env;
mod exec;
mod hooks;
mod host_mounts;
mod install;
mod lifecycle;
mod mounts;
mod output;
mod pidfd;
mod policy;
mod rootless;
mod seccomp_learn;
mod security;
mod tty;
