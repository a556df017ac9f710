//! Transfer syntaxes and the byte-level encodings of data sets that deidfs reads and writes.

pub const TS_IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const TS_EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const TS_EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
pub const TS_DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// The length field value that means "undefined length" (sequences, items, encapsulated data).
pub const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;

/// How a data set (or one item) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub explicit: bool,
    pub big_endian: bool,
}

impl Encoding {
    pub const EXPLICIT_LE: Encoding = Encoding {
        explicit: true,
        big_endian: false,
    };
    pub const IMPLICIT_LE: Encoding = Encoding {
        explicit: false,
        big_endian: false,
    };
    pub const EXPLICIT_BE: Encoding = Encoding {
        explicit: true,
        big_endian: true,
    };

    pub fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    pub fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
}
