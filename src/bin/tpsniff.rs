fn main() {
    eprintln!("tpsniff: not built yet");
    std::process::exit(2);
}
