//! blkio (v1) and io (v2): weights and throttles.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::cgroups::files::write;
use crate::error::Result;

/// A blkio weight that is set: 0 means "leave it alone", as in runc
/// (Docker sends `"blockIO": {"weight": 0}` for every container run
/// without `--blkio-weight`). Ref: runc libcontainer/cgroups/fs/blkio.go.
fn given(w: Option<u16>) -> Option<u16> {
    w.filter(|w| *w != 0)
}

pub(super) fn blkio_v1(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // Kernels without CFQ only have BFQ's files. Ref: runc fs/blkio.go.
    let bfq = !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists();
    let (weight, weight_device) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = given(b.weight()) {
        write(d, weight, &w.to_string())?;
    }
    if let Some(w) = given(b.leaf_weight()) {
        write(d, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = given(wd.weight()) {
            write(
                d,
                weight_device,
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
        if let Some(w) = given(wd.leaf_weight()) {
            write(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            write(
                d,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// blkio weight (10-1000) -> io.weight (1-10000). Ref: runc ConvertBlkIOToIOWeightValue.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

pub(super) fn io_v2(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = d.join("io.bfq.weight").exists();
    if let Some(w) = given(b.weight()) {
        if bfq {
            write(d, "io.bfq.weight", &w.to_string())?;
        } else {
            write(
                d,
                "io.weight",
                &format!("default {}", blkio_to_io_weight(w)),
            )?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = given(wd.weight()) {
            if bfq {
                write(
                    d,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", wd.major(), wd.minor()),
                )?;
            } else {
                write(
                    d,
                    "io.weight",
                    &format!("{}:{} {}", wd.major(), wd.minor(), blkio_to_io_weight(w)),
                )?;
            }
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(
                d,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion() {
        for (b, w) in [(0, 0), (10, 1), (500, 4950), (1000, 10000)] {
            assert_eq!(blkio_to_io_weight(b), w, "{b}");
        }
    }
}
