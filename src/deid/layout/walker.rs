//! The walker itself: positional reads through a window, every length checked against its
//! container and the file before it is believed, recursion bounded by the depth limit.

use super::{Body, Element, Fragment, Item, LayoutError, Limits, Meta};
use crate::deid::read::Window;
use crate::dicom::encoding::{Encoding, UNDEFINED_LENGTH};
use crate::dicom::tag::{ITEM, ITEM_END, PIXEL_DATA, SEQ_END, Tag};
use crate::dicom::vr::{Vr, VrExt, dictionary_vr};
use crate::io::ReadAt;

pub(super) struct Walker<'a> {
    pub(super) win: Window<'a>,
    limits: Limits,
    elements: usize,
    pub(super) file_len: u64,
}

impl<'a> Walker<'a> {
    pub(super) fn new(src: &'a dyn ReadAt, limits: Limits) -> Self {
        Self {
            win: Window::new(src),
            limits,
            elements: 0,
            file_len: src.len(),
        }
    }

    fn bytes(&mut self, offset: u64, len: usize, what: &str) -> Result<&[u8], LayoutError> {
        let file_len = self.file_len;
        match self.win.get(offset, len)? {
            Some(b) => Ok(b),
            None => Err(LayoutError::Truncated {
                offset,
                what: what.to_string(),
                needed: len as u64,
                file_len,
            }),
        }
    }

    fn head<const N: usize>(&mut self, offset: u64, what: &str) -> Result<[u8; N], LayoutError> {
        let b = self.bytes(offset, N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(super) fn peek_group(
        &mut self,
        pos: u64,
        big_endian: bool,
    ) -> Result<Option<u16>, LayoutError> {
        Ok(self.win.get(pos, 2)?.map(|b| {
            if big_endian {
                u16::from_be_bytes([b[0], b[1]])
            } else {
                u16::from_le_bytes([b[0], b[1]])
            }
        }))
    }

    pub(super) fn meta(&mut self, start: u64) -> Result<Meta, LayoutError> {
        let mut pos = start;
        let mut elements = Vec::with_capacity(16);
        let mut transfer_syntax = None;
        while self.peek_group(pos, false)? == Some(0x0002) {
            let el = self.element(pos, self.file_len, Encoding::EXPLICIT_LE, 0)?;
            if !matches!(el.body, Body::Primitive) {
                return Err(LayoutError::BadMeta(format!(
                    "{} is not a plain value",
                    el.tag
                )));
            }
            if el.tag == Tag(0x0002, 0x0010) {
                let len = el.value_len() as usize;
                let raw = self.bytes(el.value_start, len, "Transfer Syntax UID")?;
                let uid = String::from_utf8_lossy(raw)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
                transfer_syntax = Some(uid);
            }
            pos = el.end;
            elements.push(el);
        }
        Ok(Meta {
            elements,
            transfer_syntax,
            end: pos,
        })
    }

    /// Which encoding the data set starting at `pos` really uses. A declared explicit VR data
    /// set whose first element has no valid VR code is implicit VR (a common writer bug).
    pub(super) fn detect(
        &mut self,
        pos: u64,
        declared: Option<Encoding>,
    ) -> Result<Encoding, LayoutError> {
        let Some(head) = self.win.get(pos, 6)? else {
            return Ok(declared.unwrap_or(Encoding::IMPLICIT_LE));
        };
        let le_group = u16::from_le_bytes([head[0], head[1]]);
        let vr_ok = Vr::from_code([head[4], head[5]]).is_some();
        Ok(match declared {
            Some(enc) if enc.explicit && !vr_ok => Encoding {
                explicit: false,
                big_endian: enc.big_endian,
            },
            Some(enc) => enc,
            // No meta: byte order from the group number (data sets start in low groups),
            // VR style from the VR slot.
            None => Encoding {
                explicit: vr_ok,
                big_endian: le_group > 0x00FF && le_group.swap_bytes() <= 0x00FF,
            },
        })
    }

    /// A file without meta is only DICOM if it starts like a data set.
    pub(super) fn check_plausible_start(
        &mut self,
        pos: u64,
        enc: Encoding,
    ) -> Result<(), LayoutError> {
        let head: [u8; 8] = self.head(pos, "first element")?;
        let group = enc.u16(&head[0..2]);
        if !(0x0000..=0x0010).contains(&group) || group == 0x0002 {
            return Err(LayoutError::NotDicom(
                "no preamble, and the first bytes are not a data element",
            ));
        }
        Ok(())
    }

    pub(super) fn dataset(
        &mut self,
        start: u64,
        end: u64,
        enc: Encoding,
        depth: usize,
    ) -> Result<Vec<Element>, LayoutError> {
        let mut pos = start;
        let mut out = Vec::with_capacity(8);
        while pos < end {
            let el = self.element(pos, end, enc, depth)?;
            pos = el.end;
            out.push(el);
        }
        Ok(out)
    }

    /// The top-level data set, to the end of the file or to a tail of zero bytes after its
    /// last element (some writers pad files with zeros; dcmtk and pydicom read them). Zeros
    /// are not an element a writer puts at the top level (tag (0000,0000), no VR), so an
    /// element position whose first 8 bytes are zero is checked for an all-zero rest of the file;
    /// the tail is then left out (neither walked nor served). Anything else after the data
    /// set fails as before.
    pub(super) fn top_level(
        &mut self,
        start: u64,
        enc: Encoding,
    ) -> Result<Vec<Element>, LayoutError> {
        let mut pos = start;
        let mut out = Vec::with_capacity(128);
        while pos < self.file_len && !self.zeros_to_end(pos)? {
            let el = self.element(pos, self.file_len, enc, 0)?;
            pos = el.end;
            out.push(el);
        }
        Ok(out)
    }

    /// Whether every byte from `pos` to the end of the file is zero.
    fn zeros_to_end(&mut self, pos: u64) -> Result<bool, LayoutError> {
        const CHUNK: u64 = 64 * 1024;
        let first = (self.file_len - pos).min(8) as usize;
        if self.win.get(pos, first)? != Some(&[0u8; 8][..first]) {
            return Ok(false);
        }
        let mut at = pos;
        while at < self.file_len {
            let n = (self.file_len - at).min(CHUNK) as usize;
            match self.win.get(at, n)? {
                Some(b) if b.iter().all(|x| *x == 0) => at += n as u64,
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Elements of an undefined-length item, up to and including its delimiter.
    fn dataset_until_item_end(
        &mut self,
        start: u64,
        limit: u64,
        enc: Encoding,
        depth: usize,
    ) -> Result<(Vec<Element>, u64), LayoutError> {
        let mut pos = start;
        let mut out = Vec::with_capacity(8);
        loop {
            let head: [u8; 8] = self.head(pos, "element or item delimiter")?;
            let tag = Tag(enc.u16(&head[0..2]), enc.u16(&head[2..4]));
            if tag == ITEM_END {
                return Ok((out, pos + 8));
            }
            if tag.0 == 0xFFFE {
                return Err(LayoutError::Unexpected {
                    offset: pos,
                    expected: "item delimiter",
                    found: tag,
                });
            }
            let el = self.element(pos, limit, enc, depth)?;
            pos = el.end;
            out.push(el);
        }
    }

    fn count(&mut self) -> Result<(), LayoutError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(LayoutError::TooMany {
                what: "elements",
                limit: self.limits.max_elements,
            });
        }
        Ok(())
    }

    fn element(
        &mut self,
        pos: u64,
        container_end: u64,
        enc: Encoding,
        depth: usize,
    ) -> Result<Element, LayoutError> {
        self.count()?;
        let head: [u8; 8] = self.head(pos, "element header")?;
        let tag = Tag(enc.u16(&head[0..2]), enc.u16(&head[2..4]));
        if tag.0 == 0xFFFE {
            return Err(LayoutError::Unexpected {
                offset: pos,
                expected: "data element",
                found: tag,
            });
        }
        let (vr, len, header) = if enc.explicit {
            let code = [head[4], head[5]];
            let Some(vr) = Vr::from_code(code) else {
                return Err(LayoutError::UnknownVr {
                    tag,
                    offset: pos,
                    code: String::from_utf8_lossy(&code).into_owned(),
                });
            };
            if vr.has_long_length() {
                let h: [u8; 12] = self.head(pos, "element header")?;
                (vr, enc.u32(&h[8..12]), 12)
            } else {
                (vr, u32::from(enc.u16(&head[6..8])), 8)
            }
        } else {
            (dictionary_vr(tag), enc.u32(&head[4..8]), 8)
        };
        let value_start = pos + header;
        if len == UNDEFINED_LENGTH {
            return self.undefined_length(tag, vr, enc, pos, value_start, container_end, depth);
        }
        let end = value_start + u64::from(len);
        if end > container_end {
            return Err(self.overrun(tag, pos, u64::from(len), container_end));
        }
        let body = if vr == Vr::SQ {
            Body::Sequence(self.items(value_start, Some(end), enc, depth + 1, pos)?)
        } else if self.may_hold_sequence(tag, vr, enc, value_start, len)? {
            // A sequence hidden in UN (or an unknown implicit VR): PS3.5 6.2.2 says its
            // content is implicit VR little endian. Opaque if it does not parse as one.
            let inner = Encoding::IMPLICIT_LE;
            let saved = self.elements;
            match self.items(value_start, Some(end), inner, depth + 1, pos) {
                Ok(items) => Body::Sequence(items),
                Err(LayoutError::Io(e)) => return Err(LayoutError::Io(e)),
                Err(e @ LayoutError::TooDeep { .. }) => return Err(e),
                Err(_) => {
                    self.elements = saved;
                    Body::Primitive
                }
            }
        } else {
            Body::Primitive
        };
        Ok(Element {
            tag,
            vr,
            enc,
            start: pos,
            value_start,
            len: Some(len),
            end,
            body,
        })
    }

    fn may_hold_sequence(
        &mut self,
        tag: Tag,
        vr: Vr,
        enc: Encoding,
        value_start: u64,
        len: u32,
    ) -> Result<bool, LayoutError> {
        if vr != Vr::UN || len < 8 || enc.big_endian {
            return Ok(false);
        }
        if dictionary_vr(tag) == Vr::SQ {
            return Ok(true);
        }
        let head: [u8; 4] = self.head(value_start, "value")?;
        Ok(Tag(
            u16::from_le_bytes([head[0], head[1]]),
            u16::from_le_bytes([head[2], head[3]]),
        ) == ITEM)
    }

    fn overrun(&self, tag: Tag, offset: u64, len: u64, container_end: u64) -> LayoutError {
        // Called when a value overruns its container: when that container is the file
        // itself, the file was cut short.
        if container_end >= self.file_len {
            LayoutError::Truncated {
                offset,
                what: format!("value of {tag}"),
                needed: len,
                file_len: self.file_len,
            }
        } else {
            LayoutError::Overrun {
                tag,
                offset,
                len,
                container_end,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn undefined_length(
        &mut self,
        tag: Tag,
        vr: Vr,
        enc: Encoding,
        pos: u64,
        value_start: u64,
        container_end: u64,
        depth: usize,
    ) -> Result<Element, LayoutError> {
        let (body, end) = match vr {
            Vr::SQ => {
                let items = self.items(value_start, None, enc, depth + 1, pos)?;
                let end = items.last().map_or(value_start, |i| i.end);
                let end = self.expect_tag(end, SEQ_END, enc, "sequence delimiter")?;
                (Body::Sequence(items), end)
            }
            // CP-246: a sequence of unknown VR, content implicit VR little endian.
            Vr::UN if tag != PIXEL_DATA => {
                let inner = Encoding {
                    explicit: false,
                    big_endian: false,
                };
                let items = self.items(value_start, None, inner, depth + 1, pos)?;
                let end = items.last().map_or(value_start, |i| i.end);
                let end = self.expect_tag(end, SEQ_END, inner, "sequence delimiter")?;
                (Body::Sequence(items), end)
            }
            _ => {
                let (n, end) = self.fragments(value_start, enc)?;
                (Body::Fragments(n), end)
            }
        };
        if end > container_end {
            return Err(self.overrun(tag, pos, end - value_start, container_end));
        }
        Ok(Element {
            tag,
            vr: if vr == Vr::UN { Vr::UN } else { vr },
            enc,
            start: pos,
            value_start,
            len: None,
            end,
            body,
        })
    }

    fn expect_tag(
        &mut self,
        pos: u64,
        want: Tag,
        enc: Encoding,
        what: &'static str,
    ) -> Result<u64, LayoutError> {
        let head: [u8; 8] = self.head(pos, what)?;
        let tag = Tag(enc.u16(&head[0..2]), enc.u16(&head[2..4]));
        if tag != want {
            return Err(LayoutError::Unexpected {
                offset: pos,
                expected: what,
                found: tag,
            });
        }
        Ok(pos + 8)
    }

    /// Items of a sequence: up to `end` (defined length), or up to the sequence delimiter
    /// (undefined: the delimiter itself is not consumed).
    fn items(
        &mut self,
        start: u64,
        end: Option<u64>,
        enc: Encoding,
        depth: usize,
        seq_pos: u64,
    ) -> Result<Vec<Item>, LayoutError> {
        if depth > self.limits.max_depth {
            return Err(LayoutError::TooDeep {
                offset: seq_pos,
                limit: self.limits.max_depth,
            });
        }
        let limit = end.unwrap_or(self.file_len);
        let mut pos = start;
        let mut items = Vec::new();
        loop {
            if Some(pos) == end {
                break;
            }
            let head: [u8; 8] = self.head(pos, "item header")?;
            let tag = Tag(enc.u16(&head[0..2]), enc.u16(&head[2..4]));
            let len = enc.u32(&head[4..8]);
            if tag == SEQ_END && end.is_none() {
                break;
            }
            if tag != ITEM {
                return Err(LayoutError::Unexpected {
                    offset: pos,
                    expected: "item",
                    found: tag,
                });
            }
            self.count()?;
            let content = pos + 8;
            // An item inherits its sequence's encoding, except that explicit VR content which
            // is really implicit (Philips/GE private sequences) is detected per item.
            let item_enc = if enc.explicit {
                self.detect_item(content, enc)?
            } else {
                enc
            };
            let item = if len == UNDEFINED_LENGTH {
                let (elements, item_end) =
                    self.dataset_until_item_end(content, limit, item_enc, depth)?;
                Item {
                    start: pos,
                    len: None,
                    enc: item_enc,
                    elements,
                    end: item_end,
                }
            } else {
                let item_end = content + u64::from(len);
                if item_end > limit {
                    return Err(self.overrun(ITEM, pos, u64::from(len), limit));
                }
                let elements = self.dataset(content, item_end, item_enc, depth)?;
                Item {
                    start: pos,
                    len: Some(len),
                    enc: item_enc,
                    elements,
                    end: item_end,
                }
            };
            pos = item.end;
            items.push(item);
        }
        Ok(items)
    }

    fn detect_item(&mut self, content: u64, enc: Encoding) -> Result<Encoding, LayoutError> {
        match self.win.get(content, 6)? {
            Some(h)
                if Tag(enc.u16(&h[0..2]), enc.u16(&h[2..4])).0 != 0xFFFE
                    && Vr::from_code([h[4], h[5]]).is_none() =>
            {
                Ok(Encoding {
                    explicit: false,
                    big_endian: enc.big_endian,
                })
            }
            _ => Ok(enc),
        }
    }

    /// Encapsulated fragments: items of defined length up to a sequence delimiter.
    fn fragments(
        &mut self,
        start: u64,
        enc: Encoding,
    ) -> Result<(Vec<Fragment>, u64), LayoutError> {
        let mut pos = start;
        let mut items = Vec::new();
        loop {
            let head: [u8; 8] = self.head(pos, "fragment header")?;
            let tag = Tag(enc.u16(&head[0..2]), enc.u16(&head[2..4]));
            let len = enc.u32(&head[4..8]);
            if tag == SEQ_END {
                return Ok((items, pos + 8));
            }
            if tag != ITEM || len == UNDEFINED_LENGTH {
                return Err(LayoutError::Unexpected {
                    offset: pos,
                    expected: "fragment",
                    found: tag,
                });
            }
            items.push(Fragment {
                value_start: pos + 8,
                len,
            });
            if items.len() > self.limits.max_fragments {
                return Err(LayoutError::TooMany {
                    what: "fragments",
                    limit: self.limits.max_fragments,
                });
            }
            let end = pos + 8 + u64::from(len);
            if end > self.file_len {
                return Err(LayoutError::Truncated {
                    offset: pos,
                    what: "pixel data fragment".into(),
                    needed: u64::from(len),
                    file_len: self.file_len,
                });
            }
            pos = end;
        }
    }
}
