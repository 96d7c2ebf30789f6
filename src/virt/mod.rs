//! libvirt domain commands and qcow2 disks (see issue 6).
