//! The only place that calls into the kernel (with the clone path:
//! `process::clone` and `process::child`). One file per mechanism.

pub mod apparmor;
pub mod bpf;
pub mod capabilities;
pub mod creds;
pub mod devices;
pub mod exe;
pub mod execve;
pub mod fds;
pub mod fifo;
pub mod fstype;
pub mod idmap;
pub mod inherit;
pub mod inroot;
pub mod keyring;
pub mod landlock;
pub mod lock;
pub mod mount;
pub mod mountapi;
pub mod mountinfo;
pub mod namespaces;
pub mod pid;
pub mod pivot;
pub mod poll;
pub mod prctl;
pub mod procfs;
pub mod procmount;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod seqpacket;
pub mod signal;
pub mod sysctl;
pub mod tty;
pub mod userns;
pub mod uts;
