//! With feature `console`: embeds the front end built in web/dist (by
//! `cargo xtask web`: npm ci, then esbuild) into the tplab binary.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CONSOLE");
    if std::env::var_os("CARGO_FEATURE_CONSOLE").is_none() {
        return;
    }
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let dist = Path::new(&root).join("web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("index.html").is_file() {
        panic!(
            "{}/index.html is missing: the console's front end is built by `cargo xtask web` (npm ci and esbuild) before `cargo build --features console`",
            dist.display()
        );
    }
    let mut entries: Vec<_> = std::fs::read_dir(&dist)
        .expect("reading web/dist")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut out = String::from("pub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let mime = match name.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("woff2") => "font/woff2",
            Some("map") => "application/json",
            _ => "application/octet-stream",
        };
        out.push_str(&format!(
            "    ({name:?}, {mime:?}, include_bytes!({:?})),\n",
            e.path().display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("console_assets.rs");
    std::fs::write(dest, out).expect("writing the asset table");
}
