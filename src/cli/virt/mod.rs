//! tpvirt's commands: the clap definitions ([`Cli`]) and their dispatch
//! ([`run`]), shared by the `tpvirt` binary and anything else that runs
//! the same commands (output goes to an [`Out`] buffer, not to stdout).
//!
//! The binary is `Cli::parse()`, [`main`] and an exit code.

mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use thiserror::Error;

use crate::virt::disk::DiskError;
use crate::virt::domain::Scope;
use crate::virt::size::SizeError;
use crate::virt::watch::WatchError;
use crate::virt::VirtError;

pub use run::{run, Out};

/// What a tpvirt command can fail with: the library's errors as they are,
/// and output that could not be written.
#[derive(Debug, Error)]
pub enum CommandError {
    /// Boxed: VirtError's variants are large, and this is every command's
    /// error type.
    #[error(transparent)]
    Virt(Box<VirtError>),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("formatting JSON")]
    Json(#[from] serde_json::Error),
    #[error("writing output")]
    Output(#[from] std::io::Error),
}

impl From<VirtError> for CommandError {
    fn from(e: VirtError) -> Self {
        CommandError::Virt(Box::new(e))
    }
}

/// Runs the parsed command line, writing what it prints to stdout once it
/// is done; `Ok(false)` when nothing was found (exit status 1).
pub fn main(args: Cli) -> Result<bool, CommandError> {
    let mut out = Out::new(args.json);
    let r = run(args, &mut out);
    let flushed = out.flush();
    let found = r?;
    flushed?;
    Ok(found)
}

#[derive(Parser, Debug)]
#[command(
    name = "tpvirt",
    version,
    about = "The lab's libvirt commands: domains, snapshots, clones, qcow2 disks, migration, watch"
)]
pub struct Cli {
    /// libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system).
    #[arg(short = 'c', long = "connect", global = true, value_name = "URI")]
    pub uri: Option<String>,
    /// Print data as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Debug, Clone, Copy)]
#[group(multiple = false)]
pub struct ScopeArgs {
    /// Change the running domain only.
    #[arg(long)]
    pub live: bool,
    /// Change the persistent configuration only (next boot).
    #[arg(long)]
    pub config: bool,
}

impl ScopeArgs {
    /// The scope libvirt is asked to change.
    pub fn scope(self) -> Scope {
        if self.live {
            Scope::Live
        } else if self.config {
            Scope::Config
        } else {
            Scope::Current
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List running domains (all with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Start a transient domain from an XML file.
    Create { file: PathBuf },
    /// Define a persistent domain from an XML file.
    Define { file: PathBuf },
    /// Remove a domain's definition.
    Undefine {
        name: String,
        /// Also drop its snapshots' metadata (required when it has snapshots).
        #[arg(long)]
        snapshots_metadata: bool,
        /// Also delete its disks (volumes of libvirt storage pools).
        #[arg(long)]
        remove_storage: bool,
    },
    /// Boot a defined domain.
    Start { name: String },
    /// Ask the guest to power off (ACPI).
    Shutdown {
        name: String,
        /// Wait up to SECS seconds for it to be off.
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Power a domain off at once.
    Destroy { name: String },
    /// Pause a domain.
    Suspend { name: String },
    /// Unpause a domain.
    Resume { name: String },
    /// Print a domain's XML.
    Dumpxml {
        name: String,
        /// The persistent configuration rather than the live one.
        #[arg(long)]
        inactive: bool,
    },
    /// State, memory, vCPUs, disks with backing chains, MACs and addresses.
    Info { name: String },
    /// Set the memory: SIZE in KiB like virsh, or 512M, 1G.
    Setmem {
        name: String,
        size: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Set the number of vCPUs.
    Setvcpus {
        name: String,
        count: u32,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Set the maximum (configuration only).
        #[arg(long)]
        maximum: bool,
    },
    /// Print the graphical console's URI (for remote-viewer).
    Display { name: String },
    /// Attach to the serial console (Ctrl-] to leave).
    Console { name: String },
    /// Snapshots: create, list, revert, delete, current.
    #[command(subcommand)]
    Snapshot(SnapCmd),
    /// Copy a shut-off domain: new name, UUID, MACs and disks (like virt-clone).
    Clone {
        /// The domain to copy.
        #[arg(long)]
        original: String,
        /// The clone's name.
        #[arg(long)]
        name: Option<String>,
        /// MAC of the clone's first NIC (default: generated in 52:54:00).
        #[arg(long)]
        mac: Option<String>,
        /// Pick the name (ORIGINAL-clone) and disk names automatically.
        #[arg(long = "auto-clone")]
        auto_clone: bool,
        /// qcow2 overlays on the original's disks instead of full copies.
        #[arg(long)]
        linked: bool,
    },
    /// Define a domain that boots from an existing disk.
    Import {
        name: String,
        disk: String,
        /// Memory (KiB, or with a unit: 512M, 1G).
        #[arg(long, default_value = "512M")]
        memory: String,
        #[arg(long, default_value_t = 1)]
        vcpus: u32,
        /// MAC of its NIC (default: generated in 52:54:00).
        #[arg(long)]
        mac: Option<String>,
        /// libvirt network of its NIC.
        #[arg(long, default_value = "default")]
        network: String,
        /// Domain type: kvm, qemu (software emulation), test (default: for the driver).
        #[arg(long)]
        virt_type: Option<String>,
    },
    /// qcow2 disks without libvirt: overlay, info.
    #[command(subcommand)]
    Disk(DiskCmd),
    /// Live-migrate a domain to another host, showing progress and downtime.
    Migrate {
        name: String,
        /// Destination, e.g. qemu+tcp://10.0.0.2/system.
        dest_uri: String,
        /// Keep the guest running during the copy.
        #[arg(long)]
        live: bool,
        /// The source daemon talks to the destination (no client connection to it).
        #[arg(long)]
        p2p: bool,
        /// Carry the data over the libvirt connection (needs --p2p).
        #[arg(long)]
        tunnelled: bool,
        /// Define the domain on the destination.
        #[arg(long)]
        persistent: bool,
        /// Remove the definition from the source.
        #[arg(long)]
        undefinesource: bool,
        /// Copy the disks' top images too (no shared storage).
        #[arg(long)]
        copy_storage_inc: bool,
        /// Migrate even when libvirt thinks it unsafe (no shared storage, cache mode).
        #[arg(long = "unsafe")]
        unsafe_: bool,
    },
    /// A domain's background job (migration, save, backup): progress, or the
    /// last completed one's statistics with --completed, like virsh domjobinfo.
    /// Exit 1 when there is none.
    Job {
        name: String,
        /// The last completed job (on the destination after a migration: its downtime).
        #[arg(long)]
        completed: bool,
    },
    /// Hot backup: suspend, copy or snapshot the disks, resume; prints the frozen time.
    Backup {
        name: String,
        /// A directory here, or a libvirt pool's directory.
        dest: PathBuf,
        /// copy: the copies are the backup; external: disk-only snapshot, the originals are.
        #[arg(long, value_parser = ["copy", "external"], default_value = "copy")]
        method: String,
    },
    /// Poll http://URL and report latency percentiles and the longest gap (Ctrl-C to stop).
    Watch {
        url: String,
        /// Time between requests.
        #[arg(long, default_value = "10ms")]
        every: String,
        /// Stop after this long (default: until Ctrl-C).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Stop after this many requests.
        #[arg(long)]
        count: Option<u64>,
        /// Give up on one request after this long.
        #[arg(long, default_value = "2s")]
        timeout: String,
        /// Print a line for each failed request as it happens.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Can this host run the lab? CPU flags, /dev/kvm, KVM modules, libvirt.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum DiskCmd {
    /// Create NEW as a qcow2 overlay backed by BASE (qemu-img create -f qcow2 -b BASE -F FMT NEW).
    Overlay {
        /// Stored as given; a relative name is relative to NEW's directory.
        base: String,
        new: PathBuf,
        /// Backing format (default: read from BASE).
        #[arg(short = 'F', long = "backing-format")]
        backing_format: Option<String>,
    },
    /// Format, sizes and the whole backing chain (qemu-img info --backing-chain).
    Info { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum SnapCmd {
    /// Take a snapshot (named by the time when no name is given).
    Create {
        name: String,
        snap: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List snapshots, oldest first.
    List { name: String },
    /// Return to a snapshot.
    Revert { name: String, snap: String },
    /// Delete a snapshot.
    Delete { name: String, snap: String },
    /// Show the current snapshot.
    Current { name: String },
}
