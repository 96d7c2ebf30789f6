//! Reading and editing libvirt domain XML without a daemon: the facts
//! tpvirt needs (memory, disks, NICs, graphics) and byte-range edits that
//! keep the rest of the document as libvirt wrote it.

use std::ops::Range;

use roxmltree::{Document, Node};

use super::size::unit_bytes;

pub use roxmltree::Error as XmlError;

/// One `<disk>` of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskXml {
    /// `disk`, `cdrom`, `floppy`, `lun`.
    pub device: String,
    /// `vda`, `sda`, ...
    pub target: String,
    /// `file`, `block`, `volume`, `network`.
    pub kind: String,
    /// The file or device path, when there is one.
    pub source: Option<String>,
    /// `<source pool= volume=>` for volume disks.
    pub pool_volume: Option<(String, String)>,
    /// `<driver type=...>`: `qcow2`, `raw`.
    pub format: Option<String>,
}

/// One `<interface>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicXml {
    pub mac: Option<String>,
    /// `network`, `bridge`, `user`, ...
    pub kind: String,
    /// The network or bridge name.
    pub source: Option<String>,
    pub model: Option<String>,
    /// The host-side device (`vnet0`).
    pub target: Option<String>,
}

/// One `<graphics>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphicsXml {
    /// `vnc` or `spice`.
    pub kind: String,
    /// The port; `None` when not allocated yet (`-1`, autoport on a shut-off domain).
    pub port: Option<u16>,
    pub listen: Option<String>,
}

/// The facts tpvirt reads from a domain's XML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainXml {
    pub kind: String,
    pub name: String,
    pub uuid: Option<String>,
    pub memory_kib: Option<u64>,
    pub current_memory_kib: Option<u64>,
    pub vcpus_max: Option<u32>,
    pub vcpus_current: Option<u32>,
    pub disks: Vec<DiskXml>,
    pub nics: Vec<NicXml>,
    pub graphics: Vec<GraphicsXml>,
    pub serials: usize,
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.has_tag_name(name))
}

fn kib_of(n: Node) -> Option<u64> {
    let v: u64 = n.text()?.trim().parse().ok()?;
    let unit = n.attribute("unit").unwrap_or("KiB");
    Some(v.saturating_mul(unit_bytes(unit, 1024)?) / 1024)
}

/// Parses the parts of a `<domain>` document tpvirt uses.
pub fn parse_domain(xml: &str) -> Result<DomainXml, XmlError> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    let mut d = DomainXml {
        kind: root.attribute("type").unwrap_or("").to_string(),
        ..DomainXml::default()
    };
    d.name = child(root, "name")
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_string();
    d.uuid = child(root, "uuid")
        .and_then(|n| n.text())
        .map(|s| s.trim().to_string());
    d.memory_kib = child(root, "memory").and_then(kib_of);
    d.current_memory_kib = child(root, "currentMemory").and_then(kib_of);
    if let Some(v) = child(root, "vcpu") {
        d.vcpus_max = v.text().and_then(|t| t.trim().parse().ok());
        d.vcpus_current = v
            .attribute("current")
            .and_then(|t| t.parse().ok())
            .or(d.vcpus_max);
    }
    if let Some(devs) = child(root, "devices") {
        for dev in devs.children().filter(|c| c.is_element()) {
            match dev.tag_name().name() {
                "disk" => {
                    let src = child(dev, "source");
                    let source = src.and_then(|s| {
                        s.attribute("file")
                            .or(s.attribute("dev"))
                            .or(s.attribute("name"))
                    });
                    let pool_volume = src.and_then(|s| {
                        Some((
                            s.attribute("pool")?.to_string(),
                            s.attribute("volume")?.to_string(),
                        ))
                    });
                    d.disks.push(DiskXml {
                        device: dev.attribute("device").unwrap_or("disk").to_string(),
                        target: child(dev, "target")
                            .and_then(|t| t.attribute("dev"))
                            .unwrap_or("")
                            .to_string(),
                        kind: dev.attribute("type").unwrap_or("file").to_string(),
                        source: source.map(str::to_string),
                        pool_volume,
                        format: child(dev, "driver")
                            .and_then(|t| t.attribute("type"))
                            .map(str::to_string),
                    });
                }
                "interface" => {
                    let src = child(dev, "source");
                    d.nics.push(NicXml {
                        mac: child(dev, "mac")
                            .and_then(|m| m.attribute("address"))
                            .map(str::to_string),
                        kind: dev.attribute("type").unwrap_or("").to_string(),
                        source: src
                            .and_then(|s| {
                                s.attribute("network")
                                    .or(s.attribute("bridge"))
                                    .or(s.attribute("dev"))
                            })
                            .map(str::to_string),
                        model: child(dev, "model")
                            .and_then(|m| m.attribute("type"))
                            .map(str::to_string),
                        target: child(dev, "target")
                            .and_then(|m| m.attribute("dev"))
                            .map(str::to_string),
                    });
                }
                "graphics" => {
                    let listen = dev.attribute("listen").map(str::to_string).or_else(|| {
                        child(dev, "listen")
                            .and_then(|l| l.attribute("address"))
                            .map(str::to_string)
                    });
                    d.graphics.push(GraphicsXml {
                        kind: dev.attribute("type").unwrap_or("").to_string(),
                        port: dev
                            .attribute("port")
                            .and_then(|p| p.parse::<i32>().ok())
                            .and_then(|p| u16::try_from(p).ok())
                            .filter(|p| *p > 0),
                        listen,
                    });
                }
                "serial" | "console" => d.serials += 1,
                _ => {}
            }
        }
    }
    Ok(d)
}

/// Byte-range replacements on a document, applied back to front so the
/// ranges stay valid.
#[derive(Debug, Default)]
pub struct Edits(Vec<(Range<usize>, String)>);

impl Edits {
    pub fn replace(&mut self, range: Range<usize>, with: impl Into<String>) {
        self.0.push((range, with.into()));
    }

    pub fn apply(mut self, text: &str) -> String {
        self.0.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = text.to_string();
        for (r, s) in self.0 {
            out.replace_range(r, &s);
        }
        out
    }
}

/// Escapes text for an XML attribute or element.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// What to change when copying a domain's XML for a clone.
#[derive(Debug, Clone)]
pub struct CloneEdit {
    pub name: String,
    /// New MAC per `<interface>`, in document order.
    pub macs: Vec<String>,
    /// New source path per disk target (`vda` → path), with its format.
    pub disks: Vec<(String, String, String)>,
}

/// Rewrites a domain XML for a clone: new name, no UUID (libvirt makes a
/// new one), new MACs, new disk sources; everything else kept.
pub fn clone_xml(xml: &str, edit: &CloneEdit) -> Result<String, XmlError> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    let mut e = Edits::default();
    if let Some(n) = child(root, "name") {
        e.replace(n.range(), format!("<name>{}</name>", escape(&edit.name)));
    }
    if let Some(u) = child(root, "uuid") {
        e.replace(u.range(), "");
    }
    if let Some(devs) = child(root, "devices") {
        let mut macs = edit.macs.iter();
        for dev in devs.children().filter(|c| c.is_element()) {
            match dev.tag_name().name() {
                "interface" => {
                    let Some(new) = macs.next() else { continue };
                    match child(dev, "mac")
                        .and_then(|m| m.attributes().find(|a| a.name() == "address"))
                    {
                        Some(a) => e.replace(a.range_value(), escape(new)),
                        None => {
                            // Insert right after the opening tag.
                            let first = dev
                                .first_child()
                                .map(|c| c.range().start)
                                .unwrap_or(dev.range().end);
                            e.replace(first..first, format!("<mac address='{}'/>", escape(new)));
                        }
                    }
                    // The host device name belongs to the original.
                    if let Some(t) = child(dev, "target") {
                        e.replace(t.range(), "");
                    }
                }
                "disk" => {
                    let target = child(dev, "target")
                        .and_then(|t| t.attribute("dev"))
                        .unwrap_or("");
                    let Some((_, path, format)) = edit.disks.iter().find(|(t, _, _)| t == target)
                    else {
                        continue;
                    };
                    let Some(src) = child(dev, "source") else {
                        continue;
                    };
                    if dev.attribute("type") == Some("volume") || src.attribute("file").is_none() {
                        // Turn it into a file disk on the new path.
                        if let Some(a) = dev.attributes().find(|a| a.name() == "type") {
                            e.replace(a.range_value(), "file");
                        }
                        e.replace(src.range(), format!("<source file='{}'/>", escape(path)));
                    } else if let Some(a) = src.attributes().find(|a| a.name() == "file") {
                        e.replace(a.range_value(), escape(path));
                    }
                    if let Some(drv) = child(dev, "driver") {
                        if let Some(a) = drv.attributes().find(|a| a.name() == "type") {
                            e.replace(a.range_value(), escape(format));
                        }
                    }
                    // A backing chain libvirt recorded belongs to the original disk.
                    if let Some(b) = child(dev, "backingStore") {
                        e.replace(b.range(), "");
                    }
                }
                _ => {}
            }
        }
    }
    Ok(e.apply(xml))
}

/// One line of a line diff: `-` only in the first text, `+` only in the
/// second, ` ` in both.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiffLine {
    pub op: char,
    pub text: String,
}

/// The lines that differ between two XML documents (the lab diffs a domain
/// and its clone), with `context` unchanged lines around each change.
pub fn line_diff(a: &str, b: &str, context: usize) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(a, b);
    let mut out = Vec::new();
    for group in diff.grouped_ops(context) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let op = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(DiffLine {
                    op,
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM: &str = r#"<domain type='test' id='1'>
  <name>web</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='MiB'>1024</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/pool/web.qcow2'/>
      <backingStore type='file'><format type='qcow2'/><source file='/pool/base.qcow2'/></backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:00:00:01'/>
      <source network='default'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'/>
    <serial type='pty'/>
  </devices>
</domain>"#;

    #[test]
    fn reads_the_facts_with_units() {
        let d = parse_domain(DOM).unwrap();
        assert_eq!(d.name, "web");
        assert_eq!(d.memory_kib, Some(1024 * 1024));
        assert_eq!(d.current_memory_kib, Some(524288));
        assert_eq!((d.vcpus_current, d.vcpus_max), (Some(1), Some(2)));
        assert_eq!(d.disks[0].source.as_deref(), Some("/pool/web.qcow2"));
        assert_eq!(d.disks[0].format.as_deref(), Some("qcow2"));
        assert_eq!(d.nics[0].mac.as_deref(), Some("52:54:00:00:00:01"));
        assert_eq!(d.graphics[0].port, Some(5901));
        assert_eq!(d.serials, 1);
    }

    #[test]
    fn clone_changes_name_uuid_mac_and_disks_only() {
        let out = clone_xml(
            DOM,
            &CloneEdit {
                name: "web-clone".into(),
                macs: vec!["52:54:00:aa:bb:cc".into()],
                disks: vec![("vda".into(), "/pool/web-clone.qcow2".into(), "qcow2".into())],
            },
        )
        .unwrap();
        let d = parse_domain(&out).unwrap();
        assert_eq!(d.name, "web-clone");
        assert_eq!(d.uuid, None);
        assert_eq!(d.nics[0].mac.as_deref(), Some("52:54:00:aa:bb:cc"));
        assert_eq!(d.nics[0].target, None);
        assert_eq!(d.disks[0].source.as_deref(), Some("/pool/web-clone.qcow2"));
        assert!(!out.contains("backingStore"));
        assert_eq!(d.graphics, parse_domain(DOM).unwrap().graphics);
    }

    #[test]
    fn escape_covers_quotes() {
        assert_eq!(escape("a'<&\">"), "a&apos;&lt;&amp;&quot;&gt;");
    }

    #[test]
    fn line_diff_shows_what_a_clone_changed() {
        let a =
            "<domain>\n  <name>squeeze</name>\n  <uuid>1</uuid>\n  <memory>1</memory>\n</domain>\n";
        let b = "<domain>\n  <name>squeeze-clone</name>\n  <uuid>2</uuid>\n  <memory>1</memory>\n</domain>\n";
        let d = line_diff(a, b, 0);
        let ops: Vec<(char, &str)> = d.iter().map(|l| (l.op, l.text.as_str())).collect();
        assert_eq!(
            ops,
            [
                ('-', "  <name>squeeze</name>"),
                ('-', "  <uuid>1</uuid>"),
                ('+', "  <name>squeeze-clone</name>"),
                ('+', "  <uuid>2</uuid>"),
            ]
        );
        assert!(line_diff(a, a, 3).is_empty());
    }
}
