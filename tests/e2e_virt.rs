//! End to end on a real libvirtd + QEMU (software emulation), private to
//! this test: two daemons, each in its own network and mount namespace
//! (created here, joined by a veth pair on bridges `br0`), and a tiny guest
//! built from Debian packages (kernel, busybox initramfs serving HTTP,
//! syslinux on a FAT disk) that boots from a qcow2 overlay.
//!
//! The lab's whole sequence: define, start, display, info, suspend/resume
//! with `watch` measuring the gap, setmem, snapshot create/revert/delete,
//! setvcpus, backup, shutdown, clone (full and linked) and start the
//! clones, overlay + import + boot, and live migration between the two
//! daemons while `watch` shows the service kept answering.
//!
//! Needs root and the packages in SKIP messages; without them it says what
//! it skipped and passes. Every client command that talks to a namespace
//! address runs inside a namespace created here (`ip netns exec`); the root
//! namespace only ever uses the daemons' unix sockets.

// These run the tpvirt binary or the libvirt bindings: feature "libvirt".
#![cfg(feature = "libvirt")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SUBNET: &str = "10.88.0";
/// Guests take the address 10.88.0.<last byte of their MAC>.
const MAC_WEB: &str = "52:54:00:88:00:0a";
const MAC_FULL: &str = "52:54:00:88:00:0b";
const MAC_LINKED: &str = "52:54:00:88:00:0c";
const MAC_IMPORT: &str = "52:54:00:88:00:0d";

fn ip_of(mac: &str) -> String {
    let last = u8::from_str_radix(mac.rsplit(':').next().unwrap(), 16).unwrap();
    format!("{SUBNET}.{last}")
}

fn t0() -> &'static Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T.get_or_init(Instant::now)
}

fn step(msg: &str) {
    eprintln!("[e2e {:>6.1} s] {msg}", t0().elapsed().as_secs_f64());
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn kernel() -> Option<(PathBuf, PathBuf)> {
    let mut ks: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    ks.sort();
    let k = ks.pop()?;
    let ver = k
        .file_name()?
        .to_string_lossy()
        .trim_start_matches("vmlinuz-")
        .to_string();
    let m = PathBuf::from("/lib/modules").join(ver);
    m.join("modules.dep").exists().then_some((k, m))
}

/// Why the test cannot run here, or None.
fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some(
            "not root: the real-QEMU end-to-end test needs root (namespaces, bridges, libvirtd)"
                .into(),
        );
    }
    let need = [
        ("/usr/sbin/libvirtd", "libvirt-daemon"),
        (
            "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
            "libvirt-daemon-driver-qemu",
        ),
        ("/usr/bin/virsh", "libvirt-clients"),
        ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
        ("/usr/bin/qemu-img", "qemu-utils"),
        ("/bin/busybox", "busybox-static"),
        ("/usr/bin/syslinux", "syslinux"),
        (
            "/usr/lib/syslinux/modules/bios/ldlinux.c32",
            "syslinux-common",
        ),
        ("/usr/bin/mcopy", "mtools"),
        ("/usr/sbin/mkfs.fat", "dosfstools"),
        ("/usr/sbin/ip", "iproute2"),
        ("/usr/bin/nsenter", "util-linux"),
    ];
    let missing: Vec<&str> = need
        .iter()
        .filter(|(p, _)| !Path::new(p).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    let mut missing: Vec<String> = missing.into_iter().map(String::from).collect();
    if kernel().is_none() {
        missing.push("linux-image-amd64".into());
    }
    if Path::new("/bin/busybox").exists() {
        // The dynamic busybox would need its libraries in the initramfs.
        let b = std::fs::read("/bin/busybox").unwrap_or_default();
        if b.windows(14).any(|w| w == b"/lib64/ld-linu") {
            missing.push("busybox-static (the installed busybox is dynamic)".into());
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        return Some(format!(
            "missing packages: {} (see docs/tpvirt.md, 'cargo xtask test' installs them)",
            missing.join(" ")
        ));
    }
    let ns = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .output();
    if !ns.is_ok_and(|o| o.status.success()) {
        return Some(
            "cannot create network and mount namespaces here (a container without CAP_SYS_ADMIN?)"
                .into(),
        );
    }
    let v = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()?;
    if !v.status.success() {
        return Some("qemu-system-x86_64 does not run (qemu-utils from backports conflicts: install the bookworm qemu-utils)".into());
    }
    None
}

/// No step of this test may take longer: a hung daemon or migration
/// fails the test (and its guard cleans up) instead of hanging CI.
const STEP_LIMIT: Duration = Duration::from_secs(300);

/// `cmd.output()`, but the command is killed and the test fails when it
/// runs longer than `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    match try_output_within(cmd, limit) {
        Ok(o) => o,
        Err(err) => panic!(
            "{cmd:?} did not finish in {} s; its stderr:\n{err}",
            limit.as_secs()
        ),
    }
}

/// The last `n` lines of `text`.
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The output, or on time-out the command is killed and its stderr returned.
fn try_output_within(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    use std::io::Read;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = te.join().unwrap_or_default();
            return Err(String::from_utf8_lossy(&err).into_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    })
}

fn run(cmd: &mut Command) -> Output {
    let o = output_within(cmd, STEP_LIMIT);
    if !o.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o
}

fn sh(script: &str) -> Output {
    run(Command::new("sh").arg("-ec").arg(script))
}

// ---------------------------------------------------------------- guest

/// A cpio archive in the `newc` format the kernel unpacks as initramfs.
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            ino: 1,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.ino += 1;
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
        self.out.extend_from_slice(data);
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, data, (0, 0));
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.out
    }
}

/// Modules to load, dependencies first, from modules.dep.
fn module_order(moddir: &Path, wanted: &[&str]) -> Vec<PathBuf> {
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let stem = |p: &str| {
        Path::new(p)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .split('.')
            .next()
            .unwrap()
            .replace('-', "_")
    };
    for line in dep.lines() {
        let Some((m, rest)) = line.split_once(':') else {
            continue;
        };
        deps.insert(
            stem(m),
            (m.to_string(), rest.split_whitespace().map(stem).collect()),
        );
    }
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        n: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        if let Some((_, ds)) = deps.get(n) {
            for d in ds {
                visit(d, deps, seen, order);
            }
            order.push(n.to_string());
        }
    }
    for w in wanted {
        visit(w, &deps, &mut seen, &mut order);
    }
    order
        .into_iter()
        .map(|n| moddir.join(&deps[&n].0))
        .collect()
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /var/log /var/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address)
addr=10.88.0.$(printf %d 0x${mac##*:})
ip addr add $addr/24 dev eth0
arping -U -c 2 -I eth0 $addr >/dev/null 2>&1 &
httpd -p 80 -h /www
# acpid logs to /var/log/acpid.log and exits if it cannot.
acpid -c /etc/acpi -l /dev/ttyS0
# A shell on the serial port, for `tpvirt console`, and one on the
# screen, for the web console's graphical console.
setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1' &
setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1' &
echo "TPVIRT-READY $addr"
while true; do sleep 3600; done
"#;

const HEURE: &str = "#!/bin/sh\necho 'Content-Type: text/plain'\necho\ndate +%H:%M:%S\n";
const POWER: &str = "#!/bin/sh\necho TPVIRT-POWEROFF\npoweroff -f\n";

/// kernel + initramfs on a FAT disk with syslinux, as qcow2: the base
/// every guest's overlay sits on.
fn build_base(dir: &Path) -> PathBuf {
    let (kernel, moddir) = kernel().unwrap();
    let mods = module_order(
        &moddir,
        &[
            "virtio_ring",
            "virtio",
            "virtio_pci",
            "failover",
            "net_failover",
            "virtio_net",
            "virtio_blk",
            "virtio_balloon",
            "button",
            "evdev",
        ],
    );
    assert!(
        mods.iter().any(|m| m.ends_with("virtio_net.ko")),
        "virtio_net module not found in {}",
        moddir.display()
    );
    let mut c = Cpio::new();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "etc",
        "etc/acpi",
        "etc/acpi/PWRF",
        "www",
        "www/cgi-bin",
        "lib",
        "lib/modules",
    ] {
        c.dir(d);
    }
    c.entry("dev/console", 0o020600, &[], (5, 1));
    c.file(
        "bin/busybox",
        0o755,
        &std::fs::read("/bin/busybox").unwrap(),
    );
    c.file("init", 0o755, INIT.as_bytes());
    c.file("www/index.html", 0o644, b"tpvirt e2e guest\n");
    c.file("www/cgi-bin/heure", 0o755, HEURE.as_bytes());
    c.file("etc/acpi/PWRF/00000080", 0o755, POWER.as_bytes());
    let mut order = String::new();
    for m in &mods {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        c.file(
            &format!("lib/modules/{name}"),
            0o644,
            &std::fs::read(m).unwrap(),
        );
        order.push_str(&name);
        order.push('\n');
    }
    c.file("modules.order", 0o644, order.as_bytes());
    std::fs::write(dir.join("initrd.img"), c.finish()).unwrap();
    std::fs::copy(&kernel, dir.join("vmlinuz")).unwrap();
    std::fs::write(
        dir.join("syslinux.cfg"),
        "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img console=ttyS0 nokaslr quiet panic=-1\n",
    )
    .unwrap();
    let d = dir.display();
    sh(&format!(
        "cd {d}; rm -f fat.img; mkfs.fat -C -n TPVIRT fat.img 65536 >/dev/null; \
         mcopy -i fat.img vmlinuz initrd.img syslinux.cfg /usr/lib/syslinux/modules/bios/ldlinux.c32 ::/; \
         syslinux --install fat.img; qemu-img convert -f raw -O qcow2 fat.img base.qcow2; rm fat.img"
    ));
    dir.join("base.qcow2")
}

// ---------------------------------------------------------------- hosts

/// One private libvirtd in its own network and mount namespace.
struct Daemon {
    ns: String,
    addr: String,
    dir: PathBuf,
}

impl Daemon {
    fn uri(&self) -> String {
        format!(
            "qemu+unix:///system?socket={}/run/libvirt-sock",
            self.dir.display()
        )
    }

    fn tcp_uri(&self) -> String {
        format!("qemu+tcp://{}/system", self.addr)
    }

    fn start(&self, uuid: &str) {
        let d = &self.dir;
        for sub in ["etc", "run", "lib", "cache", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Warnings and errors, plus the migration code's debug messages: the
        // log's end says where a stuck migration waits (printed then).
        std::fs::write(
            d.join("etc/libvirtd.conf"),
            format!(
                "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"{}\"\nauth_tcp = \"none\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nhost_uuid = \"{uuid}\"\nlog_level = 3\nlog_filters = \"1:qemu.qemu_migration 1:*qemu_migration*\"\nlog_outputs = \"1:file:{}/log/libvirtd.log\"\n",
                self.addr,
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("etc/qemu.conf"),
            format!(
                "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nremember_owner = 0\nsecurity_driver = \"none\"\nstdio_handler = \"file\"\nnamespaces = [ ]\ncgroup_controllers = [ ]\nvnc_listen = \"127.0.0.1\"\nmigration_address = \"{a}\"\nmigration_host = \"{a}\"\n",
                a = self.addr
            ),
        )
        .unwrap();
        let script = format!(
            "set -e; mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; \
             mount --bind {d}/etc /etc/libvirt; mount --bind {d}/run /run/libvirt; mount --bind {d}/lib /var/lib/libvirt; \
             mount --bind {d}/cache /var/cache/libvirt; mount --bind {d}/log /var/log/libvirt; \
             exec libvirtd --listen --daemon --pid-file {d}/libvirtd.pid",
            d = d.display()
        );
        run(Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns))
            .args([
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ]));
        let sock = d.join("run/libvirt-sock");
        let t = Instant::now();
        loop {
            let alive = self
                .pid()
                .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if sock.exists() && alive {
                break;
            }
            if t.elapsed() > Duration::from_secs(30)
                || (t.elapsed() > Duration::from_secs(2) && !alive)
            {
                let log = std::fs::read_to_string(d.join("log/libvirtd.log")).unwrap_or_default();
                let errors: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("error") && !l.contains("ethtool") && !l.contains("dmi"))
                    .collect();
                panic!(
                    "libvirtd in {} did not start:\n{}",
                    self.ns,
                    errors.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("libvirtd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Namespaces, daemons and guests; all torn down on drop, even on panic.
struct Lab {
    dir: PathBuf,
    a: Daemon,
    b: Daemon,
}

impl Lab {
    fn new(dir: &Path) -> Lab {
        let id = std::process::id();
        let a = Daemon {
            ns: format!("tpvirt{id}a"),
            addr: format!("{SUBNET}.1"),
            dir: dir.join("host-a"),
        };
        let b = Daemon {
            ns: format!("tpvirt{id}b"),
            addr: format!("{SUBNET}.2"),
            dir: dir.join("host-b"),
        };
        let lab = Lab {
            dir: dir.to_path_buf(),
            a,
            b,
        };
        // Two namespaces, a bridge in each, joined by a veth pair created
        // directly inside them (nothing is added to the root namespace).
        sh(&format!(
            "ip netns add {na}; ip netns add {nb}; \
             ip link add name tpva netns {na} type veth peer name tpvb netns {nb}; \
             for ns in {na} {nb}; do ip -n $ns link set lo up; ip -n $ns link add br0 type bridge; \
               ip -n $ns link set br0 type bridge stp_state 0 forward_delay 0; ip -n $ns link set br0 up; done; \
             ip -n {na} link set tpva master br0; ip -n {na} link set tpva up; ip -n {na} addr add {aa}/24 dev br0; \
             ip -n {nb} link set tpvb master br0; ip -n {nb} link set tpvb up; ip -n {nb} addr add {ab}/24 dev br0",
            na = lab.a.ns,
            nb = lab.b.ns,
            aa = lab.a.addr,
            ab = lab.b.addr
        ));
        lab
    }

    /// `tpvirt ARGS` inside namespace `ns` (or the root namespace for
    /// unix-socket-only commands when `ns` is None).
    fn tpvirt(&self, ns: Option<&Daemon>, args: &[&str]) -> Output {
        output_within(&mut self.tpvirt_cmd(ns, args), STEP_LIMIT)
    }

    fn tpvirt_cmd(&self, ns: Option<&Daemon>, args: &[&str]) -> Command {
        let bin = env!("CARGO_BIN_EXE_tpvirt");
        let mut c = match ns {
            Some(d) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &d.ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        c.args(args).env_remove("LIBVIRT_DEFAULT_URI");
        c
    }

    fn ok(&self, ns: Option<&Daemon>, args: &[&str]) -> String {
        let o = self.tpvirt(ns, args);
        assert!(
            o.status.success(),
            "tpvirt {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn json(&self, ns: Option<&Daemon>, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(ns, &a)).unwrap()
    }

    fn virsh(&self, d: &Daemon, args: &str) {
        sh(&format!("virsh -q -c '{}' {args}", d.uri()));
    }

    /// Waits until http://IP/ answers, asking from inside namespace A.
    fn wait_http(&self, ip: &str, secs: u64) {
        let url = format!("http://{ip}/cgi-bin/heure");
        let t = Instant::now();
        loop {
            let o = self.tpvirt(
                Some(&self.a),
                &["watch", &url, "--count", "1", "--timeout", "1s"],
            );
            if o.status.success() {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "{url} did not answer within {secs} s; serial logs in {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `tpvirt watch` in the background in namespace A.
    fn watch_bg(&self, ip: &str, every: &str, for_: &str) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.a.ns,
                env!("CARGO_BIN_EXE_tpvirt"),
                "--json",
                "watch",
            ])
            .arg(format!("http://{ip}/cgi-bin/heure"))
            .args(["--every", every, "--for", for_, "--timeout", "10s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn watch_result(c: Child) -> Value {
    let o = c.wait_with_output().unwrap();
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("watch output: {e}: {}", String::from_utf8_lossy(&o.stderr)))
}

impl Drop for Lab {
    fn drop(&mut self) {
        // QEMU processes started by our daemons: found by our directory in
        // their command line, killed by pid.
        let marker = self.dir.display().to_string();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if cmd.starts_with("/usr/bin/qemu-system") && cmd.contains(&marker) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        for d in [&self.a, &self.b] {
            if let Some(pid) = d.pid() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        for d in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", &d.ns]).status();
        }
    }
}

fn domain_xml(name: &str, disk: &Path, mac: &str, log: &Path) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>160</memory>
  <currentMemory unit='MiB'>128</currentMemory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='{mac}'/>
      <source network='lab'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><log file='{log}' append='on'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
",
        disk = disk.display(),
        log = log.display()
    )
}

/// `tpvirt console` with a command typed in, then Ctrl-]; returns what it printed.
fn console_roundtrip(uri: &str, name: &str, typed: &str) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .args(["-c", uri, "console", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    stdin.write_all(typed.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    stdin.write_all(&[0x1d]).unwrap();
    let t = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(15) {
            let _ = c.kill();
            panic!("tpvirt console did not leave on Ctrl-]");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "console: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn info_until(
    lab: &Lab,
    uri: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let t = Instant::now();
    loop {
        let v = lab.json(None, &["-c", uri, "info", name]);
        if pred(&v) {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{name}: {what} not reached: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn lab_sequence_on_real_qemu_with_live_migration() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP e2e_virt: {why}");
        return;
    }
    let _ = t0();
    // libvirt's QEMU driver resolves its built-in default user before it
    // reads qemu.conf: the account libvirt-daemon-system would create.
    if Command::new("id")
        .arg("libvirt-qemu")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        step("creating system user libvirt-qemu (libvirtd's QEMU driver needs it to exist)");
        run(Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "libvirt-qemu",
        ]));
    }
    let tmp = tempfile::Builder::new()
        .prefix("tpvirt-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let dir = tmp.path().to_path_buf();
    // TPVIRT_E2E_KEEP=1 keeps the directory (serial logs, daemon logs) after a failure.
    let _tmp = if std::env::var_os("TPVIRT_E2E_KEEP").is_some() {
        eprintln!("keeping {}", dir.display());
        std::mem::forget(tmp);
        None
    } else {
        Some(tmp)
    };
    step("building the guest (kernel + busybox initramfs on a syslinux FAT disk, as qcow2)");
    let base = build_base(&dir);
    let pool = dir.join("pool");
    std::fs::create_dir_all(&pool).unwrap();

    step("namespaces, bridges and two private libvirtd");
    let lab = Lab::new(&dir);
    lab.a.start("7a7a7a7a-0000-4000-8000-00000000000a");
    lab.b.start("7b7b7b7b-0000-4000-8000-00000000000b");
    let (ua, ub) = (lab.a.uri(), lab.b.uri());
    let net = dir.join("net.xml");
    std::fs::write(
        &net,
        "<network><name>lab</name><forward mode='bridge'/><bridge name='br0'/></network>",
    )
    .unwrap();
    for d in [&lab.a, &lab.b] {
        lab.virsh(d, &format!("net-create {}", net.display()));
    }
    lab.virsh(
        &lab.a,
        &format!("pool-create-as lab dir --target {}", pool.display()),
    );
    let check = lab.json(None, &["-c", &ua, "check"]);
    assert_eq!(check[3]["verdict"], "ok", "{check:#}");

    step("overlay + define + start");
    let web_disk = pool.join("web.qcow2");
    let ov = lab.json(
        None,
        &[
            "disk",
            "overlay",
            base.to_str().unwrap(),
            web_disk.to_str().unwrap(),
        ],
    );
    assert_eq!(ov["backing-filename-format"], "qcow2");
    lab.virsh(&lab.a, "pool-refresh lab");
    let xml = dir.join("web.xml");
    std::fs::write(
        &xml,
        domain_xml("web", &web_disk, MAC_WEB, &dir.join("web-serial.log")),
    )
    .unwrap();
    lab.ok(None, &["-c", &ua, "define", xml.to_str().unwrap()]);
    let l = lab.json(None, &["-c", &ua, "list", "--all"]);
    assert_eq!(
        (l[0]["name"].as_str(), l[0]["state"].as_str()),
        (Some("web"), Some("shut off"))
    );
    lab.ok(None, &["-c", &ua, "start", "web"]);
    lab.wait_http(&ip_of(MAC_WEB), 90);
    step("web answers over HTTP");

    let disp = lab.ok(None, &["-c", &ua, "display", "web"]);
    assert!(disp.trim().starts_with("vnc://127.0.0.1:59"), "{disp}");
    // In namespace A: libvirt 9.0's own ARP source fails ("wrong nlmsg
    // len"), so tpvirt reads the ARP table of the host it runs on.
    let i = lab.json(Some(&lab.a), &["-c", &ua, "info", "web"]);
    assert_eq!(i["state"], "running");
    assert_eq!(i["nics"][0]["mac"], MAC_WEB);
    let chain: Vec<&str> = i["disks"][0]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["filename"].as_str().unwrap())
        .collect();
    assert_eq!(chain, [web_disk.to_str().unwrap(), base.to_str().unwrap()]);
    if std::env::var_os("TPVIRT_E2E_DIAG").is_some() {
        let _ = Command::new("ip").args(["-n", &lab.a.ns, "neigh"]).status();
        let _ = Command::new("virsh")
            .args(["-c", &ua, "domifaddr", "web", "--source", "arp"])
            .status();
        let _ = Command::new("virsh")
            .args(["-c", &ua, "domifaddr", "web", "--source", "lease"])
            .status();
    }
    assert!(
        i["nics"][0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with(&ip_of(MAC_WEB))),
        "{i:#}"
    );

    step("serial console: run a command, leave with Ctrl-]");
    let out = console_roundtrip(&ua, "web", "echo TPV-CONSOLE-$((6*7))\n");
    assert!(out.contains("TPV-CONSOLE-42"), "console output: {out:?}");

    step("suspend 2 s while watch polls");
    let w = lab.watch_bg(&ip_of(MAC_WEB), "20ms", "6s");
    std::thread::sleep(Duration::from_millis(1500));
    lab.ok(None, &["-c", &ua, "suspend", "web"]);
    assert_eq!(
        lab.json(None, &["-c", &ua, "info", "web"])["state"],
        "paused"
    );
    std::thread::sleep(Duration::from_secs(2));
    lab.ok(None, &["-c", &ua, "resume", "web"]);
    let r = watch_result(w);
    eprintln!("watch during suspend: {r}");
    let gap = r["longest_gap_ms"].as_f64().unwrap();
    assert!((1800.0..5000.0).contains(&gap), "gap {gap}: {r:#}");
    assert!(r["ok"].as_u64().unwrap() > 10, "{r:#}");

    step("setmem 96M live");
    lab.ok(None, &["-c", &ua, "setmem", "web", "96M", "--live"]);
    info_until(&lab, &ua, "web", "memory 96 MiB", |v| {
        v["memory_kib"] == 98304
    });
    let e = lab.tpvirt(None, &["-c", &ua, "setmem", "web", "1G"]);
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("maximum of 163840 KiB"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );

    step("snapshot create / list / revert / delete");
    let s = lab.json(None, &["-c", &ua, "snapshot", "create", "web", "s1"]);
    assert_eq!(s["state"], "running");
    let l = lab.json(None, &["-c", &ua, "snapshot", "list", "web"]);
    assert_eq!(l.as_array().unwrap().len(), 1);
    lab.ok(None, &["-c", &ua, "snapshot", "revert", "web", "s1"]);
    assert_eq!(
        lab.json(None, &["-c", &ua, "snapshot", "current", "web"])["name"],
        "s1"
    );
    lab.wait_http(&ip_of(MAC_WEB), 30);
    lab.ok(None, &["-c", &ua, "snapshot", "delete", "web", "s1"]);
    assert_eq!(
        lab.tpvirt(None, &["-c", &ua, "snapshot", "list", "web"])
            .status
            .code(),
        Some(1)
    );

    step("setvcpus 2 live (hot-add; never removed: TCG times out on unplug)");
    lab.ok(None, &["-c", &ua, "setvcpus", "web", "2", "--live"]);
    info_until(&lab, &ua, "web", "2 vCPUs", |v| v["vcpus"] == 2);

    step("backup (suspend, copy, resume)");
    let bdir = dir.join("backup");
    std::fs::create_dir_all(&bdir).unwrap();
    let b = lab.json(None, &["-c", &ua, "backup", "web", bdir.to_str().unwrap()]);
    assert_eq!(b["was_running"], true);
    let saved = b["disks"][0]["backup"].as_str().unwrap().to_string();
    let bi = lab.json(None, &["disk", "info", &saved]);
    assert_eq!(bi[0]["format"], "qcow2");
    assert_eq!(bi[1]["filename"], base.to_str().unwrap());
    eprintln!("backup froze the guest for {} ms", b["frozen_ms"]);
    assert_eq!(
        lab.json(None, &["-c", &ua, "info", "web"])["state"],
        "running"
    );
    lab.wait_http(&ip_of(MAC_WEB), 10);

    step("shutdown (ACPI)");
    let sd = lab.json(None, &["-c", &ua, "shutdown", "web", "--wait", "60"]);
    assert_eq!(sd["state"], "shut off");

    step("clones: full and linked, both boot");
    let c = lab.json(
        None,
        &[
            "-c",
            &ua,
            "clone",
            "--original",
            "web",
            "--name",
            "web-full",
            "--mac",
            MAC_FULL,
        ],
    );
    assert_eq!(c["disks"][0]["how"], "copy");
    let orig_uuid = lab.json(None, &["-c", &ua, "info", "web"])["uuid"].clone();
    assert_ne!(c["uuid"], orig_uuid);
    let c = lab.json(
        None,
        &[
            "-c",
            &ua,
            "clone",
            "--original",
            "web",
            "--name",
            "web-linked",
            "--linked",
            "--mac",
            MAC_LINKED,
        ],
    );
    assert_eq!(c["disks"][0]["how"], "overlay");
    let linked_disk = c["disks"][0]["to"].as_str().unwrap().to_string();
    let li = lab.json(None, &["disk", "info", &linked_disk]);
    assert_eq!(li[1]["filename"], web_disk.to_str().unwrap());
    for (n, mac) in [("web-full", MAC_FULL), ("web-linked", MAC_LINKED)] {
        lab.ok(None, &["-c", &ua, "start", n]);
        lab.wait_http(&ip_of(mac), 90);
        lab.ok(None, &["-c", &ua, "destroy", n]);
    }

    step("overlay + import + boot");
    let imp = pool.join("imported.qcow2");
    lab.ok(
        None,
        &[
            "disk",
            "overlay",
            base.to_str().unwrap(),
            imp.to_str().unwrap(),
        ],
    );
    let r = lab.json(
        None,
        &[
            "-c",
            &ua,
            "import",
            "imported",
            imp.to_str().unwrap(),
            "--memory",
            "128M",
            "--network",
            "lab",
            "--virt-type",
            "qemu",
            "--mac",
            MAC_IMPORT,
        ],
    );
    assert_eq!(r["format"], "qcow2");
    lab.ok(None, &["-c", &ua, "start", "imported"]);
    lab.wait_http(&ip_of(MAC_IMPORT), 90);
    lab.ok(None, &["-c", &ua, "destroy", "imported"]);

    step("live migration A -> B while watch polls");
    lab.ok(None, &["-c", &ua, "start", "web"]);
    lab.wait_http(&ip_of(MAC_WEB), 90);
    // No job yet: the real daemon answers with no parameter array at all,
    // which virt 0.5's Domain::job_stats aborted on (CI, 2026-11-29).
    let o = lab.tpvirt(None, &["-c", &ua, "--json", "job", "web"]);
    let j: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("job: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(
        (o.status.code(), &j["kind"]),
        (Some(1), &Value::from("none")),
        "{j}"
    );
    let w = lab.watch_bg(&ip_of(MAC_WEB), "20ms", "20s");
    std::thread::sleep(Duration::from_secs(2));
    let dest = lab.b.tcp_uri();
    // Text mode: progress (data remaining) on stderr, downtime on stdout.
    let margs = [
        "-c",
        &ua,
        "migrate",
        "--live",
        "--unsafe",
        "--persistent",
        "--undefinesource",
        "web",
        &dest,
    ];
    // On an overloaded machine a migration was once seen to stay in
    // libvirt's prepare phase for good: abort that job and try once more,
    // so that the test measures tpvirt rather than the machine's load.
    // TPLAB_E2E_MIGRATION_LIMIT=2 exercises this recovery on any machine.
    let limit: u64 = std::env::var("TPLAB_E2E_MIGRATION_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let o = match try_output_within(
        &mut lab.tpvirt_cmd(Some(&lab.a), &margs),
        Duration::from_secs(limit),
    ) {
        Ok(o) => o,
        Err(err) => {
            step(&format!(
                "migration not done after {limit} s, aborting the job and retrying once:\n{}",
                tail_lines(&err, 20)
            ));
            // What each side was doing, for the record.
            for (side, d) in [("A", &lab.a), ("B", &lab.b)] {
                for f in ["log/libvirtd.log", "log/qemu/web.log"] {
                    let text = std::fs::read_to_string(d.dir.join(f)).unwrap_or_default();
                    // Without the errors this sandbox always logs.
                    let noise = [
                        "virNetDevSendEthtoolIoctl",
                        "virArpTableGet",
                        "virCgroupDetectControllers",
                    ];
                    let text: Vec<&str> = text
                        .lines()
                        .filter(|l| !noise.iter().any(|n| l.contains(n)))
                        .collect();
                    eprintln!(
                        "--- {side}: {f} (end)\n{}",
                        tail_lines(&text.join("\n"), 25)
                    );
                }
            }
            let _ = Command::new("virsh")
                .args(["-c", &ua, "domjobabort", "web"])
                .status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = Command::new("virsh")
                .args(["-c", &ub, "destroy", "web"])
                .status();
            lab.tpvirt(Some(&lab.a), &margs)
        }
    };
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    eprintln!("migration:\n{err}{out}");
    assert!(o.status.success(), "{err}");
    assert!(err.contains("migrating:"), "no progress shown: {err}");
    assert!(
        out.contains("migrated to qemu+tcp://10.88.0.2/system") && out.contains(" ms"),
        "{out}"
    );
    let r = watch_result(w);
    eprintln!("watch during migration: {r}");
    let lb = lab.json(None, &["-c", &ub, "list"]);
    assert_eq!(lb[0]["name"], "web", "{lb:#}");
    assert!(lab
        .json(None, &["-c", &ua, "list", "--all"])
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["name"] != "web"));
    assert!(r["ok"].as_u64().unwrap() > 50, "{r:#}");
    assert!(
        r["longest_gap_ms"].as_f64().unwrap() < 5000.0,
        "service interrupted too long: {r:#}"
    );
    // The guest answers from B (through the bridges).
    lab.wait_http(&ip_of(MAC_WEB), 10);
    // B keeps the incoming migration's statistics: the downtime tpvirt printed.
    let j = lab.json(None, &["-c", &ub, "job", "web", "--completed"]);
    assert_eq!(j["kind"], "completed", "{j}");
    assert_eq!(j["operation"], "migration-in", "{j}");
    assert!(j["downtime_ms"].as_u64().is_some(), "{j}");

    step("and back B -> A peer-to-peer, tunnelled through the daemons");
    let back = lab.a.tcp_uri();
    let m = lab.json(
        Some(&lab.b),
        &[
            "-c",
            &ub,
            "migrate",
            "--live",
            "--p2p",
            "--tunnelled",
            "--unsafe",
            "--persistent",
            "--undefinesource",
            "web",
            &back,
        ],
    );
    eprintln!("migration back: {m}");
    assert_eq!(lab.json(None, &["-c", &ua, "list"])[0]["name"], "web");
    let o = lab.tpvirt(None, &["-c", &ub, "--json", "list", "--all"]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).trim()),
        (Some(1), "[]"),
        "B lists nothing (exit 1)"
    );
    assert!(
        m["downtime_ms"].as_u64().is_some(),
        "downtime read from the destination: {m}"
    );
    lab.wait_http(&ip_of(MAC_WEB), 10);

    step("backup by external disk-only snapshot");
    let bdir2 = dir.join("backup-ext");
    std::fs::create_dir_all(&bdir2).unwrap();
    let b = lab.json(
        None,
        &[
            "-c",
            &ua,
            "backup",
            "web",
            bdir2.to_str().unwrap(),
            "--method",
            "external",
        ],
    );
    eprintln!("external backup froze the guest for {} ms", b["frozen_ms"]);
    assert_eq!(b["disks"][0]["backup"], web_disk.to_str().unwrap());
    let top = b["disks"][0]["written"].as_str().unwrap().to_string();
    let chain = lab.json(None, &["disk", "info", &top]);
    let names: Vec<&str> = chain
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            top.as_str(),
            web_disk.to_str().unwrap(),
            base.to_str().unwrap()
        ]
    );
    let i = lab.json(None, &["-c", &ua, "info", "web"]);
    assert_eq!(i["disks"][0]["source"], top.as_str());
    lab.wait_http(&ip_of(MAC_WEB), 10);
    #[cfg(feature = "console")]
    web_console(&lab, &ua, &ub);
    let _ = std::io::stderr().flush();
    step("done");
}

/// The web console on the real guest: `tplab serve` on both hosts in
/// namespace A (as nobody), driven in Chromium by web/tests/guest.mjs.
#[cfg(feature = "console")]
fn web_console(lab: &Lab, ua: &str, ub: &str) {
    use std::io::BufRead;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !Path::new("/usr/bin/chromium").exists()
        || !root.join("web/node_modules/playwright-core").exists()
    {
        eprintln!("SKIP e2e_virt web console: needs /usr/bin/chromium and web/node_modules (cargo xtask test installs both)");
        return;
    }
    step("web console: serial and graphical consoles, usage, watch, migration from the page");
    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut serve = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.a.ns,
            env!("CARGO_BIN_EXE_tplab"),
            "serve",
        ])
        .args([
            "-c",
            ua,
            "-c",
            ub,
            "--listen",
            "127.0.0.1:0",
            "--user",
            "nobody",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(shots.join("tplab-serve.txt")).unwrap())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let o = output_within(
        Command::new("ip")
            .args(["netns", "exec", &lab.a.ns, "node", "tests/guest.mjs"])
            .current_dir(root.join("web"))
            .env("TPLAB_URL", url.trim())
            .env("GUEST_IP", ip_of(MAC_WEB))
            .env("BOOT_DOMAIN", "imported")
            .env("BOOT_IP", ip_of(MAC_IMPORT))
            .env("SHOTS", root.join("target/screenshots")),
        Duration::from_secs(400),
    );
    let _ = serve.kill();
    let _ = serve.wait();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    eprintln!("{out}{err}");
    // Kept beside the screenshots: the figures the script prints.
    let _ = std::fs::write(
        root.join("target/screenshots/guest.mjs.txt"),
        format!("{out}{err}"),
    );
    assert!(
        o.status.success() && out.contains("guest: every step checked"),
        "web/tests/guest.mjs failed"
    );
    // The page migrated the guest to B: tpvirt agrees.
    assert_eq!(lab.json(None, &["-c", ub, "list"])[0]["name"], "web");
}
