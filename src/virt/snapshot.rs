//! Internal snapshots: create, list, revert, delete, current.

use serde::Serialize;
use virt::domain::Domain;
use virt::domain_snapshot::DomainSnapshot;
use virt::error::ErrorNumber;

use super::connect::{is_code, Result, Session, VirtError};
use super::xml::escape;

/// One snapshot in `snapshot list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SnapshotRow {
    pub name: String,
    /// Seconds since the epoch.
    pub creation_time: Option<i64>,
    /// The domain's state when it was taken.
    pub state: String,
    pub parent: Option<String>,
    pub current: bool,
}

fn text_of(xml: &str, tag: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    root.children()
        .find(|c| c.has_tag_name(tag))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn parent_of(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let p = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name("parent"))?;
    p.children()
        .find(|c| c.has_tag_name("name"))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn row(s: &Session, snap: &DomainSnapshot) -> Result<SnapshotRow> {
    let name = snap
        .name()
        .map_err(|e| s.err("reading a snapshot name", e))?;
    let xml = snap
        .xml_desc(0)
        .map_err(|e| s.err(&format!("reading snapshot {name}"), e))?;
    Ok(SnapshotRow {
        creation_time: text_of(&xml, "creationTime").and_then(|t| t.parse().ok()),
        state: text_of(&xml, "state").unwrap_or_default(),
        parent: parent_of(&xml),
        current: snap.is_current(0).unwrap_or(false),
        name,
    })
}

/// Takes a snapshot (named, or named by the time like virsh) and returns its row.
pub fn create(
    s: &Session,
    domain: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<SnapshotRow> {
    let d = s.domain(domain)?;
    let mut xml = String::from("<domainsnapshot>");
    if let Some(n) = name {
        if n.is_empty() || n.contains('/') {
            return Err(VirtError::Invalid(format!(
                "snapshot name {n:?}: give a non-empty name without '/'"
            )));
        }
        if Domain::lookup_snapshot_by_name(&d, n, 0).is_ok() {
            return Err(VirtError::Invalid(format!(
                "domain {domain:?} already has a snapshot {n:?}; delete it or pick another name"
            )));
        }
        xml.push_str(&format!("<name>{}</name>", escape(n)));
    }
    if let Some(t) = description {
        xml.push_str(&format!("<description>{}</description>", escape(t)));
    }
    xml.push_str("</domainsnapshot>");
    let snap = d
        .create_snapshot_xml(&xml, 0)
        .map_err(|e| s.err(&format!("snapshotting {domain}"), e))?;
    row(s, &snap)
}

/// All snapshots, oldest first.
pub fn list(s: &Session, domain: &str) -> Result<Vec<SnapshotRow>> {
    let d = s.domain(domain)?;
    let snaps = d
        .list_all_snapshots(0)
        .map_err(|e| s.err(&format!("listing snapshots of {domain}"), e))?;
    let mut rows = snaps
        .iter()
        .map(|x| row(s, x))
        .collect::<Result<Vec<_>>>()?;
    // Oldest first; snapshots taken within the same second are ordered
    // parent before child.
    let depth = |r: &SnapshotRow| {
        let mut d = 0;
        let mut p = r.parent.clone();
        while let Some(name) = p {
            d += 1;
            if d > rows.len() {
                break;
            }
            p = rows
                .iter()
                .find(|x| x.name == name)
                .and_then(|x| x.parent.clone());
        }
        d
    };
    let mut keyed: Vec<(Option<i64>, usize, SnapshotRow)> = rows
        .iter()
        .map(|r| (r.creation_time, depth(r), r.clone()))
        .collect();
    keyed.sort_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
    rows = keyed.into_iter().map(|k| k.2).collect();
    Ok(rows)
}

fn lookup(s: &Session, domain: &str, snap: &str) -> Result<DomainSnapshot> {
    let d = s.domain(domain)?;
    Domain::lookup_snapshot_by_name(&d, snap, 0).map_err(|e| {
        if is_code(&e, ErrorNumber::NoDomainSnapshot) {
            let known = list(s, domain)
                .map(|v| v.into_iter().map(|r| r.name).collect())
                .unwrap_or_default();
            VirtError::NoSuchSnapshot {
                domain: domain.into(),
                snapshot: snap.into(),
                known,
            }
        } else {
            s.err(&format!("looking up snapshot {snap}"), e)
        }
    })
}

/// Returns the domain to a snapshot; the state it had then comes back too.
pub fn revert(s: &Session, domain: &str, snap: &str) -> Result<SnapshotRow> {
    let x = lookup(s, domain, snap)?;
    x.revert(0)
        .map_err(|e| s.err(&format!("reverting {domain} to {snap}"), e))?;
    row(s, &x)
}

/// Deletes a snapshot (its children are re-parented, as in virsh).
pub fn delete(s: &Session, domain: &str, snap: &str) -> Result<()> {
    let x = lookup(s, domain, snap)?;
    x.delete(0)
        .map_err(|e| s.err(&format!("deleting snapshot {snap} of {domain}"), e))
}

/// The current snapshot, or None when there is none.
pub fn current(s: &Session, domain: &str) -> Result<Option<SnapshotRow>> {
    let d = s.domain(domain)?;
    match d.current_snapshot(0) {
        Ok(x) => Ok(Some(row(s, &x)?)),
        Err(e) if is_code(&e, ErrorNumber::NoDomainSnapshot) => Ok(None),
        Err(e) => Err(s.err(&format!("reading the current snapshot of {domain}"), e)),
    }
}
