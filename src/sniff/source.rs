//! Packets from libpcap: capture files (pcap and pcapng) and live
//! interfaces (immediate mode, full snap length, optional savefile). The
//! only module that knows about pcap types; it also holds the privilege
//! drop that follows opening a live capture.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Offline, Savefile};

use super::finding::Finding;
use super::link::LinkType;
use super::Sniffer;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: cannot open: {msg}", path.display())]
    Open { path: PathBuf, msg: String },
    #[error("{}: bad filter {filter:?}: {msg}", path.display())]
    Filter {
        path: PathBuf,
        filter: String,
        msg: String,
    },
    #[error("{}: packet {packet}: unsupported link type {linktype} ({name})", path.display())]
    LinkType {
        path: PathBuf,
        packet: u64,
        linktype: i32,
        name: String,
    },
    #[error("{}: packet {packet}: {msg}", path.display())]
    Read {
        path: PathBuf,
        packet: u64,
        msg: String,
    },
    #[error("writing output")]
    Output(#[source] io::Error),
    #[error("no interface named {name:?}; the interfaces here are: {}", known.join(", "))]
    UnknownInterface { name: String, known: Vec<String> },
    #[error("{iface}: no permission to capture ({msg}); run as root, or give the binary the capture capabilities: sudo setcap cap_net_raw,cap_net_admin=eip {exe}")]
    Permission {
        iface: String,
        msg: String,
        exe: String,
    },
    #[error("{iface}: cannot capture: {msg}")]
    Live { iface: String, msg: String },
    #[error("{iface}: packet {packet}: {msg}")]
    LiveRead {
        iface: String,
        packet: u64,
        msg: String,
    },
    #[error("{}: cannot write the capture: {msg}", path.display())]
    Save { path: PathBuf, msg: String },
    #[error("listing interfaces: {0}")]
    List(String),
    #[error("dropping privileges: {0}")]
    Privileges(String),
}

/// A capture file being read: classic pcap files without a BPF filter are
/// memory-mapped and walked in place (no read(2) copies, no per-packet
/// copy: twice as fast as libpcap's stdio reads on a 1 GiB file); pcapng,
/// filters and anything unusual go through libpcap.
pub struct FileSource {
    reader: Reader,
    linktype: i32,
    path: PathBuf,
    /// Packets returned so far.
    packets: u64,
}

enum Reader {
    Pcap(Capture<Offline>),
    Mapped(Mapped),
}

/// A classic pcap file in memory: its records walked in place.
struct Mapped {
    /// Shared by the readers of one file (see [`FileSource::again`]).
    map: std::sync::Arc<memmap2::Mmap>,
    /// Offset of the next record header.
    off: usize,
    swapped: bool,
    nanos: bool,
}

impl Mapped {
    /// `Ok(None)` when the file is not a classic pcap file (pcapng, empty,
    /// not mappable): libpcap then decides.
    fn open(path: &Path) -> io::Result<Option<(Mapped, i32)>> {
        use std::io::Read as _;
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let mut magic = [0u8; 4];
        if len < 24 || f.read_exact(&mut magic).is_err() {
            return Ok(None);
        }
        if ![0xa1b2_c3d4u32, 0xa1b2_3c4d, 0xd4c3_b2a1, 0x4d3c_b2a1]
            .contains(&u32::from_le_bytes(magic))
        {
            return Ok(None); // pcapng or something libpcap will name
        }
        let mut opts = memmap2::MmapOptions::new();
        // Mapping every page at once beats faulting them in one by one
        // (about 10 % of the run); not for files that may not fit in memory.
        if len <= 4 << 30 {
            opts.populate();
        }
        // SAFETY: the map is read-only; a file truncated under us while we
        // read it could fault, as with any mmap reader (ripgrep takes the
        // same risk); capture files are not rewritten in place.
        let Ok(map) = (unsafe { opts.map(&f) }) else {
            return Ok(None);
        };
        let _ = map.advise(memmap2::Advice::Sequential);
        let magic = u32::from_le_bytes(map[0..4].try_into().expect("4 bytes"));
        let (swapped, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return Ok(None),
        };
        let m = Mapped {
            map: std::sync::Arc::new(map),
            off: 24,
            swapped,
            nanos,
        };
        // LT_LINKTYPE: the low 26 bits (the rest is FCS information).
        let linktype = (m.u32_at(20) & 0x03ff_ffff) as i32;
        Ok(Some((m, linktype)))
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b: [u8; 4] = self.map[at..at + 4].try_into().expect("4 bytes");
        if self.swapped {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// The next record: (µs since the epoch, bytes), `None` at the end.
    fn next(&mut self) -> Result<Option<(i64, &[u8])>, String> {
        let len = self.map.len();
        if self.off == len {
            return Ok(None);
        }
        if len - self.off < 16 {
            return Err(format!(
                "truncated dump file; tried to read 16 header bytes, only got {}",
                len - self.off
            ));
        }
        let sec = self.u32_at(self.off) as i64;
        let frac = self.u32_at(self.off + 4) as i64;
        let caplen = self.u32_at(self.off + 8) as usize;
        if caplen > 0x1000_0000 {
            return Err(format!(
                "invalid packet capture length {caplen}, bigger than 256 MiB"
            ));
        }
        let data = self.off + 16;
        if len - data < caplen {
            return Err(format!(
                "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                len - data
            ));
        }
        self.off = data + caplen;
        let ts = sec * 1_000_000 + if self.nanos { frac / 1000 } else { frac };
        Ok(Some((ts, &self.map[data..data + caplen])))
    }
}

impl FileSource {
    /// Opens a pcap or pcapng file, with an optional BPF filter.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<Self, SourceError> {
        let open_err = |msg: String| SourceError::Open {
            path: path.into(),
            msg,
        };
        if filter.is_none() {
            if let Some((m, linktype)) = Mapped::open(path).map_err(|e| open_err(e.to_string()))? {
                return Ok(FileSource {
                    reader: Reader::Mapped(m),
                    linktype,
                    path: path.into(),
                    packets: 0,
                });
            }
        }
        let mut cap = Capture::from_file(path).map_err(|e| open_err(e.to_string()))?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|e| SourceError::Filter {
                path: path.into(),
                filter: f.into(),
                msg: e.to_string(),
            })?;
        }
        let linktype = cap.get_datalink().0;
        Ok(FileSource {
            reader: Reader::Pcap(cap),
            linktype,
            path: path.into(),
            packets: 0,
        })
    }

    /// The file's link type, or the error naming the file and packet 1.
    pub fn link(&self) -> Result<LinkType, SourceError> {
        LinkType::from_pcap(self.linktype).ok_or_else(|| SourceError::LinkType {
            path: self.path.clone(),
            packet: self.packets + 1,
            linktype: self.linktype,
            name: pcap::Linktype(self.linktype)
                .get_name()
                .unwrap_or_else(|_| "unknown".into()),
        })
    }

    /// The next packet: (µs since the epoch, bytes), `None` at the end.
    pub fn next_packet(&mut self) -> Result<Option<(i64, &[u8])>, SourceError> {
        let read_err = |packets: u64, path: &Path, msg: String| SourceError::Read {
            path: path.into(),
            packet: packets + 1,
            msg,
        };
        match &mut self.reader {
            Reader::Mapped(m) => match m.next() {
                Ok(Some(p)) => {
                    self.packets += 1;
                    Ok(Some(p))
                }
                Ok(None) => Ok(None),
                Err(msg) => Err(read_err(self.packets, &self.path, msg)),
            },
            Reader::Pcap(cap) => match cap.next_packet() {
                Ok(p) => {
                    self.packets += 1;
                    #[allow(clippy::unnecessary_cast)] // time_t and suseconds_t differ by platform
                    let ts = p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64;
                    Ok(Some((ts, p.data)))
                }
                Err(pcap::Error::NoMorePackets) => Ok(None),
                Err(e) => Err(read_err(self.packets, &self.path, e.to_string())),
            },
        }
    }

    /// Another reader of the same mapped file, from its first packet (one
    /// mapping: its pages are counted once); `None` when read by libpcap.
    pub fn again(&self) -> Option<FileSource> {
        let Reader::Mapped(m) = &self.reader else {
            return None;
        };
        Some(FileSource {
            reader: Reader::Mapped(Mapped {
                map: m.map.clone(),
                off: 24,
                swapped: m.swapped,
                nanos: m.nanos,
            }),
            linktype: self.linktype,
            path: self.path.clone(),
            packets: 0,
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }
}

/// Feeds a whole file to the sniffer, handing each finding to `sink` as it
/// is found (the flows still open at the end are flushed too). On a read
/// error the findings up to that packet have been handed over already.
pub fn read_file(
    path: &Path,
    filter: Option<&str>,
    sniffer: &mut Sniffer,
    mut sink: impl FnMut(&Finding) -> io::Result<()>,
) -> Result<(), SourceError> {
    let mut src = FileSource::open(path, filter)?;
    let result = (|| {
        let link = src.link()?;
        while let Some((ts, data)) = src.next_packet()? {
            for f in sniffer.feed(link, ts, data) {
                sink(&f).map_err(SourceError::Output)?;
            }
        }
        Ok(())
    })();
    if let Err(SourceError::Output(e)) = result {
        return Err(SourceError::Output(e));
    }
    for f in sniffer.finish() {
        sink(&f).map_err(SourceError::Output)?;
    }
    result
}

/// One network interface as libpcap lists it.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub description: Option<String>,
    /// `up`, `running`, `loopback`, `wireless`.
    pub flags: Vec<&'static str>,
    pub addresses: Vec<String>,
}

/// The interfaces libpcap can capture on (in this network namespace).
pub fn interfaces() -> Result<Vec<Interface>, SourceError> {
    let devs = pcap::Device::list().map_err(|e| SourceError::List(e.to_string()))?;
    Ok(devs
        .into_iter()
        .map(|d| {
            let mut flags = Vec::new();
            if d.flags.is_up() {
                flags.push("up");
            }
            if d.flags.is_running() {
                flags.push("running");
            }
            if d.flags.is_loopback() {
                flags.push("loopback");
            }
            if d.flags.is_wireless() {
                flags.push("wireless");
            }
            Interface {
                name: d.name,
                description: d.desc,
                flags,
                addresses: d.addresses.iter().map(|a| a.addr.to_string()).collect(),
            }
        })
        .collect())
}

/// How to open a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub iface: String,
    pub promisc: bool,
    pub filter: Option<String>,
    /// Bytes kept of each packet (262144: whole packets, also with offload).
    pub snaplen: i32,
    /// Kernel ring buffer in bytes.
    pub buffer_size: i32,
    /// Also save every captured packet to this pcap file.
    pub write: Option<PathBuf>,
}

impl LiveOptions {
    pub fn new(iface: &str) -> Self {
        LiveOptions {
            iface: iface.into(),
            promisc: false,
            filter: None,
            snaplen: 262_144,
            buffer_size: 32 << 20,
            write: None,
        }
    }
}

/// What the kernel says about a live capture (libpcap's `pcap_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the kernel handed to the capture socket (drops included on Linux).
    pub received: u32,
    /// Dropped because the capture's buffer was full.
    pub dropped: u32,
    /// Dropped by the interface or its driver.
    pub if_dropped: u32,
}

/// A live capture handle, opened and active.
pub struct LiveSource {
    cap: Capture<Active>,
    save: Option<Savefile>,
    save_path: Option<PathBuf>,
    linktype: i32,
    iface: String,
    packets: u64,
}

/// The path of the running binary, for the setcap hint.
fn exe_name() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tpsniff".into())
}

fn is_permission_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("permission") || m.contains("not permitted")
}

impl LiveSource {
    /// Opens `opts.iface` for capture: immediate mode (each packet as it
    /// arrives), non-blocking, then the filter and the savefile.
    pub fn open(opts: &LiveOptions) -> Result<Self, SourceError> {
        let iface = opts.iface.clone();
        // An unknown name: say which ones exist (listing needs no privilege).
        if let Ok(list) = interfaces() {
            if !list.iter().any(|i| i.name == iface) {
                return Err(SourceError::UnknownInterface {
                    name: iface,
                    known: list.into_iter().map(|i| i.name).collect(),
                });
            }
        }
        let live_err = |e: pcap::Error| {
            let msg = e.to_string();
            if is_permission_error(&msg) {
                SourceError::Permission {
                    iface: iface.clone(),
                    msg,
                    exe: exe_name(),
                }
            } else {
                SourceError::Live {
                    iface: iface.clone(),
                    msg,
                }
            }
        };
        let mut cap = Capture::from_device(iface.as_str())
            .map_err(live_err)?
            .promisc(opts.promisc)
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_size)
            .immediate_mode(true)
            .open()
            .map_err(live_err)?
            // Never block inside libpcap: `capture_live` waits with poll(2),
            // which a signal interrupts, so a stop request is seen at once.
            .setnonblock()
            .map_err(live_err)?;
        if let Some(f) = &opts.filter {
            cap.filter(f, true).map_err(|e| SourceError::Filter {
                path: iface.clone().into(),
                filter: f.clone(),
                msg: e.to_string(),
            })?;
        }
        let save = match &opts.write {
            Some(p) => Some(cap.savefile(p).map_err(|e| SourceError::Save {
                path: p.clone(),
                msg: e.to_string(),
            })?),
            None => None,
        };
        let linktype = cap.get_datalink().0;
        Ok(LiveSource {
            cap,
            save,
            save_path: opts.write.clone(),
            linktype,
            iface,
            packets: 0,
        })
    }

    /// The interface's link type (an error for one the engine cannot decode).
    pub fn link(&self) -> Result<LinkType, SourceError> {
        LinkType::from_pcap(self.linktype).ok_or_else(|| SourceError::Live {
            iface: self.iface.clone(),
            msg: format!(
                "unsupported link type {} ({})",
                self.linktype,
                pcap::Linktype(self.linktype)
                    .get_name()
                    .unwrap_or_else(|_| "unknown".into())
            ),
        })
    }

    /// The link type's libpcap name (`EN10MB`, `LINUX_SLL2`, ...).
    pub fn link_name(&self) -> String {
        pcap::Linktype(self.linktype)
            .get_name()
            .unwrap_or_else(|_| self.linktype.to_string())
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Packets captured so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The kernel's counts since the capture was opened.
    pub fn stats(&mut self) -> Result<KernelStats, SourceError> {
        let s = self.cap.stats().map_err(|e| SourceError::Live {
            iface: self.iface.clone(),
            msg: format!("statistics: {e}"),
        })?;
        Ok(KernelStats {
            received: s.received,
            dropped: s.dropped,
            if_dropped: s.if_dropped,
        })
    }

    fn flush_save(&mut self) -> Result<(), SourceError> {
        if let (Some(sf), Some(p)) = (self.save.as_mut(), &self.save_path) {
            sf.flush().map_err(|e| SourceError::Save {
                path: p.clone(),
                msg: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Feeds live packets to the sniffer until `stop` is set (checked after a
/// signal and at least every 100 ms; then the packets already captured are
/// read too), handing each finding to `sink` as it is found, saving
/// each packet when asked; then flushes the flows still open. The savefile
/// is flushed at least once a second and at the end.
pub fn capture_live(
    src: &mut LiveSource,
    sniffer: &mut Sniffer,
    stop: &AtomicBool,
    mut sink: impl FnMut(&Finding) -> io::Result<()>,
) -> Result<(), SourceError> {
    let link = src.link()?;
    let mut last_flush = Instant::now();
    // Once stopped, what the kernel already holds is still read (for at
    // most 200 ms): packets captured before the signal are not lost.
    let mut draining: Option<Instant> = None;
    let result = loop {
        match draining {
            None if stop.load(Ordering::Relaxed) => draining = Some(Instant::now()),
            Some(t) if t.elapsed() > Duration::from_millis(200) => break Ok(()),
            _ => {}
        }
        let LiveSource {
            cap, save, packets, ..
        } = &mut *src;
        match cap.next_packet() {
            Ok(p) => {
                *packets += 1;
                if let Some(sf) = save.as_mut() {
                    sf.write(&p);
                }
                #[allow(clippy::unnecessary_cast)] // time_t and suseconds_t differ by platform
                let ts = p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64;
                let mut out = Ok(());
                for f in sniffer.feed(link, ts, p.data) {
                    if let Err(e) = sink(&f) {
                        out = Err(SourceError::Output(e));
                        break;
                    }
                }
                if let Err(e) = out {
                    break Err(e);
                }
            }
            // Nothing ready: wait for the descriptor (a signal ends the
            // wait early; at most 100 ms so `stop` is looked at again).
            Err(pcap::Error::TimeoutExpired) if draining.is_some() => break Ok(()),
            Err(pcap::Error::TimeoutExpired) => {
                use std::os::unix::io::AsRawFd;
                let mut pfd = libc::pollfd {
                    fd: cap.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; any result (EINTR too) just
                // loops back to next_packet, which reports real errors.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            // pcap_breakloop.
            Err(pcap::Error::NoMorePackets) => break Ok(()),
            Err(e) => {
                break Err(SourceError::LiveRead {
                    iface: src.iface.clone(),
                    packet: src.packets + 1,
                    msg: e.to_string(),
                })
            }
        }
        if src.save.is_some() && last_flush.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = src.flush_save() {
                break Err(e);
            }
            last_flush = Instant::now();
        }
    };
    if let Err(SourceError::Output(e)) = result {
        return Err(SourceError::Output(e));
    }
    let flushed = src.flush_save();
    for f in sniffer.finish() {
        sink(&f).map_err(SourceError::Output)?;
    }
    result.and(flushed)
}

/// After opening the capture: switch to `user` and drop every capability
/// ([`crate::cli::privileges::drop_privileges`]). The open capture and
/// savefile keep working. Returns what was done, for a message.
pub fn drop_privileges(user: Option<&str>) -> Result<String, SourceError> {
    crate::cli::privileges::drop_privileges(user).map_err(|e| SourceError::Privileges(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A big-endian, nanosecond pcap file: read in place, like libpcap would.
    #[test]
    fn mapped_reader_handles_byte_order_nanoseconds_and_truncation() {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
        f.extend_from_slice(&2u16.to_be_bytes());
        f.extend_from_slice(&4u16.to_be_bytes());
        for w in [0u32, 0, 65535, 1] {
            f.extend_from_slice(&w.to_be_bytes());
        }
        for (sec, ns, data) in [
            (10u32, 1_500u32, &b"abc"[..]),
            (11, 999_999_999, &b"de"[..]),
        ] {
            for w in [sec, ns, data.len() as u32, data.len() as u32] {
                f.extend_from_slice(&w.to_be_bytes());
            }
            f.extend_from_slice(data);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("be-ns.pcap");
        std::fs::write(&p, &f).unwrap();
        let mut src = FileSource::open(&p, None).unwrap();
        assert!(matches!(src.reader, Reader::Mapped(_)));
        assert_eq!(src.link().unwrap(), LinkType::Ethernet);
        assert_eq!(src.next_packet().unwrap(), Some((10_000_001, &b"abc"[..])));
        assert_eq!(src.next_packet().unwrap(), Some((11_999_999, &b"de"[..])));
        assert_eq!(src.next_packet().unwrap(), None);
        // Cut inside the second record's data: packet 2 is named.
        std::fs::write(&p, &f[..f.len() - 1]).unwrap();
        let mut src = FileSource::open(&p, None).unwrap();
        assert!(src.next_packet().unwrap().is_some());
        let e = src.next_packet().unwrap_err().to_string();
        assert!(e.contains("be-ns.pcap: packet 2: truncated"), "{e}");
        // With a filter, libpcap reads it: the same packets.
        std::fs::write(&p, &f).unwrap();
        let mut src = FileSource::open(&p, Some("")).unwrap();
        assert!(matches!(src.reader, Reader::Pcap(_)));
        assert_eq!(src.next_packet().unwrap(), Some((10_000_001, &b"abc"[..])));
    }
}
