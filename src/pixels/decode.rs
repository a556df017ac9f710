//! Encapsulated frames (RLE, JPEG, JPEG-LS, JPEG 2000) decoded to native samples.
//!
//! The guarantee: a decoded frame is exactly the frame the header describes, as Explicit VR
//! Little Endian stores it (samples little endian, pixels interleaved, in the photometric
//! interpretation [`Codec::output_photometric`] names), or an error. A codestream whose size,
//! component count or precision disagrees with the header is an error, never a frame padded
//! with zeros or cut short, and a codec that panics on hostile input is an error too.
//!
//! The codecs are maintained crates: jpeg-decoder (pure Rust), jpeg2k over openjp2 (OpenJPEG
//! ported to Rust) and charls (CharLS, the reference JPEG-LS codec). RLE is decoded here: it
//! is PackBits with a 64-byte header (PS3.5 Annex G), and the dicom-rs decoder zero-fills
//! short segments and panics on a fragment shorter than its header.

use super::geometry::{Geometry, Photometric};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The frames of one image are this large at most once decoded: a hostile header (65535 x
/// 65535 RGB) would otherwise ask for gigabytes per read.
pub const MAX_FRAME_BYTES: u64 = 256 << 20;

/// A compression this module decodes, from the Transfer Syntax UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Rle,
    /// JPEG baseline and extended (DCT, 8-bit).
    JpegDct,
    /// JPEG lossless (process 14, and its selection value 1).
    JpegLossless,
    JpegLs,
    Jpeg2000,
    /// Encapsulated Uncompressed Explicit VR Little Endian: frames as they are.
    Uncompressed,
}

/// Why a frame cannot be decoded (no value from the file beyond sizes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{codec:?}: {message}")]
    Codec { codec: Codec, message: String },
    #[error("{codec:?} frame is {found}, the header says {want}")]
    Mismatch {
        codec: Codec,
        found: String,
        want: String,
    },
}

impl Codec {
    pub fn of(transfer_syntax: &str) -> Option<Codec> {
        Some(match transfer_syntax.trim_end_matches('\0').trim() {
            "1.2.840.10008.1.2.5" => Codec::Rle,
            "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Codec::JpegDct,
            "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => Codec::JpegLossless,
            "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => Codec::JpegLs,
            "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => Codec::Jpeg2000,
            "1.2.840.10008.1.2.1.98" => Codec::Uncompressed,
            _ => return None,
        })
    }

    /// Whether the transfer syntax may have lost information (the decoded image then keeps
    /// Lossy Image Compression 01).
    pub fn lossy(transfer_syntax: &str) -> bool {
        matches!(
            transfer_syntax.trim_end_matches('\0').trim(),
            "1.2.840.10008.1.2.4.50"
                | "1.2.840.10008.1.2.4.51"
                | "1.2.840.10008.1.2.4.81"
                | "1.2.840.10008.1.2.4.91"
        )
    }

    /// The photometric interpretation of the decoded samples, or why this combination is
    /// not decoded. JPEG (DCT) decoders turn YCbCr into RGB; JPEG 2000 undoes its colour
    /// transform (YBR_ICT, YBR_RCT); the lossless codecs return the samples as coded.
    pub fn output_photometric(self, source: &str, bits_stored: u16) -> Result<Photometric, String> {
        let source = source.trim_end_matches('\0').trim();
        let mono = match source {
            "MONOCHROME1" => Some(Photometric::Monochrome1),
            "MONOCHROME2" => Some(Photometric::Monochrome2),
            "PALETTE COLOR" => Some(Photometric::Palette),
            _ => None,
        };
        if self == Codec::JpegDct && bits_stored > 8 {
            return Err("12-bit JPEG (DCT) has no decoder here".into());
        }
        if let Some(mono) = mono {
            return Ok(mono);
        }
        let colour = match (self, source) {
            (Codec::JpegDct, "RGB" | "YBR_FULL" | "YBR_FULL_422") => Photometric::Rgb,
            (Codec::Jpeg2000, "RGB" | "YBR_ICT" | "YBR_RCT") => Photometric::Rgb,
            (Codec::Jpeg2000, "YBR_FULL") => Photometric::YbrFull,
            (Codec::Rle | Codec::JpegLossless | Codec::JpegLs | Codec::Uncompressed, "RGB") => {
                Photometric::Rgb
            }
            (
                Codec::Rle | Codec::JpegLossless | Codec::JpegLs | Codec::Uncompressed,
                "YBR_FULL",
            ) => Photometric::YbrFull,
            _ => {
                return Err(format!(
                    "{} in {self:?} is not decoded here",
                    if Photometric::parse(source).is_some()
                        || ["YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "YBR_PARTIAL_422"]
                            .contains(&source)
                    {
                        source
                    } else {
                        "this Photometric Interpretation"
                    }
                ));
            }
        };
        Ok(colour)
    }
}

/// Decodes one frame of `g` (the decoded image: little endian, interleaved) from its
/// codestream; `source` is the header's Photometric Interpretation (JPEG colour depends on
/// it).
pub fn decode(
    codec: Codec,
    g: &Geometry,
    source: &str,
    data: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    let out = catch_unwind(AssertUnwindSafe(|| match codec {
        Codec::Rle => rle(g, data),
        Codec::JpegDct | Codec::JpegLossless => jpeg(codec, g, source, data),
        Codec::JpegLs => jpeg_ls(g, data),
        Codec::Jpeg2000 => jpeg2000(g, data),
        Codec::Uncompressed => Ok(data.to_vec()),
    }))
    .unwrap_or_else(|_| Err(fail(codec, "the decoder panicked")))?;
    let want = g.frame_bytes();
    if out.len() as u64 != want && !(codec == Codec::Uncompressed && out.len() as u64 == want + 1) {
        return Err(DecodeError::Mismatch {
            codec,
            found: format!("{} bytes", out.len()),
            want: format!("{want} bytes"),
        });
    }
    let mut out = out;
    out.truncate(want as usize);
    Ok(out)
}

fn fail(codec: Codec, message: impl Into<String>) -> DecodeError {
    DecodeError::Codec {
        codec,
        message: message.into(),
    }
}

fn check_size(
    codec: Codec,
    g: &Geometry,
    (width, height, components): (u32, u32, u32),
) -> Result<(), DecodeError> {
    if (width, height, components) != (g.cols, g.rows, u32::from(g.samples)) {
        return Err(DecodeError::Mismatch {
            codec,
            found: format!("{width}x{height}, {components} components"),
            want: format!("{}x{}, {} components", g.cols, g.rows, g.samples),
        });
    }
    Ok(())
}

/// Samples of at most 16 bits, written as `g.bits_allocated` little-endian values.
fn widen(g: &Geometry, samples: impl Iterator<Item = u32>, n: usize) -> Vec<u8> {
    let bytes = g.sample_bytes() as usize;
    let mut out = Vec::with_capacity(n * bytes);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes()[..bytes]);
    }
    out
}

/// JPEG colour follows the stream's markers (JFIF, Adobe, component names), except that a
/// header saying RGB over a stream that names no colour space means the samples are RGB as
/// coded, as dcmtk and pydicom read it (PS3.5 8.2.1).
fn jpeg(codec: Codec, g: &Geometry, source: &str, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    use jpeg_decoder::{ColorTransform, Decoder, PixelFormat};
    let mut d = Decoder::new(data);
    // The frame header first: a codestream that declares another size is refused before
    // anything is allocated for it.
    d.set_max_decoding_buffer_size(MAX_FRAME_BYTES as usize);
    d.read_info().map_err(|e| fail(codec, e.to_string()))?;
    let declared = d.info().ok_or_else(|| fail(codec, "no frame header"))?;
    if (u32::from(declared.width), u32::from(declared.height)) != (g.cols, g.rows) {
        return Err(DecodeError::Mismatch {
            codec,
            found: format!("{}x{}", declared.width, declared.height),
            want: format!("{}x{}", g.cols, g.rows),
        });
    }
    let names_colour = markers(data).any(|(m, seg)| {
        (m == 0xE0 && seg.starts_with(b"JFIF\0")) || (m == 0xEE && seg.starts_with(b"Adobe"))
    });
    if g.samples == 3 && source.trim_end_matches('\0').trim() == "RGB" && !names_colour {
        d.set_color_transform(ColorTransform::RGB);
    }
    let pixels = d.decode().map_err(|e| fail(codec, e.to_string()))?;
    let info = d.info().ok_or_else(|| fail(codec, "no frame header"))?;
    let (components, wide) = match info.pixel_format {
        PixelFormat::L8 => (1, false),
        PixelFormat::L16 => (1, true),
        PixelFormat::RGB24 => (3, false),
        PixelFormat::CMYK32 => (4, false),
    };
    check_size(
        codec,
        g,
        (u32::from(info.width), u32::from(info.height), components),
    )?;
    let n = pixels.len() / if wide { 2 } else { 1 };
    match (wide, g.bits_allocated) {
        (false, 8) => Ok(pixels),
        (true, 8) => Err(DecodeError::Mismatch {
            codec,
            found: "16-bit samples".into(),
            want: "8 bits allocated".into(),
        }),
        // jpeg-decoder writes 16-bit samples in native byte order.
        (true, _) => Ok(widen(
            g,
            pixels
                .chunks_exact(2)
                .map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]]))),
            n,
        )),
        (false, _) => Ok(widen(g, pixels.iter().map(|b| u32::from(*b)), n)),
    }
}

fn jpeg_ls(g: &Geometry, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let codec = Codec::JpegLs;
    let mut c = charls::CharLS::default();
    let info = c
        .get_frame_info(data)
        .map_err(|e| fail(codec, e.to_string()))?;
    check_size(
        codec,
        g,
        (
            info.width,
            info.height,
            u32::try_from(info.component_count).unwrap_or(0),
        ),
    )?;
    let bits = u16::try_from(info.bits_per_sample).unwrap_or(u16::MAX);
    if bits > g.bits_allocated {
        return Err(DecodeError::Mismatch {
            codec,
            found: format!("{bits}-bit samples"),
            want: format!("{} bits allocated", g.bits_allocated),
        });
    }
    // A CharLS decoder that has read the header refuses to read it again: a fresh one decodes.
    let mut pixels = charls::CharLS::default()
        .decode(data)
        .map_err(|e| fail(codec, e.to_string()))?;
    if g.samples > 1 && first_scan_components(data) == Some(1) {
        // Interleave mode none: CharLS returns one plane per component.
        pixels = interleave(
            &pixels,
            usize::from(g.samples),
            if bits > 8 { 2 } else { 1 },
        );
    }
    if bits > 8 {
        // CharLS writes samples over 8 bits as 16-bit values in native byte order.
        let n = pixels.len() / 2;
        return Ok(widen(
            g,
            pixels
                .chunks_exact(2)
                .map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]]))),
            n,
        ));
    }
    let n = pixels.len();
    Ok(widen(g, pixels.iter().map(|b| u32::from(*b)), n))
}

/// The marker segments of a JPEG or JPEG-LS stream up to and including the first scan
/// header (SOS): each marker's code and its payload after the length.
fn markers(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 2; // after SOI
    let mut done = false;
    std::iter::from_fn(move || {
        // Fill bytes (0xFF) may precede a marker.
        while at + 1 < data.len() && data[at] == 0xFF && data[at + 1] == 0xFF {
            at += 1;
        }
        if done || at + 4 > data.len() || data[at] != 0xFF {
            return None;
        }
        let marker = data[at + 1];
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let payload = data.get(at + 4..(at + 2 + len).min(data.len()))?;
        at += 2 + len;
        done = marker == 0xDA;
        Some((marker, payload))
    })
}

/// The component count of a JPEG-LS stream's first scan: 1 when each component has a scan
/// of its own (interleave mode none).
fn first_scan_components(data: &[u8]) -> Option<u8> {
    markers(data)
        .find(|(m, _)| *m == 0xDA)
        .and_then(|(_, seg)| seg.first().copied())
}

/// Planes (all of sample 0, then sample 1...) to interleaved pixels.
fn interleave(planes: &[u8], samples: usize, bytes: usize) -> Vec<u8> {
    let plane = planes.len() / samples;
    let mut out = vec![0u8; planes.len()];
    for s in 0..samples {
        for (i, v) in planes[s * plane..(s + 1) * plane]
            .chunks_exact(bytes)
            .enumerate()
        {
            let at = (i * samples + s) * bytes;
            out[at..at + bytes].copy_from_slice(v);
        }
    }
    out
}

fn jpeg2000(g: &Geometry, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let codec = Codec::Jpeg2000;
    // The image size from the SIZ marker first: nothing is decoded for a codestream that
    // declares another.
    let siz = data
        .windows(4)
        .take(4096)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .and_then(|at| data.get(at + 4..at + 42))
        .ok_or_else(|| fail(codec, "no SIZ marker"))?;
    let word = |i: usize| u32::from_be_bytes([siz[i], siz[i + 1], siz[i + 2], siz[i + 3]]);
    let (width, height) = (
        word(4).wrapping_sub(word(12)),
        word(8).wrapping_sub(word(16)),
    );
    let components = u32::from(u16::from_be_bytes([siz[36], siz[37]]));
    check_size(codec, g, (width, height, components))?;
    // Strict: a truncated codestream is an error, not a partly decoded image.
    let params = jpeg2k::DecodeParameters::default().strict(true);
    let image =
        jpeg2k::Image::from_bytes_with(data, params).map_err(|e| fail(codec, e.to_string()))?;
    let comps = image.components();
    check_size(
        codec,
        g,
        (image.width(), image.height(), comps.len() as u32),
    )?;
    for c in comps {
        if (c.width(), c.height()) != (g.cols, g.rows) {
            return Err(DecodeError::Mismatch {
                codec,
                found: format!("a subsampled component ({}x{})", c.width(), c.height()),
                want: format!("{}x{}", g.cols, g.rows),
            });
        }
        if c.precision() > u32::from(g.bits_allocated) || c.precision() > 16 {
            return Err(DecodeError::Mismatch {
                codec,
                found: format!("{}-bit samples", c.precision()),
                want: format!("{} bits allocated", g.bits_allocated),
            });
        }
    }
    let pixels = g.cols as usize * g.rows as usize;
    let samples = (0..pixels).flat_map(|i| comps.iter().map(move |c| c.data()[i] as u32));
    Ok(widen(g, samples, pixels * comps.len()))
}

/// RLE Lossless (PS3.5 Annex G): a header of 16 little-endian words (the segment count, then
/// each segment's offset), then one PackBits segment per byte of each sample, most
/// significant byte first.
fn rle(g: &Geometry, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let codec = Codec::Rle;
    let word = |i: usize| -> Option<usize> {
        let b = data.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let sample_bytes = g.sample_bytes() as usize;
    let segments = usize::from(g.samples) * sample_bytes;
    let count = word(0).ok_or_else(|| fail(codec, "fragment shorter than its header"))?;
    if count != segments {
        return Err(DecodeError::Mismatch {
            codec,
            found: format!("{count} segments"),
            want: format!("{segments} segments"),
        });
    }
    let mut offsets: Vec<usize> = (1..=segments).filter_map(word).collect();
    offsets.push(data.len());
    let pixels = g.cols as usize * g.rows as usize;
    let stride = usize::from(g.samples) * sample_bytes;
    let mut out = vec![0u8; pixels * stride];
    for s in 0..segments {
        let (from, to) = (offsets[s], offsets[s + 1]);
        if from < 64 || from > to || to > data.len() {
            return Err(fail(codec, format!("segment {s} has offsets {from}..{to}")));
        }
        let plane = unpack_bits(&data[from..to], pixels)
            .ok_or_else(|| fail(codec, format!("segment {s} decodes short")))?;
        // Segment s holds byte (sample_bytes - 1 - s % sample_bytes) of sample s / sample_bytes.
        let at = (s / sample_bytes) * sample_bytes + (sample_bytes - 1 - s % sample_bytes);
        for (i, b) in plane.into_iter().enumerate() {
            out[i * stride + at] = b;
        }
    }
    Ok(out)
}

/// PackBits: `n` in 0..=127 copies the next n + 1 bytes, -1..=-127 repeats the next byte
/// 1 - n times, -128 does nothing. `None` when fewer than `want` bytes come out; a trailing
/// padding byte beyond `want` is dropped.
fn unpack_bits(mut src: &[u8], want: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let (&n, rest) = src.split_first()?;
        let n = n as i8;
        src = rest;
        if n >= 0 {
            let k = n as usize + 1;
            out.extend_from_slice(src.get(..k)?);
            src = &src[k..];
        } else if n != -128 {
            let (&b, rest) = src.split_first()?;
            out.extend(std::iter::repeat_n(b, 1 + (-(n as isize)) as usize));
            src = rest;
        }
    }
    out.truncate(want);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mono8(cols: u32, rows: u32) -> Geometry {
        Geometry {
            rows,
            cols,
            samples: 1,
            bits_allocated: 8,
            bits_stored: 8,
            signed: false,
            planar: false,
            frames: 1,
            photometric: Photometric::Monochrome2,
            big_endian: false,
        }
    }

    fn rle_fragment(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut at = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            head[4 + i * 4..8 + i * 4].copy_from_slice(&at.to_le_bytes());
            body.extend_from_slice(s);
            at += s.len() as u32;
        }
        head.extend(body);
        head
    }

    #[test]
    fn packbits_literal_and_repeat_runs_decode_to_the_planned_bytes() {
        // 3 literal bytes, then 4 x 9, then a no-op.
        let src = [2, 1, 2, 3, (-3i8) as u8, 9, 0x80];
        assert_eq!(unpack_bits(&src, 7), Some(vec![1, 2, 3, 9, 9, 9, 9]));
    }

    #[test]
    fn packbits_that_decodes_short_is_an_error_not_a_zero_filled_frame() {
        assert_eq!(unpack_bits(&[1, 7, 7], 4), None);
        assert_eq!(unpack_bits(&[5, 1, 2], 6), None);
    }

    #[test]
    fn rle_sixteen_bit_segments_are_most_significant_byte_first() {
        let mut g = mono8(2, 1);
        g.bits_allocated = 16;
        g.bits_stored = 16;
        // Pixels 0x0102 and 0x0304: MSB segment [1, 3], LSB segment [2, 4].
        let frag = rle_fragment(&[vec![1, 1, 3], vec![1, 2, 4]]);
        assert_eq!(
            decode(Codec::Rle, &g, "MONOCHROME2", &frag).unwrap(),
            vec![2, 1, 4, 3]
        );
    }

    #[test]
    fn rle_with_the_wrong_segment_count_or_a_short_fragment_fails_closed() {
        let g = mono8(2, 1);
        let two = rle_fragment(&[vec![1, 1, 2], vec![1, 1, 2]]);
        assert!(decode(Codec::Rle, &g, "MONOCHROME2", &two).is_err());
        assert!(decode(Codec::Rle, &g, "MONOCHROME2", &[1, 0]).is_err());
        let short = rle_fragment(&[vec![0, 1]]);
        assert!(decode(Codec::Rle, &g, "MONOCHROME2", &short).is_err());
    }

    #[test]
    fn a_codestream_that_is_not_what_the_header_says_is_an_error() {
        let g = mono8(4, 4);
        for codec in [Codec::JpegDct, Codec::JpegLs, Codec::Jpeg2000] {
            assert!(
                decode(codec, &g, "MONOCHROME2", b"not an image at all").is_err(),
                "{codec:?}"
            );
            assert!(decode(codec, &g, "MONOCHROME2", &[]).is_err(), "{codec:?}");
        }
        assert!(decode(Codec::Uncompressed, &g, "MONOCHROME2", &[0; 15]).is_err());
        assert_eq!(
            decode(Codec::Uncompressed, &g, "MONOCHROME2", &[7; 17]).unwrap(),
            vec![7; 16]
        );
    }

    #[test]
    fn a_tiny_codestream_declaring_a_huge_image_is_refused_before_anything_is_allocated() {
        let g = mono8(4, 4);
        // JPEG: SOI, a baseline frame header of 65535 x 65535, one component, then SOS.
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0,
        ];
        jpeg.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0xFF, 0xD9]);
        // JPEG 2000: SOC, a SIZ of 65535 x 65535 with one component.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [65535u32, 65535, 0, 0, 65535, 65535, 0, 0] {
            j2k.extend(v.to_be_bytes());
        }
        j2k.extend([0, 1, 7, 1, 1, 0xFF, 0xD9]);
        for (codec, data) in [(Codec::JpegDct, &jpeg), (Codec::Jpeg2000, &j2k)] {
            let t = std::time::Instant::now();
            assert!(decode(codec, &g, "MONOCHROME2", data).is_err(), "{codec:?}");
            assert!(
                t.elapsed() < std::time::Duration::from_secs(2),
                "{codec:?} decoded it"
            );
        }
    }

    #[test]
    fn planes_interleave_into_pixels() {
        assert_eq!(
            interleave(&[1, 2, 3, 4, 5, 6], 3, 1),
            vec![1, 3, 5, 2, 4, 6]
        );
        assert_eq!(interleave(&[1, 0, 2, 0], 2, 2), vec![1, 0, 2, 0]);
    }

    #[test]
    fn decoded_colour_is_named_by_what_each_codec_returns() {
        assert_eq!(
            Codec::JpegDct.output_photometric("YBR_FULL_422", 8),
            Ok(Photometric::Rgb)
        );
        assert_eq!(
            Codec::Jpeg2000.output_photometric("YBR_ICT", 8),
            Ok(Photometric::Rgb)
        );
        assert_eq!(
            Codec::Rle.output_photometric("YBR_FULL", 8),
            Ok(Photometric::YbrFull)
        );
        assert!(Codec::Rle.output_photometric("YBR_FULL_422", 8).is_err());
        assert!(
            Codec::JpegDct
                .output_photometric("MONOCHROME2", 12)
                .is_err()
        );
        assert_eq!(
            Codec::JpegLs.output_photometric("RGB", 8),
            Ok(Photometric::Rgb)
        );
        assert_eq!(
            Codec::JpegLs.output_photometric("MONOCHROME1", 12),
            Ok(Photometric::Monochrome1)
        );
    }
}
