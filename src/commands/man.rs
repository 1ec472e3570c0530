//! `man DIR` (brig's own): the manual pages, brig.8 and one per verb
//! (brig-create.8, ..., brig-policy-explain.8 for a verb under a verb),
//! rendered by clap_mangen from the command `--help` prints
//! (help::command), so a page cannot describe a flag brig does not parse.
//! Section 8, as runc's pages: a runtime is a system administration tool.
//! `make install` runs it. Ref: man-pages(7) for sections and page names.

use std::path::Path;

use crate::cli::ManArgs;
use crate::commands::help;
use crate::error::{Error, Result};

/// The section the pages belong to.
const SECTION: &str = "8";

/// One rendered page: its file name (`brig-create.8`) and roff text.
pub struct Page {
    pub file: String,
    pub roff: Vec<u8>,
}

pub fn run(a: &ManArgs) -> Result<i32> {
    let program = help::program_name(&std::env::args_os().next().unwrap_or_default());
    write_pages(&pages(&program)?, &a.dir)?;
    Ok(0)
}

/// Every page for `program`: the top one first, then each visible verb
/// (and the verbs under it) in the order `--help` lists them. Hidden verbs
/// (`init`) and clap's `help` get none. Pure.
pub fn pages(program: &str) -> Result<Vec<Page>> {
    let mut cmd = help::command(program)
        .bin_name(program)
        .display_name(program)
        // The NAME line and DESCRIPTION of brig.8 are the ones `--help`
        // prints (its template leaves {about} out; setting long_about
        // there would turn `--help` into clap's long layout).
        .about(help::ABOUT)
        .long_about(help::description(program))
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    // Builds the bin names ("brig create") the synopses print and the
    // display names ("brig-create") the pages are named after.
    cmd.build();
    let mut out = Vec::new();
    render(cmd, &mut out)?;
    Ok(out)
}

fn render(cmd: clap::Command, out: &mut Vec<Page>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone()).section(SECTION);
    let file = man.get_filename();
    let mut roff = Vec::new();
    man.render(&mut roff)
        .map_err(|e| Error::io(format!("render {file}"), e))?;
    let title = file.trim_end_matches(&format!(".{SECTION}"));
    out.push(Page {
        roff: with_title(&roff, title),
        file,
    });
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub.clone(), out)?;
    }
    Ok(())
}

/// `roff` with its `.TH` line replaced by one whose empty date is
/// quoted: clap_mangen writes an empty date as nothing, so man(1) reads
/// the source ("brig 0.1.0") as the date and the manual's name as the
/// source. No date, so the pages of one version are the same bytes.
/// Ref: man(7) `.TH title section [footer-middle] [footer-inside]
/// [header-middle]`.
fn with_title(roff: &[u8], title: &str) -> Vec<u8> {
    let th = format!(
        ".TH {title} {SECTION} \"\" \"brig {}\" \"System Administration\"",
        env!("CARGO_PKG_VERSION")
    );
    let text = String::from_utf8_lossy(roff);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(if line.starts_with(".TH ") { &th } else { line });
        out.push('\n');
    }
    out.into_bytes()
}

fn write_pages(pages: &[Page], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    for p in pages {
        let path = dir.join(&p.file);
        std::fs::write(&path, &p.roff)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page per visible verb, none for the hidden `init`.
    #[test]
    fn a_page_per_visible_verb() {
        let pages = pages("brig").unwrap();
        let files: Vec<&str> = pages.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files[0], "brig.8");
        // Built: a verb's own verbs are made with its flags (deferred).
        let mut cmd = help::command("brig");
        cmd.build();
        let verbs: Vec<&str> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| s.get_name())
            .collect();
        for verb in crate::commands::completion::tests::VERBS {
            assert!(verbs.contains(verb), "{verb} is not a visible verb");
        }
        for verb in &verbs {
            let file = format!("brig-{verb}.8");
            assert!(files.contains(&file.as_str()), "no {file} in {files:?}");
        }
        for file in ["brig-policy-explain.8", "brig-seccomp-default.8"] {
            assert!(files.contains(&file), "no {file} in {files:?}");
        }
        assert!(!files
            .iter()
            .any(|f| f.contains("init") || f.contains("help")));
        // A page per verb under a verb too (policy explain, ...).
        let nested: usize = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| {
                s.get_subcommands()
                    .filter(|n| !n.is_hide_set() && n.get_name() != "help")
                    .count()
            })
            .sum();
        assert_eq!(files.len(), 1 + verbs.len() + nested, "{files:?}");
    }

    /// The pages say what `--help` says: the top page's NAME line, a
    /// verb's flags, and its synopsis under the program's name.
    #[test]
    fn pages_read_like_help() {
        let pages = pages("brig").unwrap();
        let page = |f: &str| {
            let p = pages.iter().find(|p| p.file == f).unwrap();
            String::from_utf8(p.roff.clone()).unwrap()
        };
        let top = page("brig.8");
        assert!(
            top.lines()
                .any(|l| l.starts_with(".TH brig 8 ") && l.contains("\"brig ")),
            "{top}"
        );
        assert!(
            top.contains("brig \\- Open Container Initiative runtime"),
            "{top}"
        );
        let create = page("brig-create.8");
        assert!(
            create.contains("\n.TH brig-create 8 \"\" \"brig "),
            "{create}"
        );
        assert!(create.contains("\\fBbrig create\\fR"), "{create}");
        for flag in ["pid\\-file", "console\\-socket", "no\\-pivot", "bundle"] {
            assert!(create.contains(flag), "{flag}: {create}");
        }
    }
}
