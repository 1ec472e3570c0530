//! `make install DESTDIR=...` lays out brig, its manual pages and its
//! shell completions where distributions look for them, and `make
//! uninstall` takes them away. It installs the debug brig cargo built for
//! these tests (BRIG=...), so it costs no release build; the runtime under
//! test (BRIG_RUNTIME) plays no part.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// `make TARGET DESTDIR=dest PREFIX=/usr` in the source tree, with none
/// of an outer make's flags (`make test` runs this suite).
fn make(target: &str, dest: &Path) -> Output {
    Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-s", target, "PREFIX=/usr"])
        .arg(format!("DESTDIR={}", dest.display()))
        .arg(concat!("BRIG=", env!("CARGO_BIN_EXE_brig")))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("run make")
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn make_install_lays_out_binary_pages_and_completions() {
    if Command::new("make").arg("--version").output().is_err() {
        return crate::skip::test("no make on PATH");
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path();
    let out = make("install", dest);
    assert!(out.status.success(), "make install: {out:?}");

    let usr = dest.join("usr");
    let bin = usr.join("bin/brig");
    assert_eq!(mode(&bin), 0o755, "{}", bin.display());
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("brig version "),
        "{version:?}"
    );

    let man8 = usr.join("share/man/man8");
    let pages: Vec<String> = fs::read_dir(&man8)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for verb in ["create", "start", "exec", "checkpoint", "policy", "check"] {
        assert!(
            pages.contains(&format!("brig-{verb}.8")),
            "no brig-{verb}.8 in {pages:?}"
        );
    }
    assert!(pages.contains(&"brig.8".to_string()), "{pages:?}");
    let top = fs::read_to_string(man8.join("brig.8")).unwrap();
    assert!(top.contains(".TH brig 8 "), "{top}");

    let share = usr.join("share");
    for (file, starts) in [
        ("bash-completion/completions/brig", "_brig() {"),
        ("zsh/site-functions/_brig", "#compdef brig"),
        ("fish/vendor_completions.d/brig.fish", ""),
    ] {
        let path = share.join(file);
        assert_eq!(mode(&path), 0o644, "{}", path.display());
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts) && text.contains("checkpoint"),
            "{file}: {text}"
        );
    }
    for page in &pages {
        assert_eq!(mode(&man8.join(page)), 0o644, "{page}");
    }

    let out = make("uninstall", dest);
    assert!(out.status.success(), "make uninstall: {out:?}");
    let left: Vec<_> = walk(dest);
    assert!(left.is_empty(), "left after uninstall: {left:?}");
}

/// Every file (not directory) under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}
