//! The console's front end: `npm ci` in web/ (noVNC, xterm.js, esbuild,
//! playwright-core, pinned by web/package-lock.json), then esbuild into
//! web/dist, which build.rs embeds in the tplab binary.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{root, run, sys};

/// Debian's Chromium, driven headless by playwright-core in the browser tests.
pub const BROWSER_PACKAGES: &[&str] = &["chromium"];

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Newest modification time of the files under `dir` (recursively).
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut best = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() {
            newest(&p)
        } else {
            e.metadata().ok()?.modified().ok()
        };
        best = best.max(t);
    }
    best
}

/// Installs the npm packages when the lock file changed, and rebuilds
/// web/dist when a source changed.
pub fn build() -> Result<()> {
    if !have("node") || !have("npm") {
        sys::ensure_packages(&["nodejs", "npm"])?;
    }
    let web = root().join("web");
    let stamp = web.join("node_modules/.package-lock.json");
    let lock_time = std::fs::metadata(web.join("package-lock.json"))?.modified()?;
    let installed = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
    if installed.map_or(true, |t| t < lock_time) {
        eprintln!("xtask: npm ci in web/");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web))
        .context("installing the console's npm packages (web/package-lock.json)")?;
    }
    let built = std::fs::metadata(web.join("dist/index.html"))
        .and_then(|m| m.modified())
        .ok();
    let sources = newest(&web.join("src")).max(
        std::fs::metadata(web.join("build.mjs"))
            .and_then(|m| m.modified())
            .ok(),
    );
    if built.map_or(true, |b| sources.is_some_and(|s| s > b) || b < lock_time) {
        eprintln!("xtask: building the console's front end (web/dist)");
        run(Command::new("node").arg("build.mjs").current_dir(&web))?;
    }
    Ok(())
}
