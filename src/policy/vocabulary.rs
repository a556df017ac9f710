//! The words a policy is made of: the ten options of Table E.1-1 and their codes, the
//! actions, why a rule applies, and the keys of private overrides and refusal exceptions.

/// The ten options of Table E.1-1, in the order of its option columns, then the Clean Pixel
/// Data and Clean Recognizable Visual Features Options (PS3.15 E.3.1, E.3.2), which have no
/// column: they act on pixels, not attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProfileOption {
    RetainSafePrivate,
    RetainUids,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainPatientCharacteristics,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    CleanDescriptors,
    CleanStructuredContent,
    CleanGraphics,
    CleanPixelData,
    CleanRecognizableVisualFeatures,
}

impl ProfileOption {
    pub const ALL: [ProfileOption; 12] = [
        ProfileOption::RetainSafePrivate,
        ProfileOption::RetainUids,
        ProfileOption::RetainDeviceIdentity,
        ProfileOption::RetainInstitutionIdentity,
        ProfileOption::RetainPatientCharacteristics,
        ProfileOption::RetainLongitudinalFullDates,
        ProfileOption::RetainLongitudinalModifiedDates,
        ProfileOption::CleanDescriptors,
        ProfileOption::CleanStructuredContent,
        ProfileOption::CleanGraphics,
        ProfileOption::CleanPixelData,
        ProfileOption::CleanRecognizableVisualFeatures,
    ];

    /// Index of this option's column in `ProfileRow::options`; `None` for the options that
    /// Table E.1-1 has no column for.
    pub fn column(self) -> Option<usize> {
        match self {
            ProfileOption::CleanPixelData | ProfileOption::CleanRecognizableVisualFeatures => None,
            o => Some(o as usize),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProfileOption::RetainSafePrivate => "retain-safe-private",
            ProfileOption::RetainUids => "retain-uids",
            ProfileOption::RetainDeviceIdentity => "retain-device-identity",
            ProfileOption::RetainInstitutionIdentity => "retain-institution-identity",
            ProfileOption::RetainPatientCharacteristics => "retain-patient-characteristics",
            ProfileOption::RetainLongitudinalFullDates => "retain-longitudinal-full-dates",
            ProfileOption::RetainLongitudinalModifiedDates => "retain-longitudinal-modified-dates",
            ProfileOption::CleanDescriptors => "clean-descriptors",
            ProfileOption::CleanStructuredContent => "clean-structured-content",
            ProfileOption::CleanGraphics => "clean-graphics",
            ProfileOption::CleanPixelData => "clean-pixel-data",
            ProfileOption::CleanRecognizableVisualFeatures => "clean-recognizable-visual-features",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Code of the option in CID 7050 (De-identification Method), scheme DCM.
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            ProfileOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            ProfileOption::RetainUids => ("113110", "Retain UIDs Option"),
            ProfileOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            ProfileOption::RetainInstitutionIdentity => {
                ("113112", "Retain Institution Identity Option")
            }
            ProfileOption::RetainPatientCharacteristics => {
                ("113108", "Retain Patient Characteristics Option")
            }
            ProfileOption::RetainLongitudinalFullDates => (
                "113106",
                "Retain Longitudinal Temporal Information Full Dates Option",
            ),
            ProfileOption::RetainLongitudinalModifiedDates => (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            ProfileOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            ProfileOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            ProfileOption::CleanGraphics => ("113103", "Clean Graphics Option"),
            ProfileOption::CleanPixelData => ("113101", "Clean Pixel Data Option"),
            ProfileOption::CleanRecognizableVisualFeatures => {
                ("113102", "Clean Recognizable Visual Features Option")
            }
        }
    }
}

/// What happens to one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// K: copied verbatim (a sequence's items are still processed).
    Keep,
    /// X: removed.
    Remove,
    /// Z: present with an empty value (a sequence with no items).
    Empty,
    /// D: a dummy value valid for the VR (a sequence's items are processed).
    Dummy,
    /// U: UIDs replaced by keyed `2.25.` UIDs (a sequence's items are processed).
    Uid,
    /// C: cleaned: free text loses what identifies, dates shift by the patient's offset.
    Clean,
    /// A keyed pseudonym for the patient (Patient ID, Patient Name).
    Pseudonym,
}

impl Action {
    /// Parses a Table E.1-1 code or a policy file's action name. Combined codes resolve to
    /// what keeps the object valid without keeping information: never removal when the
    /// attribute may be Type 1 or 2 in some IOD (PS3.15 E.1.1).
    pub fn parse(code: &str) -> Option<Action> {
        Some(match code {
            "K" | "keep" => Action::Keep,
            "X" | "remove" => Action::Remove,
            "Z" | "X/Z" | "empty" => Action::Empty,
            "D" | "X/D" | "Z/D" | "X/Z/D" | "dummy" => Action::Dummy,
            "U" | "X/Z/U*" | "uid" => Action::Uid,
            "C" | "clean" => Action::Clean,
            "pseudonym" => Action::Pseudonym,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Remove => "remove",
            Action::Empty => "empty",
            Action::Dummy => "dummy",
            Action::Uid => "uid",
            Action::Clean => "clean",
            Action::Pseudonym => "pseudonym",
        }
    }
}

/// Why an attribute gets its action, for `inspect` and the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The Basic Profile column, with its code as written in the table.
    Basic(&'static str),
    /// An option's column.
    Option(ProfileOption),
    /// A policy override.
    Override,
    /// Not in Table E.1-1: a standard attribute that the profile keeps.
    NotListed,
    /// In a standard group but unknown to the PS3.6 dictionary (a corrupt or non-standard
    /// tag): nothing says it is safe, so it is removed.
    Unknown,
    /// A private attribute in Table E.3.10-1 under retain-safe-private.
    SafePrivate,
    /// A private attribute of the research-safe vendor dictionary (`vendor_private`); a
    /// cleaned one says what structure its value is.
    Vendor(Option<Blob>),
}

/// A vendor's structured private value, cleaned by parsing it (`deid::vendor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Blob {
    /// Siemens CSA image or series header (SV10 or the older format).
    SiemensCsa,
    /// Siemens protocol text (ASCCONV and XProtocol), as Siemens XA stores it.
    SiemensProtocol,
    /// GE's gzip-compressed protocol data block.
    GeProtocol,
}

impl Blob {
    pub fn parse(s: &str) -> Option<Blob> {
        Some(match s {
            "siemens-csa" => Blob::SiemensCsa,
            "siemens-protocol" => Blob::SiemensProtocol,
            "ge-protocol" => Blob::GeProtocol,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Blob::SiemensCsa => "siemens-csa",
            Blob::SiemensProtocol => "siemens-protocol",
            Blob::GeProtocol => "ge-protocol",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub source: Source,
}

/// A private attribute's identity: creator string, group, low byte of the element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrivateKey {
    pub creator: String,
    pub group: u16,
    pub element: u8,
}

/// An exception to `refuse_modalities`: files matching all given fields are processed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Allow {
    pub modality: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
}

/// Four hexadecimal digits.
pub(super) fn hex4(s: &str) -> Option<u16> {
    if s.len() == 4 {
        u16::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// A private tag as policy files write it, `(gggg,xxEE)`: an odd group and the element's low
/// byte (its block is wherever the creator is).
pub(super) fn parse_private_tag(s: &str) -> Option<(u16, u8)> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (g, e) = inner.split_once(',')?;
    let group = hex4(g.trim())?;
    let e = e.trim();
    let low = e.strip_prefix("xx").or_else(|| e.strip_prefix("XX"))?;
    if group % 2 == 0 || low.len() != 2 {
        return None;
    }
    Some((group, u8::from_str_radix(low, 16).ok()?))
}
