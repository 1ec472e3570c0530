//! TODO(cgroups): stub.
use std::os::fd::BorrowedFd;
pub struct Manager {
    path: String,
}
impl Manager {
    pub fn new(p: Option<&str>, id: &str, _systemd: bool) -> crate::Result<Manager> {
        Ok(Manager {
            path: p.map(String::from).unwrap_or(format!("/{id}")),
        })
    }
    pub fn open(p: &str, _systemd: bool) -> crate::Result<Manager> {
        Ok(Manager { path: p.into() })
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn create(&self) -> crate::Result<()> {
        Ok(())
    }
    pub fn set(&self, _r: &oci_spec::runtime::LinuxResources) -> crate::Result<()> {
        Ok(())
    }
    pub fn add(&self, _pid: nix::unistd::Pid) -> crate::Result<()> {
        Ok(())
    }
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    pub fn pids(&self) -> crate::Result<Vec<i32>> {
        Ok(vec![])
    }
    pub fn freeze(&self) -> crate::Result<()> {
        Ok(())
    }
    pub fn thaw(&self) -> crate::Result<()> {
        Ok(())
    }
    pub fn is_frozen(&self) -> crate::Result<bool> {
        Ok(false)
    }
    pub fn kill_all(&self, _s: nix::sys::signal::Signal) -> crate::Result<()> {
        Ok(())
    }
    pub fn destroy(&self) -> crate::Result<()> {
        Ok(())
    }
}
pub fn validate(_r: &oci_spec::runtime::LinuxResources) -> crate::Result<()> {
    Ok(())
}
pub fn features() -> serde_json::Value {
    serde_json::json!({})
}
