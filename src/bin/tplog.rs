//! tplog: the lab's access-log queries. Arguments → a checked query →
//! the library's engine → a printer → exit code (0 found, 1 nothing, 2 error).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tplab::log::chunk::InputSpec;
use tplab::log::engine::{Action, EngineOpts, Group, Query};
use tplab::log::filter::{Filter, FilterArgs};
use tplab::log::format::{self, FormatChoice};
use std::sync::Arc;
use tplab::log::panels;
use tplab::log::report::{self, Format, OutputOpts, SortBy};
use tplab::log::time::parse_every;

#[cfg(feature = "parquet")]
#[path = "tplog/export.rs"]
mod export;

const EXAMPLES: &str = "\
Examples (the lab's queries):
  tplog ips --page truc.html access.log
  tplog ips --from 08/Feb/2014:07:00 --to 08/Feb/2014:07:15 access.log
  tplog ips --page bidule.html --from 09/Feb/2014:07:05 --to 09/Feb/2014:07:15 access.log
  tplog days --ip 192.168.11.53 access.log
More:
  tplog pages --top 10 access.log          the ten most requested pages
  tplog status --day 2014-02-08 access.log  status codes on one day
  tplog timeline --every 15m access.log     requests per 15 minutes, as bars
  tplog lines --status 5xx access.log       the matching lines themselves (a grep)
  zcat old.log.gz | tplog stats             stdin works; .gz files are read as they are
  tplog check access.log                    every malformed line, with its line number
  tplog report -o report.html access.log    one HTML page of charts and tables, opens offline
  tplog report --follow access.log          the same page live, on http://127.0.0.1:7890/
Other formats (combined and common need nothing; others are detected from the first lines):
  tplog vhosts --log-format vhost_combined other_vhosts_access.log
  tplog stats --log-format '%h %l %u %t \"%r\" %>s %b %D' access.log     an Apache LogFormat
  tplog ips --log-format '$remote_addr [$time_local] \"$request\" $status $request_time' access.log
  tplog ips --log-config /etc/apache2/apache2.conf /var/log/apache2/other_vhosts_access.log
  tplog lines --slower-than 500ms --vhost www.example.org access.log
  tplog ips --real-ip xff --trusted 10.0.0.0/8 access.log   the client behind proxies

Exit status: 0 something matched, 1 nothing matched, 2 error.";

/// Zero-copy access-log queries: `grep | cut | sort | uniq -c`, correct and fast.
///
/// Reads Apache and nginx access logs (combined, common, nginx main; any
/// Apache LogFormat or nginx log_format with --log-format or --log-config;
/// presets for Caddy JSON, W3C/IIS, Traefik, AWS, Squid), plain or gzip,
/// from files or stdin. Group-and-count commands print exactly what
/// `sort | uniq -c` prints, so their output can replace the lab's pipelines.
/// Malformed lines are skipped and counted on stderr, never fatal.
#[derive(Parser, Debug)]
#[command(name = "tplog", version, after_help = EXAMPLES, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Requests per client address (field 1: IPv4, IPv6 or hostname).
    Ips(GroupCmd),
    /// Requests per page (the path before `?`, percent-decoded; `-` when the request has none).
    Pages(GroupCmd),
    /// Requests per day, in time order.
    Days(GroupCmd),
    /// Requests per hour (`08/Feb/2014:07`), in time order.
    Hours(GroupCmd),
    /// Requests per status code.
    Status(GroupCmd),
    /// Requests per method (`-` when the request is not METHOD TARGET HTTP/x).
    Methods(GroupCmd),
    /// Requests per referer, as written.
    Referers(GroupCmd),
    /// Requests per user agent, as written.
    Agents(GroupCmd),
    /// Requests per virtual host (`%v`, `$host`, Caddy's host; `-` when the format has none).
    Vhosts(GroupCmd),
    /// Print the matching lines themselves, in input order (a correct grep).
    Lines(PlainCmd),
    /// Print the number of matching lines.
    Count(PlainCmd),
    /// Totals, distinct IPs and pages, time span, bytes-sent percentiles, peak rates.
    Stats(FormatCmd),
    /// Requests per time bucket, drawn as bars.
    Timeline(TimelineCmd),
    /// List every malformed line with its file, line number and reason (exit 0 if any).
    Check(CheckCmd),
    /// A report to look at: one self-contained HTML page (charts, GoAccess's
    /// panels, narrowing by a click), or its data as JSON; live with --follow.
    Report(ReportCmd),
    /// Write every matching line as a row of a date-partitioned Parquet table
    /// (for Spark, DuckDB, DataFusion, Trino...).
    #[cfg(feature = "parquet")]
    #[command(after_help = export::EXPORT_HELP)]
    Export(export::ExportCmd),
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Input")]
struct InputArgs {
    /// Log files (plain or .gz); stdin when none or `-`.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Worker threads (default: one per core, one fewer when reading only pipes or .gz, so the writer keeps a core; at most 1024).
    #[arg(long, short = 'j', value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=1024))]
    threads: Option<u64>,
    /// Make the first malformed line an error (exit 2) instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// No progress bar (shown on a terminal for inputs over 1 GiB). Counts of
    /// skipped lines and errors are always reported on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Scan whole files for a time window. By default a window in a
    /// time-ordered file is found by binary search, assuming no line is
    /// stamped more than an hour before the lines around it (a log line is
    /// written when its request ends, stamped when it began); give this
    /// when requests can last longer than that.
    #[arg(long)]
    no_seek: bool,
    /// The log's format: a preset (combined, common, vhost_combined, combinedio,
    /// main, caddy, w3c, traefik, alb, elb, s3, squid...), an Apache LogFormat
    /// string (`%h %l %u %t "%r" %>s %b`) or an nginx log_format string
    /// (`$remote_addr [$time_local] "$request" $status`); with --log-config, a
    /// format name the config defines. Default: chosen per file from its first lines.
    #[arg(long, value_name = "FMT")]
    log_format: Option<String>,
    /// The server's configuration (Apache: LogFormat, CustomLog, Include; nginx:
    /// log_format, access_log, include; a Caddyfile's log block): each log file
    /// is read in the format the config writes it in.
    #[arg(long, value_name = "FILE")]
    log_config: Option<PathBuf>,
    /// Bytes per work unit (for tests).
    #[arg(long, hide = true, default_value_t = 1 << 20)]
    chunk_size: usize,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Filters (all must match)")]
struct FilterOpts {
    /// Request path: `truc.html` matches the last path segment (/truc.html, /docs/truc.html;
    /// not /truc.html.bak, never a referer); `/docs/truc.html` must equal the whole path.
    #[arg(long, value_name = "P")]
    page: Option<String>,
    /// Client address, CIDR block (192.168.11.0/24, 2001:db8::/32) or hostname.
    #[arg(long, value_name = "ADDR|CIDR")]
    ip: Option<String>,
    /// From this time, inclusive: 08/Feb/2014:07:00[:SS] or 2014-02-08T07:00[:SS]
    /// (a day or an hour also works). Compared with the log's wall-clock time as written.
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// Up to the end of this time's unit, inclusive (07:15 means through 07:15:59).
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// One day: 08/Feb/2014 or 2014-02-08.
    #[arg(long, value_name = "D")]
    day: Option<String>,
    /// Status code (404) or class (4xx).
    #[arg(long, value_name = "CODE")]
    status: Option<String>,
    /// Request method (GET, POST...).
    #[arg(long, value_name = "M")]
    method: Option<String>,
    /// Virtual host (`www.example.org` also matches `www.example.org:8080`).
    #[arg(long, value_name = "NAME")]
    vhost: Option<String>,
    /// Requests that took longer than this (500ms, 1.5s, 250us); needs a format
    /// that logs a time taken (%D, %T, $request_time, Caddy's duration, time-taken).
    #[arg(long, value_name = "DURATION")]
    slower_than: Option<String>,
    /// Take the client from X-Forwarded-For (`xff`), as nginx's realip with
    /// real_ip_recursive on: when the logged client is a trusted proxy, the
    /// rightmost address not trusted.
    #[arg(long, value_name = "xff")]
    real_ip: Option<String>,
    /// Trusted proxy ranges for --real-ip (default: loopback and private ranges).
    #[arg(long, value_name = "CIDR[,CIDR]")]
    trusted: Option<String>,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
struct RowOpts {
    /// Row order: key (like `LC_ALL=C sort`; time order for days, hours, timeline)
    /// or count (most first). Default: key, or count when --top is given.
    #[arg(long, value_name = "key|count")]
    sort: Option<SortBy>,
    /// Only the first N rows (the N largest unless --sort key).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// text (`uniq -c` layout), tsv (count<TAB>key), csv, or json.
    #[arg(long, value_name = "FMT", default_value = "text")]
    format: Format,
}

#[derive(Args, Debug)]
struct GroupCmd {
    /// Keep reading as lines are appended and redraw the answer (like `top`),
    /// most requests first; follows rotation like `tail -F`. Ctrl-C stops.
    #[arg(long, short = 'f')]
    follow: bool,
    #[command(flatten)]
    filters: FilterOpts,
    #[command(flatten)]
    rows: RowOpts,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args, Debug)]
struct PlainCmd {
    #[command(flatten)]
    filters: FilterOpts,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args, Debug)]
struct FormatCmd {
    #[command(flatten)]
    filters: FilterOpts,
    /// text, tsv, csv or json.
    #[arg(long, value_name = "FMT", default_value = "text")]
    format: Format,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args, Debug)]
struct TimelineCmd {
    /// Bucket width: 30s, 1m, 15m, 1h, 1d...
    #[arg(long, value_name = "WIDTH", default_value = "1h")]
    every: String,
    /// Bar width in characters (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    width: u64,
    #[command(flatten)]
    filters: FilterOpts,
    #[command(flatten)]
    rows: RowOpts,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args, Debug)]
struct ReportCmd {
    /// Where to write the page (`-`: stdout). Needed when stdout is a
    /// terminal; the file is written whole or not at all.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// html (the page: styles, script and data inline, nothing fetched when
    /// opened) or json (the same data; schema in docs/report.md).
    #[arg(long, value_name = "FMT", default_value = "html")]
    format: PageFormat,
    /// Rows kept per panel; the rest are counted ("+ 1,234 more").
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    top: u64,
    /// Serve the report and keep it up to date while lines are appended,
    /// following rotation like `tail -F` (rename and new file, or copytruncate).
    #[arg(long)]
    follow: bool,
    /// With --follow: where to listen. Loopback by default; any other address
    /// is refused unless given with --allow-remote. The URL printed carries
    /// a random token without which the server answers 403.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7890", requires = "follow")]
    listen: String,
    /// With --follow: allow --listen on an address that is not loopback.
    #[arg(long, requires = "follow")]
    allow_remote: bool,
    /// With --follow, when started as root (required then): the user to run as
    /// once the logs are open and the port is bound; rotated logs must be
    /// readable by that user (Debian's /var/log/apache2: group adm).
    #[arg(long, value_name = "NAME", requires = "follow")]
    user: Option<String>,
    #[command(flatten)]
    filters: FilterOpts,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PageFormat {
    Html,
    Json,
}

#[derive(Args, Debug)]
struct CheckCmd {
    /// text (FILE:LINE: reason: excerpt) or json (one object per line).
    #[arg(long, value_name = "FMT", default_value = "text")]
    format: Format,
    #[command(flatten)]
    input: InputArgs,
}

/// What to print once the engine is done.
enum Printer {
    Rows(OutputOpts),
    Timeline(OutputOpts, usize),
    Lines,
    Count,
    Stats(Format),
    Check(Format),
    Report(ReportOut),
    /// `report --follow`: served live.
    Live(panels::live::LiveOpts),
    /// `GROUP --follow`: redrawn in the terminal.
    Follow(OutputOpts, String),
}

/// Where and how `report` writes.
struct ReportOut {
    output: Option<PathBuf>,
    format: PageFormat,
    cx: panels::Context,
}

/// The checked configuration: everything validated before any input is read.
struct Config {
    query: Query,
    inputs: Vec<InputSpec>,
    engine: EngineOpts,
    strict: bool,
    printer: Printer,
}

fn filter(f: &FilterOpts) -> Result<Filter> {
    Ok(Filter::from_args(&FilterArgs {
        page: f.page.clone(),
        ip: f.ip.clone(),
        from: f.from.clone(),
        to: f.to.clone(),
        day: f.day.clone(),
        status: f.status.clone(),
        method: f.method.clone(),
        vhost: f.vhost.clone(),
        slower_than: f.slower_than.clone(),
        real_ip: f.real_ip.clone(),
        trusted: f.trusted.clone(),
    })?)
}

/// The inputs to read (stdin when no file is given), checked: `help`
/// names the help that has examples.
fn inputs_of(input: &InputArgs, help: &str) -> Result<Vec<InputSpec>> {
    if input.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let inputs = if input.files.is_empty() {
        vec![InputSpec::Stdin]
    } else {
        input.files.iter().map(|p| InputSpec::from_arg(p)).collect()
    };
    if inputs == [InputSpec::Stdin] && io::stdin().is_terminal() {
        bail!("no input: give log files, or pipe a log into stdin ({help} has examples)");
    }
    Ok(inputs)
}

/// The filters as typed, for the report's header.
fn filter_words(f: &FilterOpts) -> Vec<String> {
    let pairs: [(&str, &Option<String>); 11] = [
        ("--page", &f.page),
        ("--ip", &f.ip),
        ("--from", &f.from),
        ("--to", &f.to),
        ("--day", &f.day),
        ("--status", &f.status),
        ("--method", &f.method),
        ("--vhost", &f.vhost),
        ("--slower-than", &f.slower_than),
        ("--real-ip", &f.real_ip),
        ("--trusted", &f.trusted),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect()
}

/// Writes the report, to a file through a temporary name in the same
/// directory (renamed once complete) or to stdout.
fn write_report(o: &ReportOut, outcome: &tplab::log::Outcome, out: &mut dyn Write) -> Result<()> {
    let r = panels::Report::new(outcome, &o.cx);
    let mut body: Vec<u8> = Vec::new();
    match o.format {
        PageFormat::Html => panels::html::write_page(&mut body, &r)?,
        PageFormat::Json => {
            serde_json::to_writer_pretty(&mut body, &r)?;
            body.push(b'\n');
        }
    }
    match &o.output {
        None => out.write_all(&body)?,
        // A device or a pipe (`-o /dev/null`) is written to, never replaced.
        Some(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) => {
            std::fs::write(path, &body).with_context(|| format!("writing the report to {}", path.display()))?;
        }
        Some(path) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = path.file_name().with_context(|| format!("{}: not a file name", path.display()))?;
            let tmp = dir.join(format!(".{}.tplog-{}", name.to_string_lossy(), std::process::id()));
            let res = std::fs::write(&tmp, &body).and_then(|()| std::fs::rename(&tmp, path));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                bail!("writing the report to {}: {e}", path.display());
            }
            eprintln!("tplog: report written to {} ({} bytes)", path.display(), body.len());
        }
    }
    Ok(())
}

fn row_opts(r: &RowOpts) -> OutputOpts {
    let sort = r.sort.unwrap_or(if r.top.is_some() {
        SortBy::Count
    } else {
        SortBy::Key
    });
    OutputOpts {
        format: r.format,
        sort,
        top: r.top,
    }
}

/// `--log-format` and `--log-config` into the format of each input.
fn format_choice(input: &InputArgs) -> Result<FormatChoice> {
    let cfg = match &input.log_config {
        Some(p) => Some(Arc::new(format::config::read(p)?)),
        None => None,
    };
    Ok(match (&input.log_format, cfg) {
        (Some(name), Some(cfg)) => match cfg.named(name) {
            Some(f) => FormatChoice::Fixed(f),
            None => {
                let names: Vec<&str> = cfg.formats.iter().map(|(n, _)| n.as_str()).collect();
                match format::from_arg(name) {
                    Ok(f) => FormatChoice::Fixed(Arc::new(f)),
                    Err(_) => bail!(
                        "--log-format {name:?}: {} defines no such format (it defines: {})",
                        input.log_config.as_ref().expect("given").display(),
                        names.join(", ")
                    ),
                }
            }
        },
        (Some(f), None) => FormatChoice::Fixed(Arc::new(
            format::from_arg(f).with_context(|| format!("--log-format {f:?}"))?,
        )),
        (None, Some(cfg)) => FormatChoice::Config(cfg),
        (None, None) => FormatChoice::Detect,
    })
}

impl Config {
    fn new(cmd: Cmd) -> Result<Config> {
        let group = |g: Group, c: GroupCmd| -> Result<_> {
            let mut opts = row_opts(&c.rows);
            let printer = if c.follow {
                if c.rows.sort.is_none() {
                    opts.sort = SortBy::Count;
                }
                Printer::Follow(opts, format!("tplog {}", group_name(g)))
            } else {
                Printer::Rows(opts)
            };
            Ok((Action::Group(g), filter(&c.filters)?, c.input, printer))
        };
        let (action, filter, input, printer) = match cmd {
            Cmd::Ips(c) => group(Group::Ip, c)?,
            Cmd::Pages(c) => group(Group::Page, c)?,
            Cmd::Days(c) => group(Group::Day, c)?,
            Cmd::Hours(c) => group(Group::Hour, c)?,
            Cmd::Status(c) => group(Group::Status, c)?,
            Cmd::Methods(c) => group(Group::Method, c)?,
            Cmd::Referers(c) => group(Group::Referer, c)?,
            Cmd::Agents(c) => group(Group::Agent, c)?,
            Cmd::Vhosts(c) => group(Group::Vhost, c)?,
            Cmd::Lines(c) => (Action::Lines, filter(&c.filters)?, c.input, Printer::Lines),
            Cmd::Count(c) => (Action::Count, filter(&c.filters)?, c.input, Printer::Count),
            Cmd::Stats(c) => (
                Action::Stats,
                filter(&c.filters)?,
                c.input,
                Printer::Stats(c.format),
            ),
            Cmd::Timeline(c) => {
                let every = parse_every(&c.every)?;
                (
                    Action::Timeline(every),
                    filter(&c.filters)?,
                    c.input,
                    Printer::Timeline(row_opts(&c.rows), c.width as usize),
                )
            }
            Cmd::Report(c) if c.follow => {
                let listen: std::net::SocketAddr = c
                    .listen
                    .parse()
                    .with_context(|| format!("--listen {:?}: give an address and port, like 127.0.0.1:7890 or [::1]:7890", c.listen))?;
                let cx = panels::Context { top: c.top as usize, filters: filter_words(&c.filters), live: true };
                let opts = panels::live::LiveOpts { listen, allow_remote: c.allow_remote, user: c.user, cx };
                (Action::Report, filter(&c.filters)?, c.input, Printer::Live(opts))
            }
            Cmd::Report(c) => {
                let output = match c.output {
                    Some(p) if p.as_os_str() == "-" => None,
                    Some(p) => Some(p),
                    None if io::stdout().is_terminal() => bail!(
                        "where should the report go? give -o report.html (or -o - for stdout)"
                    ),
                    None => None,
                };
                let cx = panels::Context {
                    top: c.top as usize,
                    filters: filter_words(&c.filters),
                    live: false,
                };
                (
                    Action::Report,
                    filter(&c.filters)?,
                    c.input,
                    Printer::Report(ReportOut { output, format: c.format, cx }),
                )
            }
            Cmd::Check(c) => (
                Action::Check,
                Filter::default(),
                c.input,
                Printer::Check(c.format),
            ),
            #[cfg(feature = "parquet")]
            Cmd::Export(_) => unreachable!("tplog export is run by export::run"),
        };
        let inputs = inputs_of(&input, "tplog --help")?;
        let format = format_choice(&input)?;
        Ok(Config {
            query: Query { action, filter },
            inputs,
            engine: EngineOpts {
                threads: input.threads.map(|n| n as usize),
                chunk_size: input.chunk_size.max(1),
                seek: !input.no_seek,
                quiet: input.quiet,
                format,
                ..EngineOpts::default()
            },
            strict: input.strict,
            printer,
        })
    }
}

fn group_name(g: Group) -> &'static str {
    match g {
        Group::Ip => "ips",
        Group::Page => "pages",
        Group::Day => "days",
        Group::Hour => "hours",
        Group::Status => "status",
        Group::Method => "methods",
        Group::Referer => "referers",
        Group::Agent => "agents",
        Group::Vhost => "vhosts",
    }
}

/// `--follow`: runs until stopped.
fn follow(cfg: Config) -> Result<bool> {
    match cfg.printer {
        Printer::Live(opts) => panels::live::serve(cfg.query, cfg.engine.format, &cfg.inputs, opts)?,
        Printer::Follow(opts, title) => {
            match tplab::cli::follow::top(&title, cfg.query, cfg.engine.format, &cfg.inputs, opts) {
                Err(tplab::cli::follow::FollowError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r?,
            }
        }
        _ => unreachable!("only the --follow printers"),
    }
    Ok(true)
}

fn run(cfg: Config) -> Result<bool> {
    if matches!(cfg.printer, Printer::Live(_) | Printer::Follow(..)) {
        return follow(cfg);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let outcome = {
        let out_ref = &mut out;
        tplab::log::run(&cfg.query, &cfg.inputs, &cfg.engine, |line: &[u8]| {
            out_ref.write_all(line)?;
            out_ref.write_all(b"\n")
        })?
    };
    if cfg.strict {
        if let Some(b) = &outcome.first_bad {
            out.flush()?;
            bail!(
                "{}:{}: malformed line: {} (--strict)",
                b.file,
                b.line,
                b.error
            );
        }
    }
    match &cfg.printer {
        Printer::Rows(o) => report::write_rows(&mut out, &report::rows(&outcome, o), o.format)?,
        Printer::Timeline(o, width) => {
            if let Some(span) = report::timeline_too_long(&outcome) {
                eprintln!(
                    "tplog: the timeline spans {span} buckets, more than {}: only the {} non-empty ones are shown (use a larger --every, or --from/--to)",
                    report::MAX_FILLED_BUCKETS,
                    outcome.acc.nums.len()
                );
            }
            let rows = report::rows(&outcome, o);
            if o.format == Format::Text {
                report::write_timeline_chart(&mut out, &rows, *width)?
            } else {
                report::write_rows(&mut out, &rows, o.format)?
            }
        }
        Printer::Lines => {}
        Printer::Count => writeln!(out, "{}", outcome.acc.matched)?,
        Printer::Stats(f) => report::write_stats(&mut out, &report::StatsView::new(&outcome), *f)?,
        Printer::Check(f) => report::write_bad_lines(&mut out, &outcome.bad, *f)?,
        Printer::Report(o) => write_report(o, &outcome, &mut out)?,
        Printer::Live(_) | Printer::Follow(..) => unreachable!("run by follow()"),
    }
    out.flush()?;
    let mut failed = false;
    for f in &outcome.files {
        if f.detected {
            eprintln!("tplog: {}: read as {} (chosen from its first lines; --log-format to say otherwise)", f.name, f.format);
        }
        // --real-ip on a format that logs no chain changes nothing: say so
        // rather than answer as if it had.
        if cfg.query.filter.real_ip.is_some() && !f.logs_xff && f.error.is_none() && f.bytes > 0 {
            eprintln!(
                "tplog: --real-ip: {} (read as {}) logs no X-Forwarded-For, so its clients are the addresses as logged (a proxy chain in the first field: --log-format xff_combined; a custom format: add %{{X-Forwarded-For}}i or $http_x_forwarded_for)",
                f.name, f.format
            );
        }
    }
    for line in report::summary_lines("tplog", &outcome) {
        failed |= line.starts_with("tplog: error:");
        eprintln!("{line}");
    }
    if let Printer::Check(_) = cfg.printer {
        eprintln!(
            "tplog: {} lines checked, {} malformed",
            outcome.acc.lines, outcome.acc.malformed
        );
        let samples: Vec<&[u8]> = outcome.acc.samples.iter().map(|s| s.2.as_slice()).collect();
        if let Some(p) = format::suggest(&samples) {
            let used = outcome.files.iter().any(|f| f.format == p.name());
            if !used {
                eprintln!("tplog: the malformed lines look like {}: --log-format {}", p.what, p.name());
            }
        }
    }
    if failed {
        // Results above cover what could be read; the exit status says some input could not.
        std::process::exit(tplab::cli::EXIT_ERROR);
    }
    Ok(outcome.found())
}

fn main() {
    // Man page and completions for packagers: `tplog --generate man` etc.
    tplab::cli::generate::handle(<Cli as clap::CommandFactory>::command);
    let cli = Cli::parse();
    let result = match cli.cmd {
        #[cfg(feature = "parquet")]
        Cmd::Export(c) => export::run(c),
        cmd => Config::new(cmd).context("invalid arguments").and_then(run),
    };
    tplab::cli::exit("tplog", result);
}
