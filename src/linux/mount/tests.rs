//! Option parsing and bind-mount flags, as tables.

use super::*;
use MsFlags as M;

fn opts(v: &[&str]) -> MountOptions {
    parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn flags_table() {
    let cases: &[(&[&str], MsFlags, MsFlags, &str)] = &[
        (&[], M::empty(), M::empty(), ""),
        (&["defaults"], M::empty(), M::empty(), ""),
        (
            &["ro", "nosuid", "nodev", "noexec"],
            M::MS_RDONLY | M::MS_NOSUID | M::MS_NODEV | M::MS_NOEXEC,
            M::empty(),
            "",
        ),
        (&["ro", "rw"], M::empty(), M::MS_RDONLY, ""),
        (&["rw", "ro"], M::MS_RDONLY, M::empty(), ""),
        (
            &["suid", "dev", "exec", "async", "nomand"],
            M::empty(),
            M::MS_NOSUID | M::MS_NODEV | M::MS_NOEXEC | M::MS_SYNCHRONOUS | M::MS_MANDLOCK,
            "",
        ),
        (
            &["sync", "dirsync", "remount", "mand"],
            M::MS_SYNCHRONOUS | M::MS_DIRSYNC | M::MS_REMOUNT | M::MS_MANDLOCK,
            M::empty(),
            "",
        ),
        (
            &["noatime", "nodiratime"],
            M::MS_NOATIME | M::MS_NODIRATIME,
            M::empty(),
            "",
        ),
        (
            &[
                "atime",
                "diratime",
                "norelatime",
                "nostrictatime",
                "nolazytime",
            ],
            M::empty(),
            M::MS_NOATIME | M::MS_NODIRATIME | M::MS_RELATIME | M::MS_STRICTATIME | M::MS_LAZYTIME,
            "",
        ),
        (
            &["relatime", "strictatime", "lazytime"],
            M::MS_RELATIME | M::MS_STRICTATIME | M::MS_LAZYTIME,
            M::empty(),
            "",
        ),
        (&["bind"], M::MS_BIND, M::empty(), ""),
        (
            &["rbind", "ro"],
            M::MS_BIND | M::MS_REC | M::MS_RDONLY,
            M::empty(),
            "",
        ),
        (
            &["silent", "iversion"],
            M::MS_SILENT | M::MS_I_VERSION,
            M::empty(),
            "",
        ),
        (
            &["loud", "noiversion"],
            M::empty(),
            M::MS_SILENT | M::MS_I_VERSION,
            "",
        ),
        (&["nosymfollow"], MS_NOSYMFOLLOW, M::empty(), ""),
        (
            &["nosuid", "mode=755", "size=65536k"],
            M::MS_NOSUID,
            M::empty(),
            "mode=755,size=65536k",
        ),
        (
            &["newinstance", "ptmxmode=0666", "gid=5"],
            M::empty(),
            M::empty(),
            "newinstance,ptmxmode=0666,gid=5",
        ),
        (&["tmpcopyup", "idmap"], M::empty(), M::empty(), ""),
    ];
    for (input, set, cleared, data) in cases {
        let o = opts(input);
        assert_eq!(
            (o.flags, o.cleared, o.data().as_str()),
            (*set, *cleared, *data),
            "{input:?}"
        );
    }
}

#[test]
fn propagation_recursive_and_idmap() {
    let o = opts(&[
        "rprivate",
        "shared",
        "rslave",
        "unbindable",
        "private",
        "rshared",
        "slave",
        "runbindable",
    ]);
    assert_eq!(
        o.propagation,
        vec![
            M::MS_PRIVATE | M::MS_REC,
            M::MS_SHARED,
            M::MS_SLAVE | M::MS_REC,
            M::MS_UNBINDABLE,
            M::MS_PRIVATE,
            M::MS_SHARED | M::MS_REC,
            M::MS_SLAVE,
            M::MS_UNBINDABLE | M::MS_REC
        ]
    );
    let cases: &[(&[&str], u64, u64)] = &[
        (&["rro"], MOUNT_ATTR_RDONLY, 0),
        (&["rro", "rrw"], 0, MOUNT_ATTR_RDONLY),
        (
            &["rnosuid", "rnodev", "rnoexec"],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            0,
        ),
        (
            &["rsuid", "rdev", "rexec"],
            0,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        ),
        (&["rnoatime"], MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK),
        (
            &["rnoatime", "ratime"],
            MOUNT_ATTR_RELATIME,
            MOUNT_ATTR_ATIME_MASK,
        ),
        (&["rrelatime"], MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK),
        (&["rnorelatime"], MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK),
        (
            &["rstrictatime", "rnostrictatime"],
            MOUNT_ATTR_RELATIME,
            MOUNT_ATTR_ATIME_MASK,
        ),
        (
            &["rstrictatime"],
            MOUNT_ATTR_STRICTATIME,
            MOUNT_ATTR_ATIME_MASK,
        ),
        (&["rnodiratime"], MOUNT_ATTR_NODIRATIME, 0),
        (&["rdiratime"], 0, MOUNT_ATTR_NODIRATIME),
        (&["rnosymfollow"], MOUNT_ATTR_NOSYMFOLLOW, 0),
        (&["rsymfollow"], 0, MOUNT_ATTR_NOSYMFOLLOW),
    ];
    for (input, set, clr) in cases {
        let o = opts(input);
        assert_eq!((o.rec_set, o.rec_clr), (*set, *clr), "{input:?}");
    }
    assert_eq!(opts(&["idmap"]).idmap, Some(false));
    assert_eq!(opts(&["ridmap"]).idmap, Some(true));
    assert!(opts(&["tmpcopyup"]).tmpcopyup);
}

#[test]
fn bad_options_are_named() {
    for bad in ["", "ro,nosuid"] {
        let e = parse_options(&[bad.to_string()]).unwrap_err();
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}

/// Attributes by name, for the table below.
fn attrs(names: &str) -> u64 {
    names
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| match n {
            "ro" => MOUNT_ATTR_RDONLY,
            "nosuid" => MOUNT_ATTR_NOSUID,
            "nodev" => MOUNT_ATTR_NODEV,
            "noexec" => MOUNT_ATTR_NOEXEC,
            "nosymfollow" => MOUNT_ATTR_NOSYMFOLLOW,
            "nodiratime" => MOUNT_ATTR_NODIRATIME,
            "noatime" => MOUNT_ATTR_NOATIME,
            "strictatime" => MOUNT_ATTR_STRICTATIME,
            "relatime" => MOUNT_ATTR_RELATIME,
            other => panic!("{other}"),
        })
        .fold(0, |a, b| a | b)
}

/// The source's flags after the bind's (set, clear).
fn result(src: u64, (set, clr): (u64, u64)) -> u64 {
    (src & !clr) | set
}

/// runc's mounts_sshfs.bats cases: source flags, bind options, whether
/// in a user namespace, and the flags the mount ends with (None: an
/// error).
#[test]
fn bind_flags_as_runc_1_2() {
    let cases: &[(&str, &[&str], bool, Option<&str>)] = &[
        (
            "ro,noexec,nosymfollow,nodiratime",
            &["bind"],
            false,
            Some("ro,noexec,nosymfollow,nodiratime"),
        ),
        (
            "ro,noexec,nosymfollow,nodiratime",
            &["bind", "dev"],
            false,
            Some("nodiratime"),
        ),
        (
            "ro,noexec,nosymfollow,nodiratime",
            &["bind", "dev"],
            true,
            Some("ro,noexec,nodiratime"),
        ),
        (
            "ro",
            &["bind", "nosuid", "nodev", "rprivate"],
            false,
            Some("nosuid,nodev"),
        ),
        (
            "ro",
            &["bind", "nosuid", "nodev", "rprivate"],
            true,
            Some("ro,nosuid,nodev"),
        ),
        (
            "ro",
            &["bind", "rw", "nosuid", "nodev"],
            false,
            Some("nosuid,nodev"),
        ),
        ("ro", &["bind", "rw", "nosuid", "nodev"], true, None),
        (
            "nosuid,nodev,noexec,noatime",
            &["bind", "dev", "suid", "exec", "atime"],
            false,
            Some("noatime"),
        ),
        (
            "nosuid,nodev,noatime",
            &["bind", "dev", "suid", "exec", "atime"],
            true,
            None,
        ),
        (
            "nodev,nosuid,noexec,noatime",
            &["bind", "ro"],
            false,
            Some("ro,noatime"),
        ),
        (
            "nodev,nosuid,noexec,noatime",
            &["bind", "ro"],
            true,
            Some("ro,nodev,nosuid,noexec,noatime"),
        ),
        (
            "nodev,nosymfollow",
            &["bind", "ro", "symfollow"],
            true,
            Some("ro,nodev"),
        ),
        (
            "nodev,nosuid,noatime",
            &["bind", "ro", "exec"],
            true,
            Some("ro,nodev,nosuid,noatime"),
        ),
        // atime
        ("noatime", &["bind", "norelatime"], false, Some("noatime")),
        ("noatime", &["bind", "atime"], false, Some("noatime")),
        ("noatime", &["bind", "relatime"], false, Some("relatime")),
        (
            "noatime",
            &["bind", "nodiratime"],
            false,
            Some("relatime,nodiratime"),
        ),
        (
            "nodiratime",
            &["bind", "strictatime"],
            false,
            Some("strictatime"),
        ),
        (
            "noatime",
            &["bind", "nodiratime", "strictatime"],
            false,
            Some("strictatime,nodiratime"),
        ),
        (
            "noatime",
            &["bind", "nodiratime", "norelatime"],
            false,
            Some("relatime,nodiratime"),
        ),
        (
            "noatime,nodiratime",
            &["bind", "norelatime"],
            true,
            Some("noatime,nodiratime"),
        ),
        ("nodiratime", &["bind", "strictatime"], true, None),
        ("relatime", &["bind", "noatime"], true, None),
        ("relatime", &["bind", "nodiratime"], true, None),
        ("strictatime", &["bind", "relatime"], true, None),
        ("nosymfollow", &["bind", "sync"], false, Some("")),
    ];
    for (src, input, userns, want) in cases {
        let s = attrs(src);
        let got = opts(input).bind_attrs(s, *userns).map(|p| result(s, p));
        match want {
            Some(w) => assert_eq!(got, Ok(attrs(w)), "{src} + {input:?} (userns {userns})"),
            None => assert!(got.is_err(), "{src} + {input:?}: {got:?}"),
        }
    }
}
