//! Writing element, item and delimiter headers in any of the encodings deidfs reads. Values
//! are the caller's: these functions never pad or check them. A header is at most 12 bytes
//! and is made on the stack: planning writes one per changed element.

use super::encoding::{Encoding, UNDEFINED_LENGTH};
use super::tag::{ITEM, Tag};
use super::vr::{Vr, VrExt};

/// An encoded header (up to 12 bytes), used as a byte slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    buf: [u8; 12],
    len: u8,
}

impl std::ops::Deref for Header {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl Header {
    fn put16(&mut self, x: u16, enc: Encoding) {
        let b = if enc.big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.put(&b);
    }

    fn put32(&mut self, x: u32, enc: Encoding) {
        let b = if enc.big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.put(&b);
    }

    fn put(&mut self, b: &[u8]) {
        let at = usize::from(self.len);
        self.buf[at..at + b.len()].copy_from_slice(b);
        self.len += b.len() as u8;
    }

    fn tag(tag: Tag, enc: Encoding) -> Self {
        let mut h = Header::default();
        h.put16(tag.0, enc);
        h.put16(tag.1, enc);
        h
    }
}

/// An element header; `None` length is undefined. `None` result: the length does not fit.
pub fn header(tag: Tag, vr: Vr, enc: Encoding, len: Option<u64>) -> Option<Header> {
    let len32 = match len {
        None => UNDEFINED_LENGTH,
        Some(n) if n >= u64::from(UNDEFINED_LENGTH) => return None,
        Some(n) => n as u32,
    };
    let mut h = Header::tag(tag, enc);
    if enc.explicit {
        h.put(&vr.to_bytes());
        if vr.has_long_length() {
            h.put(&[0, 0]);
            h.put32(len32, enc);
        } else {
            h.put16(u16::try_from(len32).ok()?, enc);
        }
    } else {
        h.put32(len32, enc);
    }
    Some(h)
}

pub fn item_header(enc: Encoding, len: Option<u64>) -> Header {
    let mut h = Header::tag(ITEM, enc);
    h.put32(len.map_or(UNDEFINED_LENGTH, |n| n as u32), enc);
    h
}

pub fn delimiter(enc: Encoding, tag: Tag) -> Header {
    let mut h = Header::tag(tag, enc);
    h.put32(0, enc);
    h
}
