//! tpvirt's library against libvirt's test driver, in-process, no root.
//! Each test opens `testdata/virt/node.xml` (a private in-memory host per
//! connection): "web" running, "db" shut off, pool "lab".

// These run the tpvirt binary or the libvirt bindings: feature "libvirt".
#![cfg(feature = "libvirt")]

use std::time::Duration;

use tplab::virt::connect::{Session, VirtError};
use tplab::virt::domain::{self, Scope};
use tplab::virt::snapshot;

fn node_uri() -> String {
    format!(
        "test://{}/testdata/virt/node.xml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn open() -> Session {
    Session::open(&node_uri()).expect("test driver opens the node file")
}

fn state(s: &Session, name: &str) -> String {
    domain::info(s, name).unwrap().state
}

#[test]
fn each_connection_to_the_node_file_is_a_private_host() {
    let a = open();
    let b = open();
    domain::start(&a, "db").unwrap();
    assert_eq!(state(&a, "db"), "running");
    assert_eq!(
        state(&b, "db"),
        "shut off",
        "state must not leak between connections"
    );
}

#[test]
fn lifecycle_moves_through_the_states_and_refuses_wrong_ones() {
    let s = open();
    assert_eq!(state(&s, "db"), "shut off");
    assert!(matches!(
        domain::destroy(&s, "db"),
        Err(VirtError::WrongState { .. })
    ));
    assert!(matches!(
        domain::suspend(&s, "db"),
        Err(VirtError::WrongState { .. })
    ));
    domain::start(&s, "db").unwrap();
    assert_eq!(state(&s, "db"), "running");
    let e = domain::start(&s, "db").unwrap_err();
    assert!(e.to_string().contains("is running: cannot start"), "{e}");
    domain::suspend(&s, "db").unwrap();
    assert_eq!(state(&s, "db"), "paused");
    let e = domain::suspend(&s, "db").unwrap_err();
    assert!(e.to_string().contains("already paused"), "{e}");
    let e = domain::start(&s, "db").unwrap_err();
    assert!(e.to_string().contains("tpvirt resume db"), "{e}");
    domain::resume(&s, "db").unwrap();
    assert_eq!(state(&s, "db"), "running");
    assert!(matches!(
        domain::resume(&s, "db"),
        Err(VirtError::WrongState { .. })
    ));
    let st = domain::shutdown(&s, "db", Some(Duration::from_secs(5))).unwrap();
    assert_eq!(st, "shut off");
    assert!(matches!(
        domain::shutdown(&s, "db", None),
        Err(VirtError::WrongState { .. })
    ));
    domain::start(&s, "db").unwrap();
    domain::destroy(&s, "db").unwrap();
    assert_eq!(state(&s, "db"), "shut off");
}

#[test]
fn list_shows_running_only_unless_all() {
    let s = open();
    let active: Vec<String> = domain::list(&s, false)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(active, ["web"]);
    let all = domain::list(&s, true).unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.name.as_str(), r.state.as_str()))
            .collect::<Vec<_>>(),
        [("web", "running"), ("db", "shut off")]
    );
    assert_eq!(all[0].id, Some(1));
    assert_eq!(all[1].id, None);
}

#[test]
fn unknown_domain_error_lists_the_known_names() {
    let s = open();
    let e = domain::info(&s, "dbb").unwrap_err();
    match &e {
        VirtError::NoSuchDomain { known, .. } => assert_eq!(known, &["db", "web"]),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("known domains: db, web"), "{e}");
}

const NEW_DOMAIN: &str = "<domain type='test'><name>lab1</name><memory unit='MiB'>256</memory>\
<vcpu>1</vcpu><os><type>hvm</type></os></domain>";

#[test]
fn create_is_transient_and_define_persistent() {
    let s = open();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("lab1.xml");
    std::fs::write(&f, NEW_DOMAIN).unwrap();
    assert_eq!(domain::create(&s, &f).unwrap(), "lab1");
    let i = domain::info(&s, "lab1").unwrap();
    assert_eq!(
        (i.state.as_str(), i.persistent, i.max_memory_kib),
        ("running", false, 256 * 1024)
    );
    // A transient domain has nothing to undefine; destroying it removes it.
    assert!(matches!(
        domain::undefine(&s, "lab1", false, false),
        Err(VirtError::WrongState { .. })
    ));
    domain::destroy(&s, "lab1").unwrap();
    assert!(matches!(
        domain::info(&s, "lab1"),
        Err(VirtError::NoSuchDomain { .. })
    ));

    assert_eq!(domain::define(&s, &f).unwrap(), "lab1");
    let i = domain::info(&s, "lab1").unwrap();
    assert_eq!((i.state.as_str(), i.persistent), ("shut off", true));
    domain::undefine(&s, "lab1", false, false).unwrap();
    assert!(domain::list(&s, true)
        .unwrap()
        .iter()
        .all(|r| r.name != "lab1"));
}

#[test]
fn invalid_xml_names_the_file_and_keeps_libvirts_message() {
    let s = open();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.xml");
    std::fs::write(&f, "<domain type='test'><name>x</name>").unwrap();
    let e = domain::define(&s, &f).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, VirtError::InvalidXml { .. }), "{e:?}");
    assert!(
        msg.contains("broken.xml") && msg.contains("Premature end of data"),
        "{msg}"
    );
    std::fs::write(&f, "<domain type='test'><name>x</name></domain>").unwrap();
    let e = domain::create(&s, &f).unwrap_err();
    assert!(e.to_string().contains("os <type>"), "{e}");
    let e = domain::define(&s, &dir.path().join("missing.xml")).unwrap_err();
    assert!(matches!(e, VirtError::Io { .. }), "{e:?}");
}

#[test]
fn creating_a_second_domain_with_a_taken_name_is_refused() {
    let s = open();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("web.xml");
    std::fs::write(&f, NEW_DOMAIN.replace("lab1", "web")).unwrap();
    let e = domain::create(&s, &f).unwrap_err();
    assert!(
        matches!(e, VirtError::DomainExists { .. }) || e.to_string().contains("already"),
        "{e:?}"
    );
}

#[test]
fn setmem_reads_back_and_refuses_above_the_maximum() {
    let s = open();
    let r = domain::setmem(&s, "web", 512 * 1024, Scope::Current).unwrap();
    assert_eq!(
        (r.memory_kib, r.max_memory_kib, r.scope.as_str()),
        (512 * 1024, 2048 * 1024, "live")
    );
    assert_eq!(domain::info(&s, "web").unwrap().memory_kib, 512 * 1024);
    let e = domain::setmem(&s, "web", 3 << 20, Scope::Current).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, VirtError::AboveMaximum { .. }));
    assert!(msg.contains("maximum of 2097152 KiB (2.0 GiB)"), "{msg}");
    assert_eq!(
        domain::info(&s, "web").unwrap().memory_kib,
        512 * 1024,
        "refused change must not apply"
    );
    // A shut-off domain: the configuration changes; --live is refused.
    assert!(matches!(
        domain::setmem(&s, "db", 256 * 1024, Scope::Live),
        Err(VirtError::WrongState { .. })
    ));
    let r = domain::setmem(&s, "db", 768 * 1024, Scope::Config).unwrap();
    assert_eq!((r.memory_kib, r.scope.as_str()), (768 * 1024, "config"));
    let x = domain::dumpxml(&s, "db", true).unwrap();
    assert!(
        x.contains("<currentMemory unit='KiB'>786432</currentMemory>"),
        "{x}"
    );
}

#[test]
fn setvcpus_within_and_above_the_maximum() {
    let s = open();
    let r = domain::setvcpus(&s, "web", 2, Scope::Current, false).unwrap();
    assert_eq!((r.vcpus, r.max_vcpus), (2, 2));
    assert_eq!(domain::info(&s, "web").unwrap().vcpus, 2);
    let e = domain::setvcpus(&s, "web", 3, Scope::Current, false).unwrap_err();
    assert!(
        e.to_string().contains("maximum of 2") && e.to_string().contains("--maximum --config"),
        "{e}"
    );
    assert!(matches!(
        domain::setvcpus(&s, "web", 4, Scope::Live, true),
        Err(VirtError::Invalid(_))
    ));
    // Raise db's maximum in its configuration, then use it.
    let r = domain::setvcpus(&s, "db", 4, Scope::Config, true).unwrap();
    assert_eq!(r.max_vcpus, 4);
    let r = domain::setvcpus(&s, "db", 3, Scope::Config, false).unwrap();
    assert_eq!((r.vcpus, r.max_vcpus), (3, 4));
    assert!(matches!(
        domain::setvcpus(&s, "db", 0, Scope::Config, false),
        Err(VirtError::Invalid(_))
    ));
}

#[test]
fn display_gives_the_vnc_uri_or_says_what_is_missing() {
    let s = open();
    assert_eq!(domain::display(&s, "web").unwrap(), "vnc://127.0.0.1:5900");
    let e = domain::display(&s, "db").unwrap_err();
    assert!(e.to_string().contains("<graphics type='vnc'"), "{e}");
}

#[test]
fn console_is_unsupported_on_the_test_driver_and_says_what_would_work() {
    let s = open();
    let e = domain::console(&s, "web").unwrap_err();
    assert!(matches!(e, VirtError::Unsupported { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("virDomainOpenConsole") && msg.contains("qemu:///system"),
        "{msg}"
    );
}

#[test]
fn info_shows_backing_chain_macs_and_addresses() {
    let s = open();
    let i = domain::info(&s, "web").unwrap();
    assert_eq!(
        (i.vcpus, i.max_vcpus, i.memory_kib),
        (1, Some(2), 1024 * 1024)
    );
    let d = &i.disks[0];
    assert_eq!(d.target, "vda");
    let chain: Vec<&str> = d.chain.iter().map(|c| c.filename.as_str()).collect();
    assert_eq!(chain, ["/lab-pool/web.qcow2", "/lab-pool/base.qcow2"]);
    assert_eq!(d.chain[0].backing_filename_format.as_deref(), Some("qcow2"));
    assert_eq!(d.chain[0].virtual_size, 10 << 30);
    assert_eq!(i.nics[0].mac.as_deref(), Some("52:54:00:11:22:33"));
    assert_eq!(i.nics[0].source.as_deref(), Some("default"));
    assert!(
        i.nics[0]
            .addresses
            .iter()
            .all(|a| a.starts_with("192.168.122.")),
        "{:?}",
        i.nics[0].addresses
    );
    assert_eq!(i.display.as_deref(), Some("vnc://127.0.0.1:5900"));
    // No addresses for a domain that does not run.
    assert!(domain::info(&s, "db").unwrap().nics[0].addresses.is_empty());
}

#[test]
fn dumpxml_live_and_inactive() {
    let s = open();
    let live = domain::dumpxml(&s, "web", false).unwrap();
    assert!(
        live.contains("<name>web</name>") && live.contains("id='1'"),
        "{live}"
    );
    let inactive = domain::dumpxml(&s, "web", true).unwrap();
    assert!(!inactive.contains("id='1'"));
}

#[test]
fn snapshots_create_list_current_revert_delete() {
    let s = open();
    assert!(snapshot::list(&s, "web").unwrap().is_empty());
    assert_eq!(snapshot::current(&s, "web").unwrap(), None);
    let a = snapshot::create(&s, "web", Some("before-update"), Some("clean")).unwrap();
    assert_eq!(
        (a.name.as_str(), a.state.as_str(), a.current),
        ("before-update", "running", true)
    );
    domain::setmem(&s, "web", 256 * 1024, Scope::Current).unwrap();
    let b = snapshot::create(&s, "web", Some("after"), None).unwrap();
    assert_eq!(b.parent.as_deref(), Some("before-update"));
    assert!(matches!(
        snapshot::create(&s, "web", Some("after"), None),
        Err(VirtError::Invalid(_))
    ));
    let names: Vec<String> = snapshot::list(&s, "web")
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["before-update", "after"]);
    assert_eq!(snapshot::current(&s, "web").unwrap().unwrap().name, "after");
    // Reverting brings back the memory the domain had then.
    snapshot::revert(&s, "web", "before-update").unwrap();
    assert_eq!(
        snapshot::current(&s, "web").unwrap().unwrap().name,
        "before-update"
    );
    assert_eq!(domain::info(&s, "web").unwrap().memory_kib, 1024 * 1024);
    let e = snapshot::revert(&s, "web", "nope").unwrap_err();
    assert!(
        e.to_string()
            .contains("its snapshots: before-update, after"),
        "{e}"
    );
    snapshot::delete(&s, "web", "after").unwrap();
    let names: Vec<String> = snapshot::list(&s, "web")
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["before-update"]);
    // A domain with snapshots needs --snapshots-metadata to be undefined.
    let e = domain::undefine(&s, "web", false, false).unwrap_err();
    assert!(e.to_string().contains("--snapshots-metadata"), "{e}");
    let u = domain::undefine(&s, "web", true, false).unwrap();
    assert_eq!(u.snapshots_removed, 1);
    // Still running, now transient.
    assert!(!domain::info(&s, "web").unwrap().persistent);
}

#[test]
fn undefine_remove_storage_deletes_the_pool_volume() {
    let s = open();
    let pool = s.conn.lookup_storage_pool_by_name("lab").unwrap();
    assert!(pool
        .list_volumes()
        .unwrap()
        .contains(&"db.qcow2".to_string()));
    let u = domain::undefine(&s, "db", false, true).unwrap();
    assert_eq!(u.volumes_removed, ["/lab-pool/db.qcow2"]);
    assert!(!pool
        .list_volumes()
        .unwrap()
        .contains(&"db.qcow2".to_string()));
    assert!(pool
        .list_volumes()
        .unwrap()
        .contains(&"base.qcow2".to_string()));
}

#[test]
fn no_daemon_says_which_uri_and_how_to_start_one() {
    let uri = "qemu+unix:///system?socket=/nonexistent/tpvirt-test.sock";
    let e = Session::open(uri).err().expect("nothing listens there");
    let msg = e.to_string();
    assert!(matches!(e, VirtError::NoDaemon { .. }), "{e:?}");
    assert!(
        msg.contains(uri) && msg.contains("libvirtd") && msg.contains("test:///default"),
        "{msg}"
    );
}

use tplab::virt::clone::{self as vclone, CloneOptions};
use tplab::virt::import::{self as vimport, ImportOptions};

fn vol_xml(s: &Session, pool: &str, vol: &str) -> Option<String> {
    let p = s.conn.lookup_storage_pool_by_name(pool).unwrap();
    p.lookup_storage_vol_by_name(vol)
        .ok()
        .map(|v| v.xml_desc(0).unwrap())
}

#[test]
fn clone_refuses_a_running_original() {
    let s = open();
    let e = vclone::clone(
        &s,
        &CloneOptions {
            original: "web".into(),
            auto: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, VirtError::WrongState { .. }), "{e:?}");
    assert!(e.to_string().contains("is running: cannot clone"), "{e}");
    assert!(
        vol_xml(&s, "lab", "web-clone.qcow2").is_none(),
        "nothing created on refusal"
    );
}

#[test]
fn full_clone_has_new_name_uuid_mac_and_copied_volume() {
    let s = open();
    let c = vclone::clone(
        &s,
        &CloneOptions {
            original: "db".into(),
            auto: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.name, "db-clone");
    let orig = domain::info(&s, "db").unwrap();
    let new = domain::info(&s, "db-clone").unwrap();
    assert_ne!(new.uuid, orig.uuid);
    assert_eq!(new.uuid, c.uuid);
    let mac = new.nics[0].mac.clone().unwrap();
    assert!(
        mac.starts_with("52:54:00:") && mac != "52:54:00:11:22:44",
        "{mac}"
    );
    assert_eq!(
        new.disks[0].source.as_deref(),
        Some("/lab-pool/db-clone.qcow2")
    );
    assert_eq!(c.disks[0].how, "copy");
    let vx = vol_xml(&s, "lab", "db-clone.qcow2").expect("volume made in pool lab");
    assert!(
        !vx.contains("backingStore") || !vx.contains("/lab-pool/db.qcow2"),
        "{vx}"
    );
    assert_eq!(
        (new.max_memory_kib, new.state.as_str()),
        (orig.max_memory_kib, "shut off")
    );
    // The clone boots.
    domain::start(&s, "db-clone").unwrap();
    // --auto-clone again picks the next free name.
    let c2 = vclone::clone(
        &s,
        &CloneOptions {
            original: "db".into(),
            auto: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c2.name, "db-clone1");
}

#[test]
fn linked_clone_is_an_overlay_on_the_original_volume() {
    let s = open();
    let c = vclone::clone(
        &s,
        &CloneOptions {
            original: "db".into(),
            name: Some("db2".into()),
            mac: Some("52:54:00:AB:CD:EF".into()),
            linked: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.macs, ["52:54:00:ab:cd:ef"]);
    assert_eq!(c.disks[0].how, "overlay");
    let vx = vol_xml(&s, "lab", "db2.qcow2").expect("overlay volume");
    assert!(vx.contains("<path>/lab-pool/db.qcow2</path>"), "{vx}");
    let i = domain::info(&s, "db2").unwrap();
    assert_eq!(i.nics[0].mac.as_deref(), Some("52:54:00:ab:cd:ef"));
    let chain: Vec<&str> = i.disks[0]
        .chain
        .iter()
        .map(|c| c.filename.as_str())
        .collect();
    assert_eq!(chain, ["/lab-pool/db2.qcow2", "/lab-pool/db.qcow2"]);
}

#[test]
fn clone_never_overwrites_and_checks_names_and_macs() {
    let s = open();
    let opts = |name: &str| CloneOptions {
        original: "db".into(),
        name: Some(name.into()),
        ..Default::default()
    };
    // A taken domain name.
    let e = vclone::clone(&s, &opts("web")).unwrap_err();
    assert!(matches!(e, VirtError::DomainExists { .. }), "{e:?}");
    // A volume named like the clone's disk already exists: base.qcow2.
    let e = vclone::clone(
        &s,
        &CloneOptions {
            original: "db".into(),
            name: Some("base".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("already exists in pool lab")
            && e.to_string().contains("never overwrites"),
        "{e}"
    );
    assert!(
        domain::info(&s, "base").is_err(),
        "no domain defined after a refusal"
    );
    let e = vclone::clone(
        &s,
        &CloneOptions {
            original: "db".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("--name NAME, or --auto-clone"),
        "{e}"
    );
    let e = vclone::clone(
        &s,
        &CloneOptions {
            mac: Some("01:00:5e:00:00:01".into()),
            ..opts("db3")
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("multicast"), "{e}");
    let e = vclone::clone(
        &s,
        &CloneOptions {
            mac: Some("52:54:00:11:22:44".into()),
            ..opts("db3")
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("original's MAC"), "{e}");
}

#[test]
fn linked_clone_of_a_local_file_disk_writes_a_real_overlay() {
    let s = open();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("lab3.qcow2");
    // A standalone qcow2: an overlay header with the backing pointer cleared.
    let standalone = {
        let mut b = tplab::virt::disk::overlay_bytes(1 << 30, "", "raw").unwrap();
        b[8..20].fill(0);
        b
    };
    std::fs::write(&base, standalone).unwrap();
    let xml = dir.path().join("lab3.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='test'><name>lab3</name><memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>\
             <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda'/></disk></devices></domain>",
            base.display()
        ),
    )
    .unwrap();
    domain::define(&s, &xml).unwrap();
    let c = vclone::clone(
        &s,
        &CloneOptions {
            original: "lab3".into(),
            name: Some("lab4".into()),
            linked: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.disks[0].how, "file-overlay");
    let new = dir.path().join("lab4.qcow2");
    let chain = tplab::virt::disk::backing_chain(&new).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(
        chain[0].backing_filename.as_deref(),
        Some(base.canonicalize().unwrap().to_str().unwrap())
    );
    assert_eq!(chain[0].virtual_size, 1 << 30);
    // A full clone of the same: a byte copy, refused when the file exists.
    let c = vclone::clone(
        &s,
        &CloneOptions {
            original: "lab3".into(),
            name: Some("lab5".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.disks[0].how, "file-copy");
    assert_eq!(
        std::fs::read(dir.path().join("lab5.qcow2")).unwrap(),
        std::fs::read(&base).unwrap()
    );
    let e = vclone::clone(
        &s,
        &CloneOptions {
            original: "lab3".into(),
            name: Some("lab5".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, VirtError::DomainExists { .. }));
}

#[test]
fn import_defines_a_bootable_domain_with_the_disk_format() {
    let s = open();
    let o = ImportOptions {
        name: "imported".into(),
        disk: "/lab-pool/base.qcow2".into(),
        memory_kib: 256 * 1024,
        vcpus: 2,
        mac: Some("52:54:00:00:00:42".into()),
        network: "default".into(),
        virt_type: None,
    };
    let r = vimport::import(&s, &o).unwrap();
    assert_eq!((r.format.as_str(), r.virt_type.as_str()), ("qcow2", "test"));
    let x = domain::dumpxml(&s, "imported", true).unwrap();
    assert!(
        x.contains("type='qcow2'")
            && x.contains("/lab-pool/base.qcow2")
            && x.contains("52:54:00:00:00:42"),
        "{x}"
    );
    let i = domain::info(&s, "imported").unwrap();
    assert_eq!(
        (i.max_memory_kib, i.vcpus, i.state.as_str()),
        (256 * 1024, 2, "shut off")
    );
    domain::start(&s, "imported").unwrap();
    // A raw local file is declared raw.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.img");
    std::fs::write(&raw, vec![0u8; 4096]).unwrap();
    let r = vimport::import(
        &s,
        &ImportOptions {
            name: "rawvm".into(),
            disk: raw.display().to_string(),
            mac: None,
            ..o.clone()
        },
    )
    .unwrap();
    assert_eq!(r.format, "raw");
    assert!(r.mac.starts_with("52:54:00:"));
    // Refusals: taken name, missing disk, unknown network.
    assert!(matches!(
        vimport::import(&s, &o),
        Err(VirtError::DomainExists { .. })
    ));
    let e = vimport::import(
        &s,
        &ImportOptions {
            name: "x1".into(),
            disk: "/nope.qcow2".into(),
            ..o.clone()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nope.qcow2"), "{e}");
    let e = vimport::import(
        &s,
        &ImportOptions {
            name: "x2".into(),
            network: "lan".into(),
            ..o.clone()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("known networks: default"), "{e}");
}

use tplab::virt::backup::{self as vbackup, Method};
use tplab::virt::migrate::{self as vmigrate, MigrateFlags};

#[test]
fn backup_by_copy_into_a_pool_resumes_the_guest() {
    let s = open();
    let r = vbackup::backup(&s, "web", std::path::Path::new("/lab-pool"), Method::Copy).unwrap();
    assert!(r.was_running);
    assert!(r.frozen_ms >= 0.0 && r.frozen_ms < 5000.0);
    assert_eq!(state(&s, "web"), "running", "guest resumed");
    let saved = &r.disks[0].backup;
    assert!(
        saved.starts_with("/lab-pool/web-vda-") && saved.ends_with(".qcow2"),
        "{saved}"
    );
    let pool = s.conn.lookup_storage_pool_by_name("lab").unwrap();
    let name = saved.trim_start_matches("/lab-pool/");
    assert!(pool.list_volumes().unwrap().iter().any(|v| v == name));
    // A shut-off guest is copied without being "frozen" (and a trailing
    // slash on DEST still finds the pool).
    let r = vbackup::backup(&s, "db", std::path::Path::new("/lab-pool/"), Method::Copy).unwrap();
    assert!(!r.was_running && r.frozen_ms == 0.0);
    assert_eq!(state(&s, "db"), "shut off");
}

#[test]
fn backup_external_is_unsupported_here_and_leaves_the_guest_running() {
    let s = open();
    let e = vbackup::backup(
        &s,
        "web",
        std::path::Path::new("/lab-pool"),
        Method::External,
    )
    .unwrap_err();
    assert!(matches!(e, VirtError::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("--method copy"), "{e}");
    assert_eq!(state(&s, "web"), "running", "resumed after the failure");
    let e = vbackup::backup(
        &s,
        "web",
        std::path::Path::new("/no/such/dir"),
        Method::Copy,
    )
    .unwrap_err();
    assert!(e.to_string().contains("neither a directory"), "{e}");
}

#[test]
fn migrate_is_unsupported_on_the_test_driver_and_checks_first() {
    let s = open();
    let live = MigrateFlags {
        live: true,
        ..Default::default()
    };
    let e = vmigrate::migrate(&s, "web", "test:///default", live, |_| {}).unwrap_err();
    assert!(matches!(e, VirtError::Unsupported { .. }), "{e:?}");
    assert!(
        e.to_string().contains("virDomainMigrate") && e.to_string().contains("qemu:///system"),
        "{e}"
    );
    let p2p = MigrateFlags { p2p: true, ..live };
    let e = vmigrate::migrate(&s, "web", "test:///default", p2p, |_| {}).unwrap_err();
    assert!(matches!(e, VirtError::Unsupported { .. }), "{e:?}");
    let e = vmigrate::migrate(&s, "db", "test:///default", live, |_| {}).unwrap_err();
    assert!(matches!(e, VirtError::WrongState { .. }), "{e:?}");
    let e = vmigrate::migrate(
        &s,
        "web",
        "test:///default",
        MigrateFlags {
            tunnelled: true,
            ..live
        },
        |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("--tunnelled needs --p2p"), "{e}");
    assert_eq!(state(&s, "web"), "running");
}

#[test]
fn job_on_a_driver_without_job_statistics_says_so() {
    // The test driver has no virDomainGetJobStats; the real daemon's "no
    // job" answer (a null parameter array, which virt 0.5's own
    // Domain::job_stats aborted on) is checked in e2e_virt.
    let s = open();
    for completed in [false, true] {
        let e = vmigrate::job(&s, "web", completed).unwrap_err();
        assert!(matches!(e, VirtError::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains("virDomainGetJobStats"), "{e}");
    }
    assert!(matches!(
        vmigrate::job(&s, "nosuch", false),
        Err(VirtError::NoSuchDomain { .. })
    ));
}
