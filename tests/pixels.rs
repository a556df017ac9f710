//! Burned-in text (PS3.15 Clean Pixel Data Option): with `clean-pixel-data` the text that the
//! Sequence of Ultrasound Regions or a device rule locates is blanked in the served pixels,
//! and nothing else changes; without it, nothing with text in its pixels is served; what
//! nothing locates, or what is compressed, is refused either way.

mod common;

use common::fixtures::{self as fx, Elem, FileBuilder, Value, tags as t};
use deidfs::deid::{DeidError, Engine, Refusal};
use deidfs::policy::{self, Policy};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use dicom_core::Tag;
use dicom_object::DefaultDicomObject;

fn keys() -> Pseudonyms {
    Pseudonyms::new(&SecretKey::from_bytes([3; 32]))
}

fn with_option(name: &str) -> Policy {
    let p = policy::load_builtin(name).unwrap();
    policy::file::with_options(p, &["clean-pixel-data".to_string()]).unwrap()
}

/// The served bytes, checked to be the plan's exact size and the same at any offset.
fn serve(src: &[u8], policy: &Policy) -> Result<Vec<u8>, DeidError> {
    let src = src.to_vec();
    let outcome = Engine::new(policy, &keys()).plan(&src)?;
    let whole = outcome.plan.to_vec(&src).unwrap();
    assert_eq!(whole.len() as u64, outcome.plan.len());
    for (at, n) in [(0usize, 7usize), (131, 1000), (whole.len() / 2 - 3, 17)] {
        let mut buf = vec![0u8; n];
        let got = outcome.plan.read_at(&src, at as u64, &mut buf).unwrap();
        assert_eq!(buf[..got], whole[at..(at + n).min(whole.len())], "at {at}");
    }
    Ok(whole)
}

fn parse(bytes: &[u8]) -> DefaultDicomObject {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.dcm");
    std::fs::write(&p, bytes).unwrap();
    dicom_object::open_file(&p).expect("output parses with dicom-object")
}

/// Loads a policy from `text` written to a file named `name` (a real policy file, as a user
/// writes one).
fn policy_file(name: &str, text: &str) -> Result<Policy, policy::PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    policy::load_policy(&p.to_string_lossy())
}

fn pixels(obj: &DefaultDicomObject) -> Vec<u8> {
    obj.element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec()
}

fn text(obj: &DefaultDicomObject, tag: (u16, u16)) -> String {
    obj.element(Tag(tag.0, tag.1))
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string()
}

fn refusal(src: &[u8], policy: &Policy) -> &'static str {
    match Engine::new(policy, &keys()).plan(&src.to_vec()) {
        Err(DeidError::Refused(r)) => r.reason(),
        Ok(_) => "served",
        Err(e) => panic!("{e}"),
    }
}

/// `us_image` (16 x 12 RGB) has one region, columns 1..=14 and rows 1..=10 (inclusive).
#[test]
fn an_ultrasound_image_keeps_its_regions_whole_and_loses_everything_around_them() {
    let b = fx::us_image();
    let src = b.build();
    let out = parse(&serve(&src, &with_option("basic")).unwrap());
    let (before, after) = (fx::rgb_pattern(12, 16), pixels(&out));
    assert_eq!(after.len(), before.len(), "same size");
    for y in 0..12usize {
        for x in 0..16usize {
            let i = (y * 16 + x) * 3;
            let inside = (1..=14).contains(&x) && (1..=10).contains(&y);
            let want = if inside {
                &before[i..i + 3]
            } else {
                &[0, 0, 0][..]
            };
            assert_eq!(&after[i..i + 3], want, "pixel ({x}, {y})");
        }
    }
    assert_eq!(text(&out, (0x0028, 0x0301)), "NO", "Burned In Annotation");
    let codes = common::method_codes(&out);
    assert!(codes.contains(&"113101".to_string()), "{codes:?}");
}

#[test]
fn without_the_option_nothing_with_text_in_its_pixels_is_served() {
    let basic = policy::load_builtin("basic").unwrap();
    assert_eq!(
        refusal(&fx::us_image().build(), &basic),
        "burned-in-annotation"
    );
    let unflagged = fx::us_image().remove(t::BURNED_IN_ANNOTATION).build();
    assert_eq!(refusal(&unflagged, &basic), "burned-in-risk");
    assert_eq!(refusal(&dose_screen().build(), &basic), "burned-in-rule");
}

/// A GE LightSpeed VCT dose screen: the built-in rule "LightSpeed Dose Report" blanks
/// x 0..512, y 0..121 (exclusive maxima).
fn dose_screen() -> FileBuilder {
    fx::ct_like("DOSE^SCREEN", "P-DOSE", 128, 64)
        .str(t::MANUFACTURER, "LO", "GE MEDICAL SYSTEMS")
        .str((0x0008, 0x1090), "LO", "LightSpeed VCT")
        .str(t::IMAGE_TYPE, "CS", "DERIVED\\SECONDARY\\SCREEN SAVE")
}

#[test]
fn a_device_rule_blanks_its_rectangle_and_keeps_the_rest() {
    let b = dose_screen();
    let src = b.build();
    let out = parse(&serve(&src, &with_option("research")).unwrap());
    let before = match &b.get(t::PIXEL_DATA).unwrap().value {
        Value::Bytes(v) => v.clone(),
        v => panic!("{v:?}"),
    };
    let after = pixels(&out);
    let row = 64 * 2;
    assert!(
        after[..121 * row].iter().all(|b| *b == 0),
        "rows 0..121 blanked"
    );
    assert_eq!(after[121 * row..], before[121 * row..], "rows 121.. kept");
    assert_eq!(text(&out, (0x0028, 0x0301)), "NO");
}

#[test]
fn a_policy_adds_its_own_pixel_rule() {
    let policy = policy_file(
        "p.toml",
        r#"extends = "basic"
options = ["clean-pixel-data"]

[[pixel_rule]]
label = "FixtureSound top banner"
when = ["contains ManufacturerModelName FIXTURESOUND", "+ equals Modality US"]
blank = [[0, 0, 16, 2]]
"#,
    )
    .unwrap();
    let src = fx::us_image()
        .remove(t::SEQUENCE_OF_ULTRASOUND_REGIONS)
        .build();
    let after = pixels(&parse(&serve(&src, &policy).unwrap()));
    let before = fx::rgb_pattern(12, 16);
    assert!(after[..2 * 16 * 3].iter().all(|b| *b == 0));
    assert_eq!(after[2 * 16 * 3..], before[2 * 16 * 3..]);
    // The rule is part of the policy's identity.
    assert_ne!(policy.id(), with_option("basic").id());
}

#[test]
fn a_bad_pixel_rule_names_the_file_line_and_fix() {
    let e = policy_file(
        "bad.toml",
        "extends = \"basic\"\n\n[[pixel_rule]]\nlabel = \"x\"\nwhen = [\"containz Modality US\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad.toml:3") && e.contains("unknown test"),
        "{e}"
    );
}

fn jpeg_us_image(fragment: Vec<u8>) -> FileBuilder {
    fx::us_image().with_ts(fx::Ts::JpegBaseline).elem(
        t::PIXEL_DATA,
        "OB",
        Value::Encapsulated {
            offset_table: vec![],
            fragments: vec![fragment],
        },
    )
}

#[test]
fn what_nothing_locates_or_no_decoder_here_reads_is_refused_with_the_option() {
    let policy = with_option("basic");
    let no_regions = fx::us_image()
        .remove(t::SEQUENCE_OF_ULTRASOUND_REGIONS)
        .build();
    assert_eq!(refusal(&no_regions, &policy), "pixels-unsettled");
    // 12-bit JPEG (DCT): no decoder in this build.
    let twelve_bit = jpeg_us_image(vec![0xFF, 0xD8, 0xFF, 0xD9])
        .str(t::PHOTOMETRIC_INTERPRETATION, "CS", "MONOCHROME2")
        .push(Elem::us(t::SAMPLES_PER_PIXEL, 1))
        .push(Elem::us(t::BITS_ALLOCATED, 16))
        .push(Elem::us(t::BITS_STORED, 12))
        .build();
    assert_eq!(refusal(&twelve_bit, &policy), "pixels-compressed");
}

#[test]
fn a_compressed_frame_that_does_not_decode_fails_the_read_and_nothing_is_served() {
    // The regions settle where the text is, so the plan is made from the header; the frame
    // is decoded when read, and a codestream that is no image fails that read.
    let src = jpeg_us_image(vec![0xFF, 0xD8, 0xFF, 0xD9]).build();
    let outcome = Engine::new(&with_option("basic"), &keys())
        .plan(&src)
        .unwrap();
    let err = outcome.plan.to_vec(&src).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    // The header before the pixels still reads; the frame's bytes never do.
    let pixels_at = outcome.plan.len() - 16 * 12 * 3;
    let mut head = vec![0u8; pixels_at as usize];
    assert!(outcome.plan.read_at(&src, 0, &mut head).is_ok());
    let mut byte = [0u8; 1];
    assert!(outcome.plan.read_at(&src, pixels_at, &mut byte).is_err());
}

#[test]
fn every_frame_of_a_multiframe_image_is_blanked() {
    let frame = fx::rgb_pattern(12, 16);
    let src = fx::us_image()
        .str(t::NUMBER_OF_FRAMES, "IS", "3")
        .elem(t::PIXEL_DATA, "OB", Value::Bytes(frame.repeat(3)))
        .build();
    let after = pixels(&parse(&serve(&src, &with_option("basic")).unwrap()));
    assert_eq!(after.len(), frame.len() * 3);
    let first = &after[..frame.len()];
    assert_eq!(first[..3], [0, 0, 0], "the corner is outside the region");
    for f in after.chunks(frame.len()) {
        assert_eq!(f, first, "every frame masked alike");
    }
}

#[test]
fn icon_images_and_overlays_never_carry_pixels_out() {
    let icon = Elem::seq(
        (0x0088, 0x0200),
        vec![vec![
            Elem::us(t::ROWS, 2),
            Elem::us(t::COLUMNS, 2),
            Elem::new(t::PIXEL_DATA, "OB", Value::Bytes(b"ICON".to_vec())),
        ]],
    );
    let src = fx::overlays_and_curves().push(icon).build();
    let out = parse(&serve(&src, &policy::load_builtin("basic").unwrap()).unwrap());
    assert!(
        out.element_opt(Tag(0x0088, 0x0200)).unwrap().is_none(),
        "icon image removed"
    );
    assert!(
        out.element_opt(Tag(0x6000, 0x3000)).unwrap().is_none(),
        "overlay data removed"
    );
}

#[test]
fn the_research_policy_cleans_pixel_data() {
    let p = policy::load_builtin("research").unwrap();
    assert!(p.has(policy::ProfileOption::CleanPixelData));
    assert!(matches!(
        Engine::new(&policy::load_builtin("basic").unwrap(), &keys()).plan(&fx::us_image().build()),
        Err(DeidError::Refused(Refusal::BurnedInAnnotation))
    ));
    assert!(serve(&fx::us_image().build(), &p).is_ok());
}

/// `src` with a copy of the element `at..at+len` inserted right after it, its value replaced.
fn duplicate(src: &[u8], element: &[u8], new_value: &[u8]) -> Vec<u8> {
    let at = src
        .windows(element.len())
        .position(|w| w == element)
        .expect("element in the file");
    let mut copy = element[..element.len() - new_value.len()].to_vec();
    copy.extend_from_slice(new_value);
    let mut out = src[..at + element.len()].to_vec();
    out.extend(copy);
    out.extend_from_slice(&src[at + element.len()..]);
    out
}

// Regressions found in review: each used to serve text marked as cleaned.

#[test]
fn a_region_that_keeps_every_pixel_cleans_nothing_and_is_refused() {
    let src = fx::us_image()
        .push(Elem::seq(
            t::SEQUENCE_OF_ULTRASOUND_REGIONS,
            vec![vec![
                Elem::ul((0x0018, 0x6018), 0),
                Elem::ul((0x0018, 0x601A), 0),
                Elem::ul((0x0018, 0x601C), 15),
                Elem::ul((0x0018, 0x601E), 11),
            ]],
        ))
        .build();
    assert_eq!(refusal(&src, &with_option("basic")), "pixels-unsettled");
}

#[test]
fn frames_the_header_does_not_describe_are_not_served_unmasked() {
    let frame = fx::rgb_pattern(12, 16);
    // Two frames of pixels, Number of Frames absent: the second would be served as it is.
    let src = fx::us_image()
        .elem(t::PIXEL_DATA, "OB", Value::Bytes(frame.repeat(2)))
        .build();
    assert_eq!(refusal(&src, &with_option("basic")), "incomplete");
    // A Number of Frames that is not a number is not read as 1.
    let src = fx::us_image()
        .str(t::NUMBER_OF_FRAMES, "IS", "3.0")
        .elem(t::PIXEL_DATA, "OB", Value::Bytes(frame.repeat(3)))
        .build();
    assert_eq!(refusal(&src, &with_option("basic")), "incomplete");
}

#[test]
fn dimensions_beyond_16_bits_are_refused_not_wrapped() {
    let src = fx::us_image()
        .push(Elem::ul(t::ROWS, 1 << 31))
        .push(Elem::ul(t::COLUMNS, 1 << 31))
        .build();
    assert_eq!(refusal(&src, &with_option("basic")), "incomplete");
}

#[test]
fn a_duplicated_pixel_attribute_is_refused_whatever_its_values() {
    let src = fx::us_image().build();
    // Columns (0028,0011) US 16, then a second Columns 8.
    let columns = [0x28, 0x00, 0x11, 0x00, b'U', b'S', 2, 0, 16, 0];
    let twice = duplicate(&src, &columns, &[8, 0]);
    assert_eq!(refusal(&twice, &with_option("basic")), "pixels-layout");
    // Burned In Annotation YES, then NO: refused, not read as NO.
    let flag = [
        0x28, 0x00, 0x01, 0x03, b'C', b'S', 4, 0, b'Y', b'E', b'S', b' ',
    ];
    let yes_no = duplicate(&src, &flag, b"NO  ");
    let mut basic = policy::load_builtin("basic").unwrap();
    basic.refuse_modalities.clear();
    basic.refuse_sop_classes.clear();
    assert_eq!(refusal(&yes_no, &basic), "pixels-layout");
}

#[test]
fn a_rule_blanks_its_rectangles_inside_the_regions_it_keeps() {
    let policy = policy_file(
        "p.toml",
        r#"extends = "basic"
options = ["clean-pixel-data"]

[[pixel_rule]]
label = "caliper text inside the region"
when = ["equals Modality US"]
blank = [[4, 4, 8, 6]]
keep_ultrasound_regions = true
"#,
    )
    .unwrap();
    let after = pixels(&parse(&serve(&fx::us_image().build(), &policy).unwrap()));
    let px = |x: usize, y: usize| &after[(y * 16 + x) * 3..(y * 16 + x) * 3 + 3];
    assert_eq!(
        px(5, 5),
        [0, 0, 0],
        "inside the region and the rectangle: blanked"
    );
    let before = fx::rgb_pattern(12, 16);
    assert_eq!(px(10, 5), &before[(5 * 16 + 10) * 3..(5 * 16 + 10) * 3 + 3]);
}

#[test]
fn device_rules_see_the_file_meta() {
    // The built-in rule "MINDRAY" tests Implementation Version Name, a file meta attribute.
    let src = fx::us_image()
        .remove(t::SEQUENCE_OF_ULTRASOUND_REGIONS)
        .meta_elem((0x0002, 0x0013), "SH", Value::str("MINDRAY_01"))
        .build();
    let out = parse(&serve(&src, &with_option("basic")).unwrap());
    assert!(
        pixels(&out).iter().all(|b| *b == 0),
        "the rule's band covers this small image"
    );
    let other = fx::us_image()
        .remove(t::SEQUENCE_OF_ULTRASOUND_REGIONS)
        .build();
    assert_eq!(refusal(&other, &with_option("basic")), "pixels-unsettled");
}
