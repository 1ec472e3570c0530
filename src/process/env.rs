//! The environment the container's process gets from `process.env`, as
//! runc prepares it: one entry per key (the last one given wins, in the
//! place where it was given last), and HOME from the container's
//! /etc/passwd when it is missing or empty. Pure; init.rs reads the
//! passwd file and adds the socket-activation variables.

/// The key of a `KEY=VALUE` entry (the whole entry when there is no `=`;
/// validate::env refuses such entries before any process exists).
fn key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Each key once, with the value of its last occurrence, at the position
/// of that last occurrence: `A=1 B=2 A=3` becomes `B=2 A=3` (as runc and
/// Go's os/exec reduce duplicates).
pub fn dedup(env: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = env
        .iter()
        .rev()
        .filter(|e| seen.insert(key(e)))
        .cloned()
        .collect();
    out.reverse();
    out
}

/// `env` deduplicated, with an empty `HOME=` dropped and, when no
/// non-empty HOME is left, `HOME=<home()>` appended. `home` is only called
/// when it is needed.
pub fn prepare(env: &[String], home: impl FnOnce() -> String) -> Vec<String> {
    let mut out = dedup(env);
    out.retain(|e| e != "HOME=");
    if !out.iter().any(|e| key(e) == "HOME") {
        out.push(format!("HOME={}", home()));
    }
    out
}

/// The home directory of `uid` in a passwd(5) file's text: the sixth
/// field of the first line whose third field is `uid`.
pub fn home_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd_field(passwd, uid, 5)
}

/// The user name of `uid` in a passwd(5) file's text: the first field of
/// the first line whose third field is `uid`.
pub fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd_field(passwd, uid, 0).filter(|n| !n.is_empty())
}

fn passwd_field(passwd: &str, uid: u32, field: usize) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > field.max(2) && f[2].parse::<u32>().ok() == Some(uid))
            .then(|| f[field].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn duplicates_keep_the_last_value_at_its_place() {
        for (env, want) in [
            (vec![], vec![]),
            (vec!["A=1"], vec!["A=1"]),
            (vec!["A=1", "B=2", "A=3"], vec!["B=2", "A=3"]),
            (
                vec!["ONE=two", "ONE=", "PATH=/bin"],
                vec!["ONE=", "PATH=/bin"],
            ),
            (vec!["A=1", "A=1"], vec!["A=1"]),
            // Only the key decides: "A=x=y" has key A.
            (vec!["A=x=y", "AB=1", "A=z"], vec!["AB=1", "A=z"]),
        ] {
            assert_eq!(dedup(&v(&env)), v(&want), "{env:?}");
        }
    }

    #[test]
    fn home_is_filled_when_missing_or_empty() {
        let root = || "/root".to_string();
        for (env, want) in [
            (vec!["PATH=/bin"], vec!["PATH=/bin", "HOME=/root"]),
            (vec!["HOME=/override"], vec!["HOME=/override"]),
            (vec!["HOME="], vec!["HOME=/root"]),
            (vec!["HOME=/override", "HOME="], vec!["HOME=/root"]),
            (vec!["HOME=", "HOME=/x", "A=1"], vec!["HOME=/x", "A=1"]),
            (
                vec!["HOME=", "PATH=/usr/bin:/bin"],
                vec!["PATH=/usr/bin:/bin", "HOME=/root"],
            ),
        ] {
            assert_eq!(prepare(&v(&env), root), v(&want), "{env:?}");
        }
        // The passwd file is not read when HOME is given.
        prepare(&v(&["HOME=/h"]), || panic!("home looked up"));
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n\
                      broken\n\
                      daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
                      u:x:1000:100:U:/home/u:/bin/sh\n";
        assert_eq!(home_in_passwd(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(home_in_passwd(passwd, 1000).as_deref(), Some("/home/u"));
        assert_eq!(home_in_passwd(passwd, 1).as_deref(), Some("/usr/sbin"));
        assert_eq!(home_in_passwd(passwd, 7), None);
        assert_eq!(home_in_passwd("", 0), None);
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("u"));
        assert_eq!(name_in_passwd(passwd, 7), None);
        assert_eq!(name_in_passwd(":x:9:9::/:/bin/sh", 9), None);
    }
}
