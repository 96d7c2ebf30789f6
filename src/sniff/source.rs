//! Packets from libpcap: capture files (pcap and pcapng) now, live
//! handles later. The only module that knows about pcap types.

use std::io;
use std::path::{Path, PathBuf};

use pcap::{Capture, Offline};

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
}

/// A capture file being read.
pub struct FileSource {
    cap: Capture<Offline>,
    linktype: i32,
    path: PathBuf,
    /// Packets returned so far.
    packets: u64,
}

impl FileSource {
    /// Opens a pcap or pcapng file, with an optional BPF filter.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<Self, SourceError> {
        let mut cap = Capture::from_file(path).map_err(|e| SourceError::Open {
            path: path.into(),
            msg: e.to_string(),
        })?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|e| SourceError::Filter {
                path: path.into(),
                filter: f.into(),
                msg: e.to_string(),
            })?;
        }
        let linktype = cap.get_datalink().0;
        Ok(FileSource {
            cap,
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
        match self.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                #[allow(clippy::unnecessary_cast)] // time_t and suseconds_t differ by platform
                let ts = p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64;
                Ok(Some((ts, p.data)))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(SourceError::Read {
                path: self.path.clone(),
                packet: self.packets + 1,
                msg: e.to_string(),
            }),
        }
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
