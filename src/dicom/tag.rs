//! Data element tags: the (group, element) pair, its classes (private, private creator), and
//! the tags every layer names.

use std::fmt;

pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
pub const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
pub const SEQ_END: Tag = Tag(0xFFFE, 0xE0DD);
pub const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

// Attributes the engine reads or writes by name.
pub const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
pub const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
pub const MODALITY: Tag = Tag(0x0008, 0x0060);
pub const MANUFACTURER: Tag = Tag(0x0008, 0x0070);
pub const MODEL: Tag = Tag(0x0008, 0x1090);
pub const BURNED_IN: Tag = Tag(0x0028, 0x0301);
pub const PHOTOMETRIC: Tag = Tag(0x0028, 0x0004);
pub const PLANAR: Tag = Tag(0x0028, 0x0006);
pub const LOSSY: Tag = Tag(0x0028, 0x2110);
pub const RECOGNIZABLE_VISUAL_FEATURES: Tag = Tag(0x0028, 0x0302);
pub const EXTENDED_OFFSET_TABLE: Tag = Tag(0x7FE0, 0x0001);
pub const EXTENDED_OFFSET_TABLE_LENGTHS: Tag = Tag(0x7FE0, 0x0002);
pub const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
pub const ISSUER_OF_PATIENT_ID: Tag = Tag(0x0010, 0x0021);
pub const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000D);
pub const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000E);
pub const DIRECTORY_RECORDS: Tag = Tag(0x0004, 0x1220);
pub const PATIENT_IDENTITY_REMOVED: Tag = Tag(0x0012, 0x0062);
pub const DEID_METHOD: Tag = Tag(0x0012, 0x0063);
pub const DEID_METHOD_CODES: Tag = Tag(0x0012, 0x0064);
pub const LONGITUDINAL_MODIFIED: Tag = Tag(0x0028, 0x0303);
pub const TRAILING_PADDING: Tag = Tag(0xFFFC, 0xFFFC);
pub const DIGITAL_SIGNATURES: Tag = Tag(0xFFFA, 0xFFFA);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u16, pub u16);

impl Tag {
    pub fn is_private(self) -> bool {
        self.0 % 2 == 1 && self.0 != 0xFFFF
    }
    pub fn is_private_creator(self) -> bool {
        self.is_private() && (0x0010..=0x00FF).contains(&self.1)
    }
    pub fn as_u32(self) -> u32 {
        (u32::from(self.0) << 16) | u32::from(self.1)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}
