//! `PROG --generate KIND`: a binary's man page and shell completions, made
//! from its clap definition (as ripgrep does), so they never drift from
//! `--help`. The Debian package (`cargo xtask deb`) ships what this writes.
//!
//! A binary calls [`handle`] first thing in `main`; it returns at once
//! unless the first argument is `--generate`, so the binary's own parser
//! (required subcommands, required inputs) is not involved.

use std::ffi::OsString;
use std::io::{self, Write};

use clap::{value_parser, Arg, Command, ValueEnum};
use clap_complete::Shell;
use clap_mangen::Man;

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The man page (roff), every subcommand with its options.
    Man,
    /// bash completion script (`/usr/share/bash-completion/completions/PROG`).
    CompleteBash,
    /// zsh completion function (`/usr/share/zsh/vendor-completions/_PROG`).
    CompleteZsh,
    /// fish completions (`/usr/share/fish/vendor_completions.d/PROG.fish`).
    CompleteFish,
}

impl Kind {
    /// Every kind, in the order `--generate` lists them.
    pub const ALL: [Kind; 4] = [
        Kind::Man,
        Kind::CompleteBash,
        Kind::CompleteZsh,
        Kind::CompleteFish,
    ];

    /// The value given to `--generate`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Man => "man",
            Kind::CompleteBash => "complete-bash",
            Kind::CompleteZsh => "complete-zsh",
            Kind::CompleteFish => "complete-fish",
        }
    }
}

/// When the process was started as `PROG --generate KIND`, writes KIND
/// for the command `command()` builds to stdout and exits (0, or 2 with a
/// message); otherwise returns and the binary parses its arguments as
/// usual. `--generate` is hidden: it is for packagers, not in `--help`.
pub fn handle(command: impl FnOnce() -> Command) {
    let args: Vec<OsString> = std::env::args_os().collect();
    let asked = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| a == "--generate" || a.starts_with("--generate="));
    if !asked {
        return;
    }
    let cmd = command();
    let name = cmd.get_name().to_string();
    // A parser of just this option: a bad KIND gets clap's usual error,
    // with the possible values.
    let matches = Command::new("generate")
        .bin_name(name.clone())
        .about("Writes the man page or a shell's completions to stdout")
        .arg(
            Arg::new("generate")
                .long("generate")
                .value_name("KIND")
                .required(true)
                .value_parser(value_parser!(Kind)),
        )
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let kind = *matches
        .get_one::<Kind>("generate")
        .expect("--generate is required");
    let result = write(kind, cmd, &mut io::stdout().lock());
    super::exit(&name, result.map(|()| true).map_err(anyhow::Error::from))
}

/// Writes `kind` for `cmd` (whose name is the program's name).
pub fn write(kind: Kind, cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let shell = match kind {
        Kind::Man => return man(cmd, out),
        Kind::CompleteBash => Shell::Bash,
        Kind::CompleteZsh => Shell::Zsh,
        Kind::CompleteFish => Shell::Fish,
    };
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    out.write_all(&buf)?;
    out.flush()
}

/// One page: the program's synopsis, description and options, the list of
/// subcommands, then a section per subcommand (nested ones included) with
/// its synopsis, description and options, then the examples (after_help).
fn man(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let page = Man::new(cmd.clone());
    // The first piece keeps clap_mangen's preamble (the quote string).
    page.render_title(out)?;
    out.write_all(&piece(|w| page.render_name_section(w))?)?;
    out.write_all(&piece(|w| page.render_synopsis_section(w))?)?;
    out.write_all(&piece(|w| page.render_description_section(w))?)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        out.write_all(&piece(|w| page.render_options_section(w))?)?;
    }
    if cmd.has_subcommands() {
        out.write_all(b".SH COMMANDS\n")?;
        command_list(&cmd, out)?;
        subcommand_sections(&cmd, out)?;
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        // clap_mangen calls it EXTRA; these texts are examples and exit codes.
        let extra = piece(|w| page.render_extra_section(w))?;
        out.write_all(b".SH EXAMPLES\n")?;
        out.write_all(&drop_first_line(&extra))?;
    }
    out.write_all(&piece(|w| page.render_version_section(w))?)?;
    out.flush()
}

/// `.TP` entries: each visible subcommand's full name and what it does.
fn command_list(cmd: &Command, out: &mut dyn Write) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            escape(sub.get_bin_name().unwrap_or(sub.get_name())),
            escape(&about)
        )?;
    }
    Ok(())
}

/// A `.SH` section per visible subcommand of `cmd`, depth first. Options
/// that every subcommand inherits (global ones, `--help`) are described
/// once, in the program's own OPTIONS.
fn subcommand_sections(cmd: &Command, out: &mut dyn Write) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let full = sub.get_bin_name().unwrap_or(sub.get_name()).to_string();
        let sub = sub
            .clone()
            .mut_args(|a| {
                if a.is_global_set() || a.get_id() == "help" {
                    a.hide(true)
                } else {
                    a
                }
            })
            .disable_help_subcommand(true);
        let page = Man::new(sub.clone());
        writeln!(
            out,
            ".SH \"{}\"",
            escape(&full.to_uppercase()).replace('"', "")
        )?;
        out.write_all(&drop_first_line(&piece(|w| {
            page.render_synopsis_section(w)
        })?))?;
        out.write_all(b".PP\n")?;
        out.write_all(&drop_first_line(&piece(|w| {
            page.render_description_section(w)
        })?))?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            out.write_all(&demote_headings(&piece(|w| {
                page.render_options_section(w)
            })?))?;
        }
        if sub.has_subcommands() {
            out.write_all(b".SS COMMANDS\n")?;
            command_list(&sub, out)?;
            subcommand_sections(&sub, out)?;
        }
    }
    Ok(())
}

/// One section rendered by clap_mangen, without the preamble it repeats
/// in front of each (`.ie \n(.g .ds Aq ...`, `.el .ds Aq ...`).
fn piece(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let mut v = Vec::with_capacity(buf.len());
    for line in buf.split_inclusive(|&b| b == b'\n') {
        if !(line.starts_with(b".ie \\n(.g .ds Aq") || line.starts_with(b".el .ds Aq")) {
            v.extend_from_slice(line);
        }
    }
    Ok(v)
}

fn drop_first_line(roff: &[u8]) -> Vec<u8> {
    match roff.iter().position(|&b| b == b'\n') {
        Some(i) => roff[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// `.SH X` -> `.SS X`: a subcommand's OPTIONS are a subsection of its section.
fn demote_headings(roff: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b".SH ") {
            Some(rest) => {
                v.extend_from_slice(b".SS ");
                v.extend_from_slice(rest);
            }
            None => v.extend_from_slice(line),
        }
    }
    v
}

/// Text as roff prints it literally: backslashes and minus signs escaped,
/// a leading `.` or `'` (a request) defused; one line.
fn escape(text: &str) -> String {
    let t = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\n', " ");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    /// A little program with a nested subcommand and a global option.
    #[derive(Parser)]
    #[command(name = "demo", version, after_help = "Examples:\n  demo run fast")]
    struct Demo {
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(Subcommand)]
    enum Sub {
        /// Runs it.
        Run {
            /// How fast.
            #[arg(long, value_name = "N")]
            speed: Option<u32>,
        },
        /// Things about disks.
        #[command(subcommand)]
        Disk(DiskSub),
        #[command(hide = true)]
        Secret,
    }

    #[derive(Subcommand)]
    enum DiskSub {
        /// Shows a disk.
        Info { file: String },
    }

    fn page() -> String {
        let mut out = Vec::new();
        write(
            Kind::Man,
            <Demo as clap::CommandFactory>::command(),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn man_page_has_a_section_per_visible_subcommand_with_its_options() {
        let p = page();
        for h in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH COMMANDS",
            ".SH \"DEMO RUN\"",
            ".SH \"DEMO DISK\"",
            ".SH \"DEMO DISK INFO\"",
            ".SH EXAMPLES",
            ".SH VERSION",
        ] {
            assert!(p.contains(h), "no {h:?} in\n{p}");
        }
        assert!(!p.to_uppercase().contains("DEMO SECRET"), "{p}");
        let run = &p[p.find(".SH \"DEMO RUN\"").unwrap()..p.find(".SH \"DEMO DISK\"").unwrap()];
        assert!(run.contains("speed") && run.contains("How fast"), "{run}");
        // The global --json is described once, not in every subcommand.
        assert!(!run.contains("json"), "{run}");
        assert!(!p.contains(".SH EXTRA"), "{p}");
        // One preamble, at the top.
        assert_eq!(p.matches(".ds Aq").count(), 2, "{p}");
        assert!(
            p.contains(".TP\n\\fBdemo disk info\\fR\nShows a disk"),
            "{p}"
        );
    }

    #[test]
    fn completions_name_the_subcommands() {
        for kind in [Kind::CompleteBash, Kind::CompleteZsh, Kind::CompleteFish] {
            let mut out = Vec::new();
            write(kind, <Demo as clap::CommandFactory>::command(), &mut out).unwrap();
            let s = String::from_utf8(out).unwrap();
            assert!(s.contains("run") && s.contains("disk"), "{kind:?}: {s}");
        }
    }

    #[test]
    fn escape_defuses_roff() {
        assert_eq!(escape(".x -y \\z"), "\\&.x \\-y \\ez");
    }

    #[test]
    fn kind_names_are_the_values_clap_accepts() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_str(k.name(), false), Ok(k));
        }
    }
}
