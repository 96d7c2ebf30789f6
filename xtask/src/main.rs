//! `cargo xtask <task>`: set-up, tests, benchmarks, fuzzing and test data.
mod gen_pcap;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen-pcap") => gen_pcap::run(&args[1..]),
        _ => Ok(()),
    }
}
