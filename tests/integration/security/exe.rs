//! CVE-2019-5736: the runtime's own binary, as the container's init sees it
//! through /proc/PID/exe while it waits for `start`, must not be a writable
//! host file.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use crate::common::{require_root, unique_id, Bundle, Rt};

#[test]
fn init_exe_cannot_be_written() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("exe");
    rt.create(&b, &id, &[]).expect_ok("create");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).unwrap();
    // Open for writing must fail (brig: a read-only mount, EROFS; runc 1.1:
    // a sealed memfd). Should the open succeed, writing back the first byte
    // unchanged must fail too; if even that succeeds nothing was altered.
    match OpenOptions::new().write(true).open(&exe) {
        Err(e) => eprintln!("open {exe} ({}) for write: {e}", target.display()),
        Ok(f) => {
            let mut byte = [0u8; 1];
            let r = std::fs::File::open(&exe).unwrap().read_at(&mut byte, 0);
            assert_eq!(r.ok(), Some(1));
            let w = f.write_at(&byte, 0);
            assert!(
                w.is_err(),
                "{exe} -> {} is writable from the host side",
                target.display()
            );
        }
    }
}
