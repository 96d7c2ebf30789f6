//! Input: files (memory-mapped), `.gz` files (decompressed as a stream),
//! stdin (mapped when it is a regular file, streamed when it is a pipe),
//! cut into newline-aligned chunks.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, Sender};

use memmap2::Mmap;

/// Where lines come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSpec {
    Path(PathBuf),
    Stdin,
}

impl InputSpec {
    /// `-` is stdin.
    pub fn from_arg(p: &Path) -> InputSpec {
        if p.as_os_str() == "-" {
            InputSpec::Stdin
        } else {
            InputSpec::Path(p.to_path_buf())
        }
    }
}

impl fmt::Display for InputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSpec::Path(p) => write!(f, "{}", p.display()),
            InputSpec::Stdin => f.write_str("(standard input)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: cannot open: {source}")]
    Open { name: String, source: io::Error },
    #[error("{name}: is a directory (give the log files inside it)")]
    IsDir { name: String },
    #[error("{name}: cannot map: {source}")]
    Map { name: String, source: io::Error },
    #[error("{name}: read error after {offset} bytes: {source}")]
    Read {
        name: String,
        offset: u64,
        source: io::Error,
    },
    #[error(
        "{name}: gzip stream is truncated or corrupt after {offset} decompressed bytes: {source}"
    )]
    Gzip {
        name: String,
        offset: u64,
        source: io::Error,
    },
}

/// An opened input.
pub enum Opened {
    /// The whole file, mapped (the page cache is the only copy).
    Mapped(Mmap),
    /// An empty regular file (nothing to map).
    Empty,
    /// Bytes that must be read in order: a pipe, or a `.gz` file.
    Stream {
        reader: Box<dyn Read + Send>,
        gzip: bool,
    },
}

/// The mapped bytes of a `.gz` file, read by the decoder without a copy.
struct MappedReader {
    map: Mmap,
    pos: usize,
}

impl Read for MappedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.map[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

fn is_gzip(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

fn map_file(file: &File, name: &str) -> Result<Opened, InputError> {
    let meta = file.metadata().map_err(|source| InputError::Open {
        name: name.to_string(),
        source,
    })?;
    if meta.is_dir() {
        return Err(InputError::IsDir {
            name: name.to_string(),
        });
    }
    if !meta.is_file() {
        // A pipe or a device: read it as a stream.
        let f = file.try_clone().map_err(|source| InputError::Open {
            name: name.to_string(),
            source,
        })?;
        return Ok(Opened::Stream {
            reader: Box::new(f),
            gzip: false,
        });
    }
    if meta.len() == 0 {
        return Ok(Opened::Empty);
    }
    // SAFETY: the map is read-only; a log that another process truncates
    // while we read it can fault (SIGBUS), the same trade every mmap-based
    // tool (ripgrep, hl) makes for reading at page-cache speed.
    let map = unsafe { Mmap::map(file) }.map_err(|source| InputError::Map {
        name: name.to_string(),
        source,
    })?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    if is_gzip(&map) {
        let inner = MappedReader { map, pos: 0 };
        return Ok(Opened::Stream {
            reader: Box::new(flate2::read::MultiGzDecoder::new(inner)),
            gzip: true,
        });
    }
    Ok(Opened::Mapped(map))
}

/// Opens an input: maps regular files, streams pipes and gzip.
pub fn open(spec: &InputSpec) -> Result<Opened, InputError> {
    let name = spec.to_string();
    match spec {
        InputSpec::Path(p) => {
            let f = File::open(p).map_err(|source| InputError::Open {
                name: name.clone(),
                source,
            })?;
            map_file(&f, &name)
        }
        InputSpec::Stdin => {
            #[cfg(unix)]
            {
                use std::os::fd::AsFd;
                let fd = io::stdin().as_fd().try_clone_to_owned();
                if let Ok(fd) = fd {
                    return map_file(&File::from(fd), &name);
                }
            }
            grow_pipe_buffer();
            Ok(Opened::Stream {
                reader: Box::new(io::stdin()),
                gzip: false,
            })
        }
    }
}

/// When stdin is a pipe, asks for a 1 MiB pipe buffer (the unprivileged
/// maximum by default) instead of 64 KiB: the writer then blocks and
/// wakes up the reader 16 times less often. Measured here with
/// `cat 1GB | reader`: 1.2-1.7 s at 64 KiB, 0.5-0.9 s at 1 MiB. Best
/// effort: a smaller limit or an old kernel leaves the pipe as it was.
fn grow_pipe_buffer() {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // On anything but a pipe fcntl fails (EBADF) and nothing changes.
        // SAFETY: fcntl on our own stdin with an integer argument.
        unsafe { libc::fcntl(io::stdin().as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    }
}

/// Cuts `data` into ranges of about `size` bytes, each ending just after a
/// `\n` (the last one at the end of the data).
pub fn split_chunks(data: &[u8], size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    let mut out = Vec::with_capacity(data.len() / size + 1);
    let mut start = 0;
    while start < data.len() {
        let want = start.saturating_add(size).min(data.len());
        let end = if want >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[want - 1..]).map_or(data.len(), |i| want + i)
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// The longest line a stream (stdin, `.gz`) may hold: the rest of a longer
/// line, up to its newline, is dropped (the line is then reported
/// malformed). Without it one endless line (a few KB of gzip) grows
/// memory without bound. Apache and nginx cap a request line at 8 KB.
pub const MAX_STREAM_LINE: usize = 1 << 20;

/// A stream cut into blocks by [`stream_blocks`].
pub struct Blocks {
    /// The blocks in order, then at most one error.
    pub rx: Receiver<Result<Vec<u8>, InputError>>,
    /// Blocks done with go back here to be filled again: a fresh 1 MiB
    /// buffer costs 256 page faults and its zeroing, more than the read.
    pub give_back: Sender<Vec<u8>>,
}

/// Reads a stream on its own thread into blocks of whole lines (each about
/// `block` bytes; a longer line makes a longer block, up to
/// [`MAX_STREAM_LINE`]). At most `depth` blocks wait in the channel, which
/// bounds memory; buffers handed back through [`Blocks::give_back`] are
/// reused.
pub fn stream_blocks(
    mut reader: Box<dyn Read + Send>,
    name: String,
    gzip: bool,
    block: usize,
    depth: usize,
) -> Blocks {
    let (tx, rx) = sync_channel(depth.max(1));
    let (give_back, returned) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let block = block.max(1);
        // The buffer is zeroed once when made; `filled` says how much of it
        // holds input (zero-filling the spare room before every read cost
        // more than the reads themselves on a pipe's 64 KiB reads).
        let mut buf: Vec<u8> = vec![0; block + 4096];
        let mut filled = 0usize;
        let mut offset = 0u64;
        // How many bytes to gather before looking for the last newline; it
        // grows while one line is longer than a block.
        let mut want = block;
        // In a line longer than MAX_STREAM_LINE: drop bytes up to its newline.
        let mut skipping = false;
        loop {
            let mut eof = false;
            while filled < want {
                if buf.len() - filled < 4096 {
                    buf.resize(want + 4096, 0);
                }
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        offset += n as u64;
                        if !skipping {
                            filled += n;
                        } else if let Some(k) = memchr::memchr(b'\n', &buf[filled..filled + n]) {
                            // The long line ends here: keep from its newline.
                            buf.copy_within(filled + k..filled + n, filled);
                            filled += n - k;
                            skipping = false;
                        }
                        // else: still inside the long line, dropped.
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        buf.truncate(filled);
                        if !buf.is_empty() {
                            let _ = tx.send(Ok(buf));
                        }
                        let err = if gzip {
                            InputError::Gzip {
                                name,
                                offset,
                                source,
                            }
                        } else {
                            InputError::Read {
                                name,
                                offset,
                                source,
                            }
                        };
                        let _ = tx.send(Err(err));
                        return;
                    }
                }
            }
            if eof {
                buf.truncate(filled);
                if !buf.is_empty() {
                    let _ = tx.send(Ok(buf));
                }
                return;
            }
            // Send the whole lines; keep the partial last one.
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => {
                    let tail = filled - (i + 1);
                    let room = (block + 4096).max(tail + 4096);
                    let mut next = match returned.try_recv() {
                        Ok(mut v) => {
                            // Only the part past its old length is zeroed.
                            v.resize(room.max(v.len()), 0);
                            v
                        }
                        Err(_) => vec![0; room],
                    };
                    next[..tail].copy_from_slice(&buf[i + 1..filled]);
                    buf.truncate(i + 1);
                    if tx.send(Ok(std::mem::replace(&mut buf, next))).is_err() {
                        return;
                    }
                    filled = tail;
                    want = block;
                }
                None if filled >= MAX_STREAM_LINE => {
                    filled = MAX_STREAM_LINE;
                    skipping = true;
                    want = MAX_STREAM_LINE + block;
                }
                None => want = filled + block,
            }
        }
    });
    Blocks { rx, give_back }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_newline_aligned_and_cover_everything() {
        let data = b"aa\nbbbb\n\ncc\ndddddd";
        for size in 1..25 {
            let ch = split_chunks(data, size);
            assert_eq!(ch.first().unwrap().start, 0);
            assert_eq!(ch.last().unwrap().end, data.len());
            for w in ch.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(data[w[0].end - 1], b'\n', "size {size}");
            }
        }
        assert!(split_chunks(b"", 4).is_empty());
    }

    fn collect(data: Vec<u8>, block: usize) -> Vec<Vec<u8>> {
        let b = stream_blocks(Box::new(io::Cursor::new(data)), "t".into(), false, block, 2);
        let mut out = Vec::new();
        for (i, r) in b.rx.into_iter().enumerate() {
            let v = r.unwrap();
            // Hand every other block back: reused buffers must not leak
            // old bytes into new blocks.
            if i % 2 == 1 {
                out.push(v.clone());
                let _ = b.give_back.send(v);
            } else {
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn stream_blocks_hold_whole_lines() {
        let data = b"one\ntwo two\nthree three three\nfour\nlast-without-newline".to_vec();
        for block in 1..40 {
            let blocks = collect(data.clone(), block);
            assert_eq!(blocks.concat(), data, "block {block}");
            for b in &blocks[..blocks.len() - 1] {
                assert_eq!(*b.last().unwrap(), b'\n', "block {block}");
            }
        }
    }

    #[test]
    fn an_endless_line_is_cut_and_the_next_lines_still_come() {
        // One 100 MB line from stdin or a .gz used to be
        // held whole (136 MB peak); it is now cut at MAX_STREAM_LINE.
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'a', 3 * MAX_STREAM_LINE + 5));
        data.extend_from_slice(b"\nnext\nlast\n");
        for block in [1000, 4096, 65536, MAX_STREAM_LINE + 7] {
            let blocks = collect(data.clone(), block);
            let all = blocks.concat();
            let lines: Vec<&[u8]> = all.split(|&b| b == b'\n').collect();
            assert_eq!(lines.len(), 5, "block {block}");
            assert_eq!(lines[0], b"first");
            assert_eq!(lines[1].len(), MAX_STREAM_LINE, "block {block}");
            assert_eq!(&lines[2..], [&b"next"[..], b"last", b""]);
            assert!(blocks
                .iter()
                .all(|b| b.len() <= MAX_STREAM_LINE + block + 4096));
        }
    }

    #[test]
    fn truncated_gzip_reports_the_error_after_the_data() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..2000 {
            writeln!(e, "line {i}").unwrap();
        }
        let gz = e.finish().unwrap();
        let cut = gz[..gz.len() / 2].to_vec();
        let rx = stream_blocks(
            Box::new(flate2::read::MultiGzDecoder::new(io::Cursor::new(cut))),
            "x.gz".into(),
            true,
            64,
            2,
        );
        let items: Vec<_> = rx.rx.into_iter().collect();
        let data: Vec<u8> = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flatten()
            .copied()
            .collect();
        assert!(data.starts_with(b"line 0\nline 1\n"));
        let err = items.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(err.starts_with("x.gz: gzip stream is truncated"), "{err}");
    }
}
