//! The real `tpvirt` binary against libvirt's test driver: output, --json,
//! exit codes (0 done/found, 1 nothing found, 2 error) and error texts.
//! Each run is a fresh process, so a fresh copy of testdata/virt/node.xml.

// These run the tpvirt binary or the libvirt bindings: feature "libvirt".
#![cfg(feature = "libvirt")]

use std::process::{Command, Output};

fn node_uri() -> String {
    format!(
        "test://{}/testdata/virt/node.xml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn tpvirt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .arg("-c")
        .arg(node_uri())
        .args(args)
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .expect("run tpvirt")
}

fn text(o: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("valid JSON on stdout")
}

#[test]
fn list_all_json_has_ids_and_states() {
    let v = json(&tpvirt(&["--json", "list", "--all"]));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "web");
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[1]["name"], "db");
    assert_eq!(rows[1]["id"], serde_json::Value::Null);
    assert_eq!(rows[1]["state"], "shut off");
}

#[test]
fn list_text_and_empty_list_exit_code() {
    let (out, _, code) = text(&tpvirt(&["list"]));
    assert_eq!(code, 0);
    assert!(out.contains(" 1     web ") && !out.contains("db"), "{out}");
    // A host without domains: header only, exit 1 (nothing found).
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("empty.xml");
    std::fs::write(&node, "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>1</cores><threads>1</threads><active>1</active><mhz>1000</mhz><model>x86_64</model><memory>1048576</memory></cpu></node>").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .arg("-c")
        .arg(format!("test://{}", node.display()))
        .args(["list", "--all"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn info_json_reports_memory_chain_and_mac() {
    let v = json(&tpvirt(&["info", "web", "--json"]));
    assert_eq!(v["memory_kib"], 1048576);
    assert_eq!(v["max_memory_kib"], 2097152);
    assert_eq!(
        v["disks"][0]["chain"][1]["filename"],
        "/lab-pool/base.qcow2"
    );
    assert_eq!(v["nics"][0]["mac"], "52:54:00:11:22:33");
    assert_eq!(v["display"], "vnc://127.0.0.1:5900");
}

#[test]
fn start_on_a_running_domain_exits_2_with_the_state() {
    let (out, err, code) = text(&tpvirt(&["start", "web"]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.starts_with("tpvirt: error: domain \"web\" is running: cannot start"),
        "{err}"
    );
}

#[test]
fn start_a_shut_off_domain_prints_and_json() {
    let (out, _, code) = text(&tpvirt(&["start", "db"]));
    assert_eq!((out.trim(), code), ("Domain 'db' started", 0));
    let v = json(&tpvirt(&["--json", "suspend", "web"]));
    assert_eq!(v["action"], "suspended");
    assert_eq!(v["state"], "paused");
}

#[test]
fn unknown_domain_lists_known_names() {
    let (_, err, code) = text(&tpvirt(&["info", "wbe"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no domain named \"wbe\"") && err.contains("known domains: db, web"),
        "{err}"
    );
}

#[test]
fn setmem_with_units_and_refusal_with_the_maximum() {
    let v = json(&tpvirt(&["--json", "setmem", "web", "512M"]));
    assert_eq!(v["memory_kib"], 524288);
    let v = json(&tpvirt(&["--json", "setmem", "web", "786432"]));
    assert_eq!(v["memory_kib"], 786432);
    let (_, err, code) = text(&tpvirt(&["setmem", "web", "4G"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("above domain \"web\"'s maximum of 2097152 KiB (2.0 GiB)"),
        "{err}"
    );
    let (_, err, code) = text(&tpvirt(&["setmem", "web", "lots"]));
    assert_eq!(code, 2);
    assert!(err.contains("512M, 1G"), "{err}");
    let (_, _, code) = text(&tpvirt(&["setmem", "web", "1G", "--live", "--config"]));
    assert_eq!(code, 2, "--live and --config exclude each other");
}

#[test]
fn setvcpus_refusal_names_the_maximum() {
    let v = json(&tpvirt(&["--json", "setvcpus", "web", "2"]));
    assert_eq!(v["vcpus"], 2);
    let (_, err, code) = text(&tpvirt(&["setvcpus", "web", "5"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("vCPU count 5 is above domain \"web\"'s maximum of 2"),
        "{err}"
    );
}

#[test]
fn display_prints_the_uri() {
    let (out, _, code) = text(&tpvirt(&["display", "web"]));
    assert_eq!((out.trim(), code), ("vnc://127.0.0.1:5900", 0));
    let v = json(&tpvirt(&["display", "web", "--json"]));
    assert_eq!(v["uri"], "vnc://127.0.0.1:5900");
}

#[test]
fn dumpxml_prints_the_document() {
    let (out, _, code) = text(&tpvirt(&["dumpxml", "db"]));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("<domain type='test'") && out.contains("<name>db</name>"),
        "{out}"
    );
}

#[test]
fn snapshot_list_and_current_exit_1_when_there_are_none() {
    // A fresh process sees no snapshots: exit 1 (nothing found), header only.
    let (out, _, code) = text(&tpvirt(&["snapshot", "list", "web"]));
    assert_eq!(code, 1);
    assert!(out.contains("Name"));
    let (_, _, code) = text(&tpvirt(&["snapshot", "current", "web"]));
    assert_eq!(code, 1);
    let v = json(&tpvirt(&["--json", "snapshot", "create", "web", "s1"]));
    assert_eq!(v["name"], "s1");
    assert_eq!(v["current"], true);
    let (_, err, code) = text(&tpvirt(&["snapshot", "revert", "web", "s1"]));
    assert_eq!(code, 2);
    assert!(err.contains("no snapshot \"s1\""), "{err}");
}

#[test]
fn console_refusal_says_the_test_driver_cannot() {
    let (_, err, code) = text(&tpvirt(&["console", "web"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("console is not supported by the TEST driver")
            && err.contains("<serial type='pty'/>"),
        "{err}"
    );
}

#[test]
fn invalid_xml_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.xml");
    std::fs::write(&f, "<domain type='test'><name>x</name>").unwrap();
    let (_, err, code) = text(&tpvirt(&["define", f.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid domain XML in")
            && err.contains("bad.xml")
            && err.contains("Premature end"),
        "{err}"
    );
}

#[test]
fn uri_comes_from_flag_then_env_then_default() {
    let bin = env!("CARGO_BIN_EXE_tpvirt");
    // The environment is used when there is no -c.
    let o = Command::new(bin)
        .args(["--json", "list", "--all"])
        .env("LIBVIRT_DEFAULT_URI", node_uri())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    // -c wins over the environment.
    let o = Command::new(bin)
        .args(["-c", "test:///default", "--json", "list"])
        .env("LIBVIRT_DEFAULT_URI", node_uri())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["name"], "test");
    // A daemon that is not there: the URI and how to start one.
    let uri = "qemu+unix:///system?socket=/nonexistent/tpvirt-cli.sock";
    let o = Command::new(bin)
        .args(["list"])
        .env("LIBVIRT_DEFAULT_URI", uri)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains(uri) && err.contains("libvirtd --daemon"),
        "{err}"
    );
}

#[test]
fn migrate_refusal_through_the_binary() {
    let (_, err, code) = text(&tpvirt(&["migrate", "--live", "web", "test:///default"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("migration is not supported by the TEST driver"),
        "{err}"
    );
}

#[test]
fn check_gives_a_verdict_per_item_and_fails_without_libvirt() {
    let v = json(&tpvirt(&["check", "--json"]));
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cpu", "/dev/kvm", "modules", "libvirt"]);
    assert_eq!(v[3]["verdict"], "ok");
    let o = Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .args([
            "-c",
            "qemu+unix:///system?socket=/nonexistent/check.sock",
            "check",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("[FAIL] libvirt") && out.contains("libvirtd --daemon"),
        "{out}"
    );
}

#[test]
fn backup_through_the_binary_reports_the_freeze() {
    let v = json(&tpvirt(&["--json", "backup", "web", "/lab-pool"]));
    assert_eq!(v["was_running"], true);
    assert!(v["frozen_ms"].as_f64().is_some());
    assert_eq!(v["disks"][0]["source"], "/lab-pool/web.qcow2");
}

#[test]
fn clone_and_import_through_the_binary() {
    let v = json(&tpvirt(&[
        "--json",
        "clone",
        "--original",
        "db",
        "--auto-clone",
        "--linked",
    ]));
    assert_eq!(v["name"], "db-clone");
    assert_eq!(v["disks"][0]["to"], "/lab-pool/db-clone.qcow2");
    assert_ne!(v["uuid"], "2f7b1c5e-0d8a-4c1e-9a55-6b1a7b9b0002");
    let (_, err, code) = text(&tpvirt(&["clone", "--original", "web", "--auto-clone"]));
    assert_eq!(code, 2);
    assert!(err.contains("is running: cannot clone"), "{err}");
    let v = json(&tpvirt(&[
        "--json",
        "import",
        "vm1",
        "/lab-pool/base.qcow2",
        "--memory",
        "256M",
        "--vcpus",
        "1",
    ]));
    assert_eq!(v["format"], "qcow2");
}

#[test]
fn the_other_lifecycle_commands_through_the_binary() {
    let (out, _, code) = text(&tpvirt(&["shutdown", "web", "--wait", "5"]));
    assert_eq!((out.trim(), code), ("Domain 'web' is shut off", 0));
    let (out, _, code) = text(&tpvirt(&["destroy", "web"]));
    assert_eq!((out.trim(), code), ("Domain 'web' destroyed", 0));
    let (_, err, code) = text(&tpvirt(&["destroy", "db"]));
    assert_eq!(code, 2);
    assert!(err.contains("is shut off: cannot destroy"), "{err}");
    let (_, err, code) = text(&tpvirt(&["resume", "web"]));
    assert_eq!(code, 2);
    assert!(err.contains("only a paused domain can be resumed"), "{err}");
    let v = json(&tpvirt(&["--json", "undefine", "db", "--remove-storage"]));
    assert_eq!(v["volumes_removed"][0], "/lab-pool/db.qcow2");
    let (_, err, code) = text(&tpvirt(&["snapshot", "delete", "web", "nope"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("has no snapshot \"nope\"; its snapshots: (none)"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.xml");
    std::fs::write(&f, "<domain type='test'><name>t1</name><memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>").unwrap();
    let v = json(&tpvirt(&["--json", "create", f.to_str().unwrap()]));
    assert_eq!(
        (v["domain"].as_str(), v["action"].as_str()),
        (Some("t1"), Some("created"))
    );
}

#[test]
fn info_text_shows_the_chain_indented_and_the_nic() {
    let (out, _, code) = text(&tpvirt(&["info", "web"]));
    assert_eq!(code, 0);
    assert!(out.contains("State:          running\n"), "{out}");
    assert!(
        out.contains("Memory:         1048576 KiB (1.0 GiB)\n"),
        "{out}"
    );
    assert!(out.contains("vCPUs:          1 (max 2)\n"), "{out}");
    assert!(
        out.contains("  /lab-pool/web.qcow2 [qcow2] virtual 10.0 GiB"),
        "{out}"
    );
    assert!(out.contains("    /lab-pool/base.qcow2 [qcow2]"), "{out}");
    assert!(
        out.contains("NIC  52:54:00:11:22:33  network default virtio 192.168.122."),
        "{out}"
    );
}
