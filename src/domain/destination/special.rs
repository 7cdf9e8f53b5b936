//! The IANA special-purpose address registries (IPv4 and IPv6, as of 2025), row by row,
//! plus the few blocks outside them that are no destination either (multicast, the
//! deprecated site-local and IPv4-compatible ranges). Every row is refused as a webhook
//! destination; a test walks the table. Only two embeddings of a public IPv4 address
//! pass, handled before this table: IPv4-mapped (`::ffff:a.b.c.d`) and the NAT64
//! well-known prefix (`64:ff9b::a.b.c.d`, which IPv6-only networks resolve IPv4 hosts to).

use std::net::{Ipv4Addr, Ipv6Addr};

/// An address block and its registry name.
pub struct Block<A> {
    pub start: A,
    pub prefix: u8,
    pub name: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8, name: &'static str) -> Block<Ipv4Addr> {
    Block {
        start: Ipv4Addr::new(a, b, c, d),
        prefix,
        name,
    }
}

const fn v6(segments: [u16; 8], prefix: u8, name: &'static str) -> Block<Ipv6Addr> {
    let [a, b, c, d, e, f, g, h] = segments;
    Block {
        start: Ipv6Addr::new(a, b, c, d, e, f, g, h),
        prefix,
        name,
    }
}

/// iana-ipv4-special-registry, then the multicast block (its own registry).
pub const IPV4: &[Block<Ipv4Addr>] = &[
    v4(0, 0, 0, 0, 8, "\"This network\" (RFC 791)"),
    v4(0, 0, 0, 0, 32, "\"This host on this network\" (RFC 1122)"),
    v4(10, 0, 0, 0, 8, "Private-Use (RFC 1918)"),
    v4(100, 64, 0, 0, 10, "Shared Address Space (RFC 6598)"),
    v4(127, 0, 0, 0, 8, "Loopback (RFC 1122)"),
    v4(169, 254, 0, 0, 16, "Link Local (RFC 3927)"),
    v4(172, 16, 0, 0, 12, "Private-Use (RFC 1918)"),
    v4(192, 0, 0, 0, 24, "IETF Protocol Assignments (RFC 6890)"),
    v4(
        192,
        0,
        0,
        0,
        29,
        "IPv4 Service Continuity Prefix (RFC 7335)",
    ),
    v4(192, 0, 0, 8, 32, "IPv4 dummy address (RFC 7600)"),
    v4(192, 0, 0, 9, 32, "Port Control Protocol Anycast (RFC 7723)"),
    v4(
        192,
        0,
        0,
        10,
        32,
        "Traversal Using Relays around NAT Anycast (RFC 8155)",
    ),
    v4(192, 0, 0, 170, 32, "NAT64/DNS64 Discovery (RFC 7050)"),
    v4(192, 0, 0, 171, 32, "NAT64/DNS64 Discovery (RFC 7050)"),
    v4(192, 0, 2, 0, 24, "Documentation (TEST-NET-1, RFC 5737)"),
    v4(192, 31, 196, 0, 24, "AS112-v4 (RFC 7535)"),
    v4(192, 52, 193, 0, 24, "AMT (RFC 7450)"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "Deprecated (6to4 Relay Anycast, RFC 7526)",
    ),
    v4(192, 168, 0, 0, 16, "Private-Use (RFC 1918)"),
    v4(
        192,
        175,
        48,
        0,
        24,
        "Direct Delegation AS112 Service (RFC 7534)",
    ),
    v4(198, 18, 0, 0, 15, "Benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "Documentation (TEST-NET-2, RFC 5737)"),
    v4(203, 0, 113, 0, 24, "Documentation (TEST-NET-3, RFC 5737)"),
    v4(240, 0, 0, 0, 4, "Reserved (RFC 1112)"),
    v4(255, 255, 255, 255, 32, "Limited Broadcast (RFC 919)"),
    v4(224, 0, 0, 0, 4, "Multicast (RFC 5771)"),
];

/// iana-ipv6-special-registry, then blocks outside it that are no destination.
pub const IPV6: &[Block<Ipv6Addr>] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "Loopback Address (RFC 4291)"),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        128,
        "Unspecified Address (RFC 4291)",
    ),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped Address (RFC 4291)",
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-IPv6 Translat. (RFC 6052)",
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "IPv4-IPv6 Translat., local use (RFC 8215)",
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        "Discard-Only Address Block (RFC 6666)",
    ),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        "Dummy IPv6 Prefix (RFC 9780)",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF Protocol Assignments (RFC 2928)",
    ),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO (RFC 4380)"),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        "Port Control Protocol Anycast (RFC 7723)",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        "TURN Anycast (RFC 8155)",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        "DNS-SD Service Registration Protocol Anycast (RFC 9665)",
    ),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "Benchmarking (RFC 5180)"),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT (RFC 7450)"),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6 (RFC 7535)"),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        "Deprecated (previously ORCHID, RFC 4843)",
    ),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2 (RFC 7343)"),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        "Drone Remote ID Protocol Entity Tags (RFC 9374)",
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "Documentation (RFC 3849)",
    ),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4 (RFC 3056)"),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "Direct Delegation AS112 Service (RFC 7534)",
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "Documentation (RFC 9637)",
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "Segment Routing (SRv6) SIDs (RFC 9602)",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local (RFC 4193)"),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        "Link-Local Unicast (RFC 4291)",
    ),
    // Outside the special-purpose registry:
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "Site-Local, deprecated (RFC 3879)",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast (RFC 4291)"),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-compatible, deprecated (RFC 4291)",
    ),
    v6(
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated (RFC 2765)",
    ),
];

fn within(address: u128, start: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    shift >= bits || (address >> shift) == (start >> shift)
}

/// The IPv4 block `ip` falls in, if any.
pub fn v4_block(ip: Ipv4Addr) -> Option<&'static Block<Ipv4Addr>> {
    IPV4.iter().find(|b| {
        within(
            u128::from(u32::from(ip)),
            u128::from(u32::from(b.start)),
            b.prefix,
            32,
        )
    })
}

/// The IPv6 block `ip` falls in, if any; addresses outside global unicast (`2000::/3`)
/// count as reserved even where no row names them.
pub fn v6_block(ip: Ipv6Addr) -> Option<&'static Block<Ipv6Addr>> {
    const RESERVED: Block<Ipv6Addr> = v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        0,
        "Reserved by IETF (outside 2000::/3, RFC 4291)",
    );
    let found = IPV6
        .iter()
        .find(|b| within(u128::from(ip), u128::from(b.start), b.prefix, 128));
    match found {
        Some(block) => Some(block),
        None if ip.segments()[0] & 0xe000 != 0x2000 => Some(&RESERVED),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first and the last address of a block.
    fn ends_v4(b: &Block<Ipv4Addr>) -> [Ipv4Addr; 2] {
        let start = u32::from(b.start);
        let size = if b.prefix == 0 {
            u32::MAX
        } else {
            (1u32 << (32 - u32::from(b.prefix))).wrapping_sub(1)
        };
        [b.start, Ipv4Addr::from(start | size)]
    }

    fn ends_v6(b: &Block<Ipv6Addr>) -> [Ipv6Addr; 2] {
        let start = u128::from(b.start);
        let size = if b.prefix == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - u32::from(b.prefix))).wrapping_sub(1)
        };
        [b.start, Ipv6Addr::from(start | size)]
    }

    #[test]
    fn every_ipv4_row_is_found_at_both_ends() {
        for block in IPV4 {
            for ip in ends_v4(block) {
                assert!(v4_block(ip).is_some(), "{ip} of {}", block.name);
            }
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "192.0.1.1",
            "192.88.98.255",
            "100.128.0.1",
        ] {
            assert!(v4_block(public.parse().unwrap()).is_none(), "{public}");
        }
    }

    #[test]
    fn every_ipv6_row_is_found_at_both_ends() {
        for block in IPV6 {
            for ip in ends_v6(block) {
                assert!(v6_block(ip).is_some(), "{ip} of {}", block.name);
            }
        }
        for reserved in ["fec0::1", "100::1", "4000::1", "::ffff:0:7f00:1"] {
            assert!(v6_block(reserved.parse().unwrap()).is_some(), "{reserved}");
        }
        for public in ["2606:4700::1111", "2a00:1450:4001::1", "2001:200::1"] {
            assert!(v6_block(public.parse().unwrap()).is_none(), "{public}");
        }
    }
}
