//! `--generate`: the man pages and shell completions the Debian package
//! ships, from the real binaries. The man page is rendered by man-db and
//! must name every subcommand (as `--help` lists them, nested ones too);
//! the bash completion is loaded into a real bash and asked what bash asks
//! on TAB; the fish completion is asked by fish itself; the zsh one must
//! parse. A shell or man that is not installed is skipped, with a message.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

fn generate(bin: &str, kind: &str) -> String {
    let o = run(bin, &["--generate", kind]);
    assert!(
        o.status.success(),
        "{bin} --generate {kind}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8")
}

/// Every subcommand `--help` lists, as full names (`tpvirt snapshot
/// create`), depth first; `help` left out.
fn subcommands(bin: &str, prefix: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = prefix.to_vec();
    args.push("--help");
    let o = run(bin, &args);
    assert!(o.status.success(), "{bin} {args:?}");
    let help = String::from_utf8(o.stdout).unwrap();
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            // Entries are "  name  about"; wrapped about lines are indented further.
            if !line.starts_with("  ") {
                break;
            }
            if line.starts_with("   ") {
                continue;
            }
            let name = line.split_whitespace().next().unwrap();
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    let mut all = Vec::new();
    for n in names {
        let mut full: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        full.push(n);
        let sub: Vec<&str> = full.iter().map(String::as_str).collect();
        let nested = subcommands(bin, &sub);
        all.push(full);
        all.extend(nested);
    }
    all
}

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipping the {program} part: {program} is not installed (cargo xtask test installs it)");
    }
    found
}

/// The man page as man-db shows it, with the warnings groff gave.
fn render_man(page: &str, dir: &Path, name: &str) -> (String, String) {
    let file = dir.join(format!("{name}.1"));
    std::fs::write(&file, page).unwrap();
    let o = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&file)
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("running man");
    assert!(
        o.status.success(),
        "man -l {}: {}",
        file.display(),
        o.status
    );
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn check_man_page(bin: &str, name: &str, must_have: &[&str]) {
    let subs = subcommands(bin, &[]);
    let listed: Vec<String> = subs.iter().map(|s| s.join(" ")).collect();
    for m in must_have {
        assert!(
            listed.iter().any(|l| l == m),
            "{name} --help lacks {m}: {listed:?}"
        );
    }
    let page = generate(bin, "man");
    assert!(page.contains(&format!(".TH {name} 1")), "{page}");
    if !have("man") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (text, warnings) = render_man(&page, dir.path(), name);
    assert!(
        warnings.trim().is_empty(),
        "groff warnings for {name}.1:\n{warnings}"
    );
    for s in &listed {
        let full = format!("{name} {s}");
        // Listed under COMMANDS, and a section of its own.
        assert!(
            text.lines().any(|l| l.trim() == full),
            "{name}.1 does not list `{full}`:\n{text}"
        );
        assert!(
            text.lines().any(|l| l == full.to_uppercase()),
            "{name}.1 has no section {}:\n{text}",
            full.to_uppercase()
        );
    }
    assert!(
        text.contains("SYNOPSIS") && text.contains("OPTIONS"),
        "{text}"
    );
}

#[test]
fn tplog_man_page_lists_every_subcommand() {
    check_man_page(
        env!("CARGO_BIN_EXE_tplog"),
        "tplog",
        &["ips", "days", "timeline", "check"],
    );
    // The examples (after_help) come along.
    let page = generate(env!("CARGO_BIN_EXE_tplog"), "man");
    assert!(
        page.contains(".SH EXAMPLES") && page.contains("truc.html"),
        "{page}"
    );
}

#[cfg(feature = "libvirt")]
#[test]
fn tpvirt_man_page_lists_every_subcommand_nested_ones_too() {
    check_man_page(
        env!("CARGO_BIN_EXE_tpvirt"),
        "tpvirt",
        &[
            "list",
            "migrate",
            "snapshot",
            "snapshot create",
            "disk overlay",
        ],
    );
}

#[cfg(feature = "capture")]
#[test]
fn tpsniff_man_page_describes_its_options() {
    let page = generate(env!("CARGO_BIN_EXE_tpsniff"), "man");
    assert!(page.contains(".TH tpsniff 1"), "{page}");
    for opt in ["read", "iface", "redact", "max\\-flows"] {
        assert!(
            page.contains(&format!("\\-\\-{opt}")),
            "no --{opt} in\n{page}"
        );
    }
    // No subcommands: no empty COMMANDS section.
    assert!(!page.contains(".SH COMMANDS"), "{page}");
    assert!(!page.contains("generate"), "--generate is hidden:\n{page}");
}

/// Loads `script` into `bash --norc` and does what bash does on TAB after
/// `line`: calls the function `complete -p PROG` names with COMP_WORDS,
/// COMP_CWORD, COMP_LINE and COMP_POINT set; returns COMPREPLY.
fn bash_complete(script: &str, prog: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(prog);
    std::fs::write(&file, script).unwrap();
    let line = words.join(" ");
    let words_sh: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let sh = format!(
        r#"source '{file}' || exit 3
spec=$(complete -p {prog}) || exit 4
func=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
[ -n "$func" ] || exit 5
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
"$func" {prog} '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        file = file.display(),
        words = words_sh.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len().saturating_sub(2)],
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &sh])
        .output()
        .expect("running bash");
    assert!(
        o.status.success(),
        "bash completion of {line:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_tplog_i_to_ips() {
    if !have("bash") {
        return;
    }
    let script = generate(env!("CARGO_BIN_EXE_tplog"), "complete-bash");
    assert_eq!(bash_complete(&script, "tplog", &["tplog", "i"]), ["ips"]);
    assert_eq!(
        bash_complete(&script, "tplog", &["tplog", "ips", "--pa"]),
        ["--page"]
    );
    let all = bash_complete(&script, "tplog", &["tplog", ""]);
    for s in ["ips", "pages", "days", "timeline", "check"] {
        assert!(all.iter().any(|c| c == s), "{s} not offered: {all:?}");
    }
}

#[cfg(all(feature = "capture", feature = "libvirt"))]
#[test]
fn bash_completes_tpsniff_and_tpvirt() {
    if !have("bash") {
        return;
    }
    let sniff = generate(env!("CARGO_BIN_EXE_tpsniff"), "complete-bash");
    let mut got = bash_complete(&sniff, "tpsniff", &["tpsniff", "--re"]);
    got.sort();
    assert_eq!(got, ["--read", "--redact"]);
    let virt = generate(env!("CARGO_BIN_EXE_tpvirt"), "complete-bash");
    assert_eq!(
        bash_complete(&virt, "tpvirt", &["tpvirt", "snapshot", "cr"]),
        ["create"]
    );
}

#[test]
fn fish_completes_tplog_i_to_ips() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tplog.fish");
    std::fs::write(
        &file,
        generate(env!("CARGO_BIN_EXE_tplog"), "complete-fish"),
    )
    .unwrap();
    let o = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source '{}'; complete -C 'tplog i'",
            file.display()
        ))
        .env("HOME", dir.path())
        .output()
        .expect("running fish");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(got, ["ips"], "fish offered {got:?}");
}

#[test]
fn zsh_completion_parses() {
    if !have("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("_tplog");
    let script = generate(env!("CARGO_BIN_EXE_tplog"), "complete-zsh");
    assert!(script.starts_with("#compdef tplog"), "{script}");
    std::fs::write(&file, script).unwrap();
    let o = Command::new("zsh")
        .args(["-n", "-f"])
        .arg(&file)
        .output()
        .expect("running zsh");
    assert!(
        o.status.success(),
        "zsh -n _tplog: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_bad_kind_is_an_argument_error_listing_the_kinds() {
    let o = run(env!("CARGO_BIN_EXE_tplog"), &["--generate", "pdf"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for k in ["man", "complete-bash", "complete-zsh", "complete-fish"] {
        assert!(err.contains(k), "{err}");
    }
    // Not a query: tplog does not wait for stdin or ask for a subcommand.
    assert!(!err.contains("no input"), "{err}");
}
