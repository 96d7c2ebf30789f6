//! tpsniff: finds cleartext credentials (and reports TLS sessions) in
//! packet captures or live traffic. Arguments → checked configuration →
//! library → exit code.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tplab::cli;
use tplab::sniff::finding::Summary;
use tplab::sniff::flow::frag::FragLimits;
use tplab::sniff::flow::Limits;
use tplab::sniff::hashfile::{Cracker, HashFiles};
use tplab::sniff::proto::http::Fields;
use tplab::sniff::report::{self, Style};
use tplab::sniff::shard;
use tplab::sniff::source::{self, KernelStats, LiveOptions, LiveSource, SourceError};
use tplab::sniff::{Config, Finding, Sniffer};

/// Find cleartext credentials in a packet capture or live traffic and
/// report TLS sessions.
///
/// Live (--iface): Ctrl-C or SIGTERM prints the summary, with the kernel's
/// received/dropped counts, and exits. Capturing needs root or the binary's
/// capabilities (setcap cap_net_raw,cap_net_admin=eip).
///
/// Exit status: 0 when credentials were found, 1 when none, 2 on error.
#[derive(Parser, Debug)]
#[command(name = "tpsniff", version)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["read", "iface", "list"])))]
struct Args {
    /// Capture file to read (pcap or pcapng).
    #[arg(short = 'r', long, value_name = "FILE")]
    read: Option<PathBuf>,
    /// Capture live on this interface (see --list).
    #[arg(short = 'i', long, value_name = "NAME")]
    iface: Option<String>,
    /// List the interfaces that can be captured on, and exit.
    #[arg(short = 'D', long)]
    list: bool,
    /// Live: also save every captured packet to this pcap file.
    #[arg(short = 'w', long, value_name = "FILE", requires = "iface")]
    write: Option<PathBuf>,
    /// Live: put the interface in promiscuous mode.
    #[arg(long, requires = "iface")]
    promisc: bool,
    /// Live: kernel buffer size in MiB (raise it for floods).
    #[arg(long, value_name = "MIB", default_value_t = 32, requires = "iface")]
    buffer_size: u32,
    /// Live: bytes kept of each packet (the default keeps whole packets,
    /// also offloaded ones).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 262_144,
        requires = "iface"
    )]
    snaplen: u32,
    /// After opening the capture, switch to this user (when started as
    /// root). Capabilities are dropped in any case.
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// BPF capture filter (default: none; the engine keeps TCP itself,
    /// VLAN-tagged TCP included).
    #[arg(short = 'f', long, value_name = "BPF")]
    filter: Option<String>,
    /// One JSON object per line; the last one is the summary.
    #[arg(long)]
    json: bool,
    /// Mask all but the first character of passwords and tokens.
    #[arg(long)]
    redact: bool,
    /// Another form/query field name whose value is a secret (repeatable).
    #[arg(long = "field", value_name = "NAME")]
    fields: Vec<String>,
    /// Also write every crackable line (challenge/response, hash) to
    /// DIR/MODE.txt, one file per hashcat mode, ready for `hashcat -m MODE`
    /// (appended to; unredacted whatever --redact says).
    #[arg(long, value_name = "DIR")]
    hashcat: Option<PathBuf>,
    /// Also write every line in a John the Ripper format (VNC's, which
    /// hashcat has no mode for) to DIR/FORMAT.txt, one file per format,
    /// ready for `john --format=FORMAT` (appended to; unredacted).
    #[arg(long, value_name = "DIR")]
    john: Option<PathBuf>,
    /// The RADIUS shared secret: decode the PAP User-Password of
    /// Access-Requests with it (RFC 2865 §5.2). Without it the user is
    /// reported and the password noted as sent but hidden.
    #[arg(long, value_name = "SECRET")]
    radius_secret: Option<String>,
    /// Threads reading a capture file: each takes the flows of some IP
    /// address pairs; the output is the same, in the same order (default:
    /// the CPUs, at most 8; 1 reads in one thread; a live capture and a
    /// --filter or pcapng read use one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
    /// Report every sighting of a credential, not only the first.
    #[arg(long)]
    all: bool,
    /// Flows tracked at once.
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N")]
    max_flows: usize,
    /// Bytes buffered per flow direction.
    #[arg(long, default_value_t = Limits::default().max_flow_bytes, value_name = "BYTES")]
    max_flow_bytes: usize,
    /// Bytes buffered by all flows together.
    #[arg(long, default_value_t = Limits::default().max_total_bytes, value_name = "BYTES")]
    max_memory: usize,
    /// Seconds (capture time) after which a silent flow is dropped.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    idle_timeout: u64,
    /// Bytes all pending IP fragments may hold together; past it the
    /// oldest unfinished datagrams are dropped (counted in the summary).
    /// Linux's ipfrag_high_thresh is the same 4 MiB.
    #[arg(long, default_value_t = FragLimits::default().max_total_bytes, value_name = "BYTES")]
    frag_memory: usize,
    /// Seconds (capture time) an IP datagram may wait for its missing
    /// fragments before it is dropped.
    #[arg(long, default_value_t = FragLimits::default().timeout_us as u64 / 1_000_000, value_name = "SECS")]
    frag_timeout: u64,
}

fn config(a: &Args) -> anyhow::Result<Config> {
    if a.max_flows == 0
        || a.max_flow_bytes == 0
        || a.max_memory == 0
        || a.frag_memory == 0
        || a.frag_timeout == 0
    {
        anyhow::bail!(
            "--max-flows, --max-flow-bytes, --max-memory, --frag-memory and --frag-timeout must be positive"
        );
    }
    let mut fields = Fields::default();
    for f in &a.fields {
        if f.is_empty() {
            anyhow::bail!("--field needs a name");
        }
        fields.add_secret(f);
    }
    Ok(Config {
        fields,
        limits: Limits {
            max_flows: a.max_flows,
            max_flow_bytes: a.max_flow_bytes,
            max_total_bytes: a.max_memory,
            idle_timeout_us: (a.idle_timeout as i64).saturating_mul(1_000_000),
        },
        dedup: !a.all,
        radius_secret: a.radius_secret.as_ref().map(|s| s.as_bytes().to_vec()),
        frag: FragLimits {
            max_total_bytes: a.frag_memory,
            timeout_us: (a.frag_timeout as i64).saturating_mul(1_000_000),
            ..FragLimits::default()
        },
    })
}

/// Prints findings as they come: each flushed at once when live or on a
/// terminal (also through a pipe, for `tpsniff --iface br0 | grep`); a
/// file read into a pipe or a file is written in blocks.
struct Out {
    w: BufWriter<io::StdoutLock<'static>>,
    flush_each: bool,
    json: bool,
    style: Style,
    /// `--hashcat`'s and `--john`'s directories.
    hashes: Vec<HashFiles>,
}

impl Out {
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        for h in &mut self.hashes {
            h.add(f).map_err(io::Error::other)?;
        }
        if self.json {
            self.w.write_all(&report::json_line(f, self.style))?;
            self.w.write_all(b"\n")?;
        } else {
            writeln!(self.w, "{}", report::text_line(f, self.style))?;
        }
        if self.flush_each {
            self.w.flush()?;
        }
        Ok(())
    }

    /// The summary (JSON: the last object, with the live capture's kernel
    /// counts as `"capture"`).
    fn summary(
        &mut self,
        summary: &Summary,
        err: Option<&str>,
        live: Option<(&str, KernelStats)>,
    ) -> io::Result<bool> {
        if self.json {
            let mut j = report::json_summary(summary, err);
            if let (Some((iface, k)), Some(b'}')) = (live, j.last()) {
                j.pop();
                j.extend_from_slice(
                    format!(
                        ",\"capture\":{{\"iface\":{},\"received\":{},\"dropped\":{},\"if_dropped\":{}}}}}",
                        json_str(iface),
                        k.received,
                        k.dropped,
                        k.if_dropped
                    )
                    .as_bytes(),
                );
            }
            self.w.write_all(&j)?;
            self.w.write_all(b"\n")?;
        } else {
            self.w.write_all(report::text_summary(summary).as_bytes())?;
            if let Some((iface, k)) = live {
                writeln!(
                    self.w,
                    "capture {iface}: {} packets received by the kernel, {} dropped by the kernel, {} dropped by the interface",
                    k.received, k.dropped, k.if_dropped
                )?;
            }
        }
        self.w.flush()?;
        Ok(summary.credentials > 0)
    }
}

/// A JSON string (interface names are short and plain, but escape anyway).
fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn run(a: &Args) -> anyhow::Result<bool> {
    if a.list {
        return list();
    }
    let cfg = config(a)?;
    let mut out = Out {
        w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        flush_each: a.iface.is_some() || io::stdout().is_terminal(),
        json: a.json,
        style: Style { redact: a.redact },
        hashes: [(&a.hashcat, Cracker::Hashcat), (&a.john, Cracker::John)]
            .into_iter()
            .filter_map(|(dir, c)| dir.as_deref().map(|d| HashFiles::create(d, c)))
            .collect::<Result<_, _>>()?,
    };
    let mut sniffer = Sniffer::new(cfg.clone());
    if let Some(iface) = &a.iface {
        return live(a, iface, &mut sniffer, &mut out);
    }
    let path = a.read.as_ref().expect("clap requires an input");
    if let Some(u) = &a.user {
        let done = source::drop_privileges(Some(u))?;
        eprintln!("tpsniff: {done}");
    }
    let threads = a
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    let sharded = (threads > 1 && a.filter.is_none())
        .then(|| shard::open(path))
        .flatten();
    let (summary, result) = if let Some(src) = sharded {
        shard::read_file(src, &cfg, threads, |f| out.finding(f))
    } else {
        let r = source::read_file(path, a.filter.as_deref(), &mut sniffer, |f| out.finding(f));
        (Some(sniffer.summary()), r)
    };
    match result {
        Err(SourceError::Output(e)) => return Err(e).context("writing output"),
        // Nothing was read: no summary to give.
        Err(e @ (SourceError::Open { .. } | SourceError::Filter { .. })) => return Err(e.into()),
        _ => {}
    }
    let err_text = result.as_ref().err().map(|e| e.to_string());
    let found = match &summary {
        Some(s) => out.summary(s, err_text.as_deref(), None)?,
        None => false,
    };
    result?;
    Ok(found)
}

/// `--list`: one interface a line: name, flags, addresses, description.
fn list() -> anyhow::Result<bool> {
    let ifs = source::interfaces()?;
    let mut o = io::stdout().lock();
    for i in &ifs {
        write!(o, "{}", i.name)?;
        if !i.flags.is_empty() {
            write!(o, "\t[{}]", i.flags.join(","))?;
        } else {
            write!(o, "\t[down]")?;
        }
        if !i.addresses.is_empty() {
            write!(o, "\t{}", i.addresses.join(" "))?;
        }
        if let Some(d) = &i.description {
            write!(o, "\t({d})")?;
        }
        writeln!(o)?;
    }
    Ok(!ifs.is_empty())
}

/// Live capture until SIGINT or SIGTERM; a second signal ends at once.
fn live(a: &Args, iface: &str, sniffer: &mut Sniffer, out: &mut Out) -> anyhow::Result<bool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first: a signal arriving when `stop` is already set exits.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .context("installing the signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    let opts = LiveOptions {
        promisc: a.promisc,
        filter: a.filter.clone(),
        buffer_size: (a.buffer_size.clamp(1, 2047) as i32) << 20,
        write: a.write.clone(),
        snaplen: a.snaplen.clamp(64, 262_144) as i32,
        ..LiveOptions::new(iface)
    };
    let mut src = LiveSource::open(&opts)?;
    let dropped = source::drop_privileges(a.user.as_deref())?;
    eprintln!(
        "tpsniff: listening on {} (link {}, snaplen {}, promiscuous {}{}); {}; Ctrl-C to stop",
        src.iface(),
        src.link_name(),
        opts.snaplen,
        if opts.promisc { "on" } else { "off" },
        match &opts.write {
            Some(p) => format!(", saving to {}", p.display()),
            None => String::new(),
        },
        dropped
    );
    let result = source::capture_live(&mut src, sniffer, &stop, |f| out.finding(f));
    if let Err(SourceError::Output(e)) = result {
        return Err(e).context("writing output");
    }
    let stats = src.stats().unwrap_or_default();
    let err_text = result.as_ref().err().map(|e| e.to_string());
    let found = out.summary(
        &sniffer.summary(),
        err_text.as_deref(),
        Some((iface, stats)),
    )?;
    result?;
    Ok(found)
}

fn main() {
    // Man page and completions for packagers: `tpsniff --generate man` etc.
    tplab::cli::generate::handle(<Args as clap::CommandFactory>::command);
    let args = Args::parse();
    cli::exit("tpsniff", run(&args));
}
