use crate::bundle::Bundle;
use crate::cli::{CreateArgs, GlobalOpts};
use crate::error::Result;
use crate::process::launch::ConsoleSocket;
use crate::process::parent::{self, CreateOpts};

pub fn run(global: &GlobalOpts, a: &CreateArgs) -> Result<i32> {
    parent::create(&super::runtime_opts(global), &opts(global, a)?)?;
    Ok(0)
}

pub fn opts<'a>(global: &GlobalOpts, a: &'a CreateArgs) -> Result<CreateOpts<'a>> {
    Ok(CreateOpts {
        id: &a.id,
        bundle: Bundle::load(&a.bundle)?,
        console_socket: a.console_socket.as_deref().map(ConsoleSocket::Path),
        pidfd_socket: a.pidfd_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        cgroup_driver: super::cgroup_driver(global)?,
        policy: super::selected_policy(global)?,
        supervised_seccomp: None,
    })
}
