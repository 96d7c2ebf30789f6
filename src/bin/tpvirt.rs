//! tpvirt: the lab's libvirt commands (virsh, virt-clone, qemu-img,
//! virt-viewer) with clearer errors. Arguments → the library's command
//! ([`tplab::cli::virt`]) → exit code (0 done / data printed, 1 nothing
//! found, 2 error).

use clap::Parser;
use tplab::cli::virt::Cli;

fn main() {
    // Man page and completions for packagers: `tpvirt --generate man` etc.
    tplab::cli::generate::handle(<Cli as clap::CommandFactory>::command);
    let args = Cli::parse();
    let result = tplab::cli::virt::main(args).map_err(anyhow::Error::from);
    tplab::cli::exit("tpvirt", result)
}
