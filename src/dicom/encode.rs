//! Writing element, item and delimiter headers in any of the encodings deidfs reads. Values
//! are the caller's: these functions never pad or check them.

use super::encoding::{Encoding, UNDEFINED_LENGTH};
use super::tag::{ITEM, Tag};
use super::vr::{Vr, VrExt};

/// An element header; `None` length is undefined. `None` result: the length does not fit.
pub fn header(tag: Tag, vr: Vr, enc: Encoding, len: Option<u64>) -> Option<Vec<u8>> {
    let len32 = match len {
        None => UNDEFINED_LENGTH,
        Some(n) if n >= u64::from(UNDEFINED_LENGTH) => return None,
        Some(n) => n as u32,
    };
    let mut h = Vec::with_capacity(12);
    put16(&mut h, tag.0, enc);
    put16(&mut h, tag.1, enc);
    if enc.explicit {
        h.extend_from_slice(&vr.to_bytes());
        if vr.has_long_length() {
            h.extend_from_slice(&[0, 0]);
            put32(&mut h, len32, enc);
        } else {
            put16(&mut h, u16::try_from(len32).ok()?, enc);
        }
    } else {
        put32(&mut h, len32, enc);
    }
    Some(h)
}

pub fn item_header(enc: Encoding, len: Option<u64>) -> Vec<u8> {
    let mut h = Vec::with_capacity(8);
    put16(&mut h, ITEM.0, enc);
    put16(&mut h, ITEM.1, enc);
    put32(&mut h, len.map_or(UNDEFINED_LENGTH, |n| n as u32), enc);
    h
}

pub fn delimiter(enc: Encoding, tag: Tag) -> Vec<u8> {
    let mut h = Vec::with_capacity(8);
    put16(&mut h, tag.0, enc);
    put16(&mut h, tag.1, enc);
    put32(&mut h, 0, enc);
    h
}

fn put16(v: &mut Vec<u8>, x: u16, enc: Encoding) {
    v.extend_from_slice(&if enc.big_endian {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}

fn put32(v: &mut Vec<u8>, x: u32, enc: Encoding) {
    v.extend_from_slice(&if enc.big_endian {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}
