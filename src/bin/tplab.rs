//! `tplab`: the whole lab in one place. `tplab serve` starts the web
//! console (machines and their consoles, usage, watches, logs, traffic).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tplab::console::{self, ServeConfig, TlsChoice};

#[derive(Parser)]
#[command(
    name = "tplab",
    version,
    about = "The cloud-computing lab in a browser: libvirt machines with their consoles, live usage, the access log and the traffic"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the web console and print the URL (with its access token) to open.
    #[command(after_help = "\
Examples:
  tplab serve -c test:///default
  tplab serve -c qemu:///system --user nobody --log /var/log/apache2/access.log --iface br0
  tplab serve -c qemu+tcp://10.0.0.1/system -c qemu+tcp://10.0.0.2/system   # two hosts, for migration
  tplab serve --listen 0.0.0.0:7878 --self-signed -c qemu:///system --user nobody

Security: the console listens on 127.0.0.1 unless --listen says otherwise, and a
non-loopback address needs TLS (--cert/--key or --self-signed). The URL printed
at start holds a random token, exchanged for a session cookie; every change needs
the session's CSRF token and this console's Origin; Host headers other than the
console's own are refused (DNS rebinding). As root it needs --user: it opens the
socket, the libvirt connections and the captures, then becomes that user.")]
    Serve {
        /// A libvirt URI to manage (repeat for several hosts; default: as virsh).
        #[arg(short = 'c', long = "connect", value_name = "URI")]
        uris: Vec<String>,
        /// Address and port to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR:PORT")]
        listen: SocketAddr,
        /// TLS certificate chain (PEM), with --key.
        #[arg(long, requires = "key", value_name = "FILE")]
        cert: Option<PathBuf>,
        /// TLS private key (PEM), with --cert.
        #[arg(long, requires = "cert", value_name = "FILE")]
        key: Option<PathBuf>,
        /// Serve TLS with a certificate made at start (its fingerprint is printed).
        #[arg(long, conflicts_with = "cert")]
        self_signed: bool,
        /// Show everything, change nothing (every action is refused).
        #[arg(long)]
        read_only: bool,
        /// Drop to this user once everything privileged is open (required as root).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Another name the console is reached by (a DNS name, a proxy's host).
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_hosts: Vec<String>,
        /// An access log for the Logs page (repeat for several).
        #[arg(long = "log", value_name = "FILE")]
        logs: Vec<PathBuf>,
        /// Capture this interface for the Traffic page (needs root or capture capabilities).
        #[arg(long = "iface", value_name = "IFACE")]
        ifaces: Vec<String>,
    },
}

fn main() -> ExitCode {
    tplab::cli::generate::handle(<Cli as clap::CommandFactory>::command);
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            uris,
            listen,
            cert,
            key,
            self_signed,
            read_only,
            user,
            allow_hosts,
            logs,
            ifaces,
        } => {
            let tls = match (cert, key, self_signed) {
                (Some(cert), Some(key), _) => TlsChoice::Files { cert, key },
                (_, _, true) => TlsChoice::SelfSigned,
                _ => TlsChoice::None,
            };
            let uris = if uris.is_empty() {
                vec![tplab::virt::resolve_uri(None)]
            } else {
                uris
            };
            let cfg = ServeConfig {
                uris,
                listen,
                tls,
                read_only,
                user,
                allow_hosts,
                logs,
                ifaces,
            };
            let opened = match console::open(&cfg) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("tplab: error: {e}");
                    return ExitCode::from(2);
                }
            };
            for n in &opened.notes {
                eprintln!("tplab: {n}");
            }
            for h in &opened.hosts {
                eprintln!("tplab: host {}: {} ({} driver)", h.id, h.uri, h.driver);
            }
            if let Some(t) = &opened.tls {
                eprintln!(
                    "tplab: TLS certificate SHA-256 {}{}",
                    t.fingerprint,
                    if t.self_signed {
                        " (self-signed, made now: check that the browser shows this one)"
                    } else {
                        ""
                    }
                );
            }
            if cfg.read_only {
                eprintln!("tplab: read-only: every action is refused");
            }
            // The URL on stdout alone, so scripts and tests can read it.
            println!("{}", opened.url);
            use std::io::Write;
            let _ = std::io::stdout().flush();
            match console::run(opened, &cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tplab: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
