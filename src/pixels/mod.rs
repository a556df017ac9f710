//! Burned-in text in pixels (PS3.15 Clean Pixel Data Option): where it is (device rules, the
//! Sequence of Ultrasound Regions), and masks that blank it in native frames without changing
//! their size, and encapsulated frames decoded so they can be. Depends only on `dicom` and `io`:
//! the engine reads the header and asks here.

pub mod decode;
pub mod detect;
pub mod frames;
pub mod geometry;
pub mod mask;
pub mod rules;
pub mod screen;

pub use geometry::{Geometry, GeometryError, Photometric, PixelHeader, Rect};
pub use mask::{Mask, MaskError, Op};
