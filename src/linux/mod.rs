//! The only place that calls into the kernel (with `process::clone`).
//! One file per mechanism.

pub mod apparmor;
pub mod bpf;
pub mod capabilities;
pub mod devices;
pub mod exe;
pub mod fds;
pub mod idmap;
pub mod inroot;
pub mod landlock;
pub mod mount;
pub mod mountapi;
pub mod mountinfo;
pub mod namespaces;
pub mod pid;
pub mod pivot;
pub mod poll;
pub mod procfs;
pub mod procmount;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod signal;
pub mod sysctl;
pub mod tty;
pub mod userns;
