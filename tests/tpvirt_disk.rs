//! `tpvirt disk overlay` and `disk info` (qcow2 read and written by hand)
//! checked against `qemu-img` on files in a temp dir. Skipped, saying so,
//! when qemu-img is not installed.

// These run the tpvirt binary or the libvirt bindings: feature "libvirt".
#![cfg(feature = "libvirt")]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn have_qemu_img() -> bool {
    let ok = Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: qemu-img not installed (Debian: qemu-utils); the qcow2 code is still covered by unit tests");
    }
    ok
}

fn qemu_img(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = Command::new("qemu-img")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run qemu-img");
    assert!(
        o.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn tpvirt(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run tpvirt")
}

fn qemu_chain(dir: &Path, file: &str) -> Vec<Value> {
    let o = qemu_img(
        dir,
        &["info", "--output=json", "--backing-chain", "-U", file],
    );
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn tpvirt_chain(dir: &Path, file: &str) -> Vec<Value> {
    let o = tpvirt(dir, &["disk", "info", "--json", file]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

const FIELDS: [&str; 8] = [
    "filename",
    "format",
    "virtual-size",
    "actual-size",
    "cluster-size",
    "backing-filename",
    "full-backing-filename",
    "backing-filename-format",
];

fn assert_same_chain(ours: &[Value], qemu: &[Value]) {
    assert_eq!(
        ours.len(),
        qemu.len(),
        "chain length\nours: {ours:#?}\nqemu: {qemu:#?}"
    );
    for (o, q) in ours.iter().zip(qemu) {
        for f in FIELDS {
            assert_eq!(
                o.get(f),
                q.get(f),
                "field {f} of {}\nours: {o:#}\nqemu: {q:#}",
                q["filename"]
            );
        }
    }
}

#[test]
fn overlay_is_what_qemu_img_reads_and_checks_clean() {
    if !have_qemu_img() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    qemu_img(d, &["create", "-q", "-f", "qcow2", "base.qcow2", "3G"]);
    let o = tpvirt(d, &["disk", "overlay", "base.qcow2", "top.qcow2", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(made["virtual-size"], 3u64 << 30);
    assert_eq!(made["backing-filename"], "base.qcow2");
    assert_eq!(made["backing-filename-format"], "qcow2");
    let qemu = qemu_chain(d, "top.qcow2");
    assert_eq!(qemu[0]["format-specific"]["data"]["compat"], "1.1");
    assert_eq!(qemu[0]["format-specific"]["data"]["refcount-bits"], 16);
    assert_same_chain(&tpvirt_chain(d, "top.qcow2"), &qemu);
    // Refcounts and L1 table are consistent for QEMU's own checker.
    qemu_img(d, &["check", "top.qcow2"]);
    // Data written through the overlay reads back, and the base stays empty.
    if Command::new("qemu-io")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let w = Command::new("qemu-io")
            .current_dir(d)
            .args(["-c", "write -P 0xab 1M 64k", "top.qcow2"])
            .output()
            .unwrap();
        assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
        let r = Command::new("qemu-io")
            .current_dir(d)
            .args(["-c", "read -P 0xab 1M 64k", "top.qcow2"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("read 65536/65536"),
            "{}",
            String::from_utf8_lossy(&r.stdout)
        );
        qemu_img(d, &["check", "top.qcow2"]);
        let map = qemu_img(d, &["map", "--output=json", "base.qcow2"]);
        assert!(!String::from_utf8_lossy(&map.stdout).contains("\"data\": true"));
    }
}

#[test]
fn info_follows_a_three_level_chain_like_qemu_img() {
    if !have_qemu_img() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    qemu_img(d, &["create", "-q", "-f", "raw", "base.raw", "32M"]);
    let abs_base = d.join("base.raw").display().to_string();
    qemu_img(
        d,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            &abs_base,
            "-F",
            "raw",
            "sub/mid.qcow2",
        ],
    );
    // Relative to the overlay's own directory, as QEMU resolves it.
    qemu_img(
        d,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "mid.qcow2",
            "-F",
            "qcow2",
            "sub/top.qcow2",
        ],
    );
    let ours = tpvirt_chain(d, "sub/top.qcow2");
    assert_eq!(ours.len(), 3);
    assert_eq!(ours[2]["format"], "raw");
    assert_eq!(ours[0]["full-backing-filename"], "sub/mid.qcow2");
    assert_same_chain(&ours, &qemu_chain(d, "sub/top.qcow2"));
    // Our overlay on the top of a qemu-made chain: four levels, still equal.
    let o = tpvirt(d, &["disk", "overlay", "top.qcow2", "sub/new.qcow2"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same_chain(
        &tpvirt_chain(d, "sub/new.qcow2"),
        &qemu_chain(d, "sub/new.qcow2"),
    );
}

#[test]
fn overlay_on_raw_with_explicit_format_and_refusals() {
    if !have_qemu_img() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    qemu_img(d, &["create", "-q", "-f", "raw", "disk.img", "100M"]);
    let o = tpvirt(d, &["disk", "overlay", "-F", "raw", "disk.img", "o.qcow2"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same_chain(&tpvirt_chain(d, "o.qcow2"), &qemu_chain(d, "o.qcow2"));
    qemu_img(d, &["check", "o.qcow2"]);
    // Never overwrite; the existing file is untouched.
    let before = std::fs::read(d.join("o.qcow2")).unwrap();
    let o = tpvirt(d, &["disk", "overlay", "disk.img", "o.qcow2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(d.join("o.qcow2")).unwrap(), before);
    // A missing base: say where it was looked for and why.
    let o = tpvirt(d, &["disk", "overlay", "nope.qcow2", "sub-missing.qcow2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("nope.qcow2") && err.contains("overlay's directory"),
        "{err}"
    );
    assert!(!d.join("sub-missing.qcow2").exists());
    // Missing backing file in a chain is reported, not ignored.
    std::fs::remove_file(d.join("disk.img")).unwrap();
    let o = tpvirt(d, &["disk", "info", "o.qcow2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("disk.img"));
}
