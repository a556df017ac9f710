//! The brain of a head volume, by intensity and morphology. What matters for the plane is
//! that the mask holds the whole brain and nothing of the face: the brain is the tissue inside
//! the skull, and the skull (bone in CT, no signal in MR) parts it from the scalp and the
//! face but for thin bridges (the optic nerves, vessels) that an erosion cuts. So: the head's
//! tissue, eroded; the part of it where a head's brain is (below the top of the head), no
//! further from there than a brain reaches; grown back within the tissue; then checks: a
//! brain's size, and a skull over it (which a chest or an abdomen has not).

use super::grid::{Grid, otsu};
use super::{Modality, Undefaceable, Vec3};

/// What parts the brain from the scalp and the face, at least, and is cut (millimetres): in
/// CT the bone is there; in MR the dark band of fluid and bone is blurred by the scanner.
const ERODE_MM: [f64; 2] = [4.0, 6.0];
/// The brain's centre is about this far below the top of the head (millimetres).
const SEED_BELOW_TOP_MM: f64 = 45.0;
/// The brain part is the one with most voxels within this of that point (millimetres).
const SEED_RADIUS_MM: f64 = 25.0;
/// From that point, no part of an adult brain is further than this (millimetres): the
/// frontal and occipital poles are about 85 mm away, the cerebellum's floor about 90.
const BRAIN_REACH_MM: f64 = 100.0;
/// A brain (adult or child, whole or nearly) holds this many cubic centimetres.
const BRAIN_CC: (f64, f64) = (350.0, 2600.0);

/// CT tissue that can be brain (grey and white matter, blood, not fat, bone or air), in HU.
const CT_TISSUE_HU: (f32, f32) = (-15.0, 95.0);
/// CT: bone.
const CT_BONE_HU: f32 = 250.0;
/// The skull is looked for this far out from the brain (from 2 mm), over its upper half...
const VAULT_MM: f64 = 10.0;
/// ...and must be at least this share of what is there.
const VAULT_SKULL_AT_LEAST: f64 = 0.15;
/// CT: what is not air.
const CT_HEAD_HU: f32 = -400.0;

/// The brain mask and the head mask.
pub(super) fn find(g: &Grid, modality: Modality) -> Result<(Vec<bool>, Vec<bool>), Undefaceable> {
    // The head's threshold, what can be brain, and what a skull looks like.
    type Test = Box<dyn Fn(f32) -> bool>;
    let (head_at, tissue, skull): (f32, Test, Test) = match modality {
        Modality::Ct => (
            CT_HEAD_HU,
            Box::new(|v| v > CT_TISSUE_HU.0 && v < CT_TISSUE_HU.1),
            Box::new(|v| v > CT_BONE_HU),
        ),
        Modality::Mr => {
            // Background against the rest (Otsu): fluid and bone fall below it with the air,
            // in T1 and T2 alike; T2's bright fluid joins the brain, which only makes the
            // mask larger (the plane further from the brain).
            let at = otsu(&g.values);
            (at, Box::new(move |v| v > at), Box::new(move |v| v <= at))
        }
    };
    let head = g.largest(&g.values.iter().map(|&v| v > head_at).collect::<Vec<_>>());
    let seed = seed(g, &head).ok_or(Undefaceable::NoBrain)?;
    let tissue: Vec<bool> = g
        .values
        .iter()
        .zip(&head)
        .map(|(&v, &h)| h && tissue(v))
        .collect();
    let erode = ERODE_MM[(modality == Modality::Mr) as usize];
    let core = g.erode(&tissue, erode);
    let (labels, _) = g.parts(&core);
    let mut near = std::collections::HashMap::<u32, usize>::new();
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 && g.distance2(i, seed) <= SEED_RADIUS_MM * SEED_RADIUS_MM {
            *near.entry(l).or_default() += 1;
        }
    }
    let best = near
        .into_iter()
        .max_by_key(|&(l, n)| (n, std::cmp::Reverse(l)))
        .map(|(l, _)| l)
        .ok_or(Undefaceable::NoBrain)?;
    // No brain reaches further than this from that point: what does is tissue the erosion
    // did not part from it (the neck, the tongue, through the skull base).
    let reach = BRAIN_REACH_MM * BRAIN_REACH_MM;
    let part: Vec<bool> = (0..labels.len())
        .map(|i| labels[i] == best && g.distance2(i, seed) <= reach)
        .collect();
    let grown = g.dilate(&part, erode);
    let brain: Vec<bool> = (0..grown.len())
        .map(|i| grown[i] && tissue[i] && g.distance2(i, seed) <= reach)
        .collect();
    let cc = brain.iter().filter(|&&b| b).count() as f64 * g.voxel_cc();
    if !(BRAIN_CC.0..=BRAIN_CC.1).contains(&cc) {
        return Err(Undefaceable::NoBrain);
    }
    // A brain has a skull over it: bone in CT, no signal in MR, just outside its upper half.
    let centre_z = {
        let (sum, n) = (0..g.len())
            .filter(|&i| brain[i])
            .fold((0.0, 0.0), |(s, n), i| (s + g.patient(i)[2], n + 1.0));
        sum / n
    };
    let (near, out) = (g.dilate(&brain, 2.0), g.dilate(&brain, VAULT_MM));
    let (mut shell, mut bone) = (0usize, 0usize);
    for i in (0..g.len()).filter(|&i| out[i] && !near[i] && g.patient(i)[2] > centre_z) {
        shell += 1;
        bone += skull(g.values[i]) as usize;
    }
    if shell == 0 || (bone as f64) < VAULT_SKULL_AT_LEAST * shell as f64 {
        return Err(Undefaceable::NoBrain);
    }
    Ok((brain, head))
}

/// Where a head's brain is: the middle of the head's top 20 mm, that far down.
fn seed(g: &Grid, head: &[bool]) -> Option<Vec3> {
    let top = (0..g.len())
        .filter(|&i| head[i])
        .map(|i| g.patient(i)[2])
        .fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return None;
    }
    let (mut sum, mut n) = ([0.0; 3], 0.0);
    for i in (0..g.len()).filter(|&i| head[i]) {
        let p = g.patient(i);
        if p[2] >= top - 20.0 {
            (0..3).for_each(|a| sum[a] += p[a]);
            n += 1.0;
        }
    }
    Some([sum[0] / n, sum[1] / n, top - SEED_BELOW_TOP_MM])
}
