//! Files cut exactly on an element boundary: the truncations a walker cannot see, because what
//! is left is a well-formed data set.

use deidfs::deid::iod::Requires;
use deidfs::deid::layout::{self, Body, Element, Limits};
use deidfs::deid::{DeidError, Engine};
use deidfs::io::ReadAt;
use deidfs::policy::Policy;
use deidfs::pseudonym::Pseudonyms;
use std::io;

/// The first `len` bytes of a file, as a source.
pub struct Cut<'a>(pub &'a [u8]);

impl ReadAt for Cut<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
}

/// Where a file's structure has a boundary: the start and end of every element, item and
/// fragment, at every depth (meta included), sorted, without 0 and the file's length.
pub fn boundaries(src: &[u8]) -> Vec<u64> {
    fn add(elements: &[Element], out: &mut Vec<u64>) {
        for el in elements {
            out.extend([el.start, el.value_start, el.end]);
            match &el.body {
                Body::Primitive => {}
                Body::Sequence(items) => {
                    for item in items {
                        out.extend([item.start, item.end]);
                        add(&item.elements, out);
                    }
                }
                Body::Fragments(fragments) => {
                    for f in fragments {
                        out.extend([f.value_start - 8, f.value_start + u64::from(f.len)]);
                    }
                }
            }
        }
    }
    let layout = layout::walk(&src.to_vec(), Limits::default()).expect("the uncut file walks");
    let mut out = Vec::new();
    if let Some(meta) = &layout.meta {
        add(&meta.elements, &mut out);
    }
    add(&layout.elements, &mut out);
    out.retain(|&b| b > 0 && b < src.len() as u64);
    out.sort_unstable();
    out.dedup();
    out
}

/// The cuts that must be refused, as ranges `[from, to)` of cut positions: every cut before
/// the end of the part that tells a cut from a whole object (Pixel Data where the IOD
/// requires it, the root Content Sequence of a structured report, the Series Instance UID
/// for anything else). Where the pixels are optional (RT Dose, a private class) a cut tells
/// only once Rows is in: between the series and Rows it leaves a whole object without pixels.
/// Past the telling part a cut leaves a whole object with fewer optional attributes
/// (trailing padding, signatures, private blocks), which nothing can tell apart. `None` for a
/// deflated data set (the walk does not see inside it).
pub fn must_refuse(src: &[u8]) -> Option<Vec<(u64, u64)>> {
    let layout = layout::walk(&src.to_vec(), Limits::default()).expect("the uncut file walks");
    let find = |g: u16, e: u16| {
        layout
            .elements
            .iter()
            .find(|el| el.tag == deidfs::dicom::Tag(g, e))
    };
    let class = find(0x0008, 0x0016)
        .map(|el| {
            String::from_utf8_lossy(&src[el.value_start as usize..el.end as usize]).to_string()
        })
        .unwrap_or_default();
    let requires = Requires::of(class.trim_end_matches(['\0', ' ']));
    let series = find(0x0020, 0x000E)?.end;
    let content = find(0x0040, 0xA730).filter(|_| requires.content);
    Some(
        match (find(0x7FE0, 0x0010), find(0x0028, 0x0010), content) {
            (Some(pixels), _, _) if requires.pixels => vec![(0, pixels.end)],
            (Some(pixels), Some(rows), _) => vec![(0, series), (rows.end, pixels.end)],
            (_, _, Some(content)) => vec![(0, content.end)],
            _ => vec![(0, series)],
        },
    )
}

/// How a cut fared: refused (with the reason) or served.
pub fn outcome(policy: &Policy, keys: &Pseudonyms, cut: &[u8]) -> Result<(), String> {
    match Engine::new(policy, keys).plan(&Cut(cut)) {
        Ok(_) => Ok(()),
        Err(DeidError::Refused(r)) => Err(r.reason().to_string()),
        Err(DeidError::Io(e)) => panic!("I/O error on an in-memory cut: {e}"),
    }
}
