//! Packet decoding, TCP reassembly and protocol parsers (see issue 4).
