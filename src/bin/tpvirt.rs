fn main() {
    eprintln!("tpvirt: not built yet");
    std::process::exit(2);
}
