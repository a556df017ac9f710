//! Types of the generated tables (see generated.rs).
//!
//! `generated.rs` is written by `scripts/gen_profile_table.py` from PS3.15
//! Table E.1-1 and Table E.3.10-1; this file is hand-written.

/// Which attribute(s) a row of Table E.1-1 applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPattern {
    /// One attribute, `(group, element)`.
    Exact(u16, u16),
    /// A repeating group such as `(50xx,xxxx)` (`base: 0x5000, element: None`) or
    /// `(60xx,3000)` (`base: 0x6000, element: Some(0x3000)`): the even groups
    /// `base..=base + 0xFE`, and either every element or just `element`.
    RepeatingGroup { base: u16, element: Option<u16> },
    /// `(gggg,eeee)` with gggg odd: every private attribute (including the
    /// private creator elements). Odd groups 0x0001-0x0007 and 0xFFFF are not
    /// private groups and are not matched.
    AllPrivate,
}

/// One row of PS3.15 Table E.1-1.
#[derive(Debug, Clone, Copy)]
pub struct ProfileRow {
    pub tag: TagPattern,
    pub name: &'static str,
    pub retired: bool,
    /// Basic Profile action code, verbatim (e.g. "X", "Z", "X/Z/D", "X/Z/U*").
    pub basic: &'static str,
    /// Action codes of the 10 option columns, verbatim ("" = no change), in the
    /// order: rtnSafePrivOpt, rtnUIDsOpt, rtnDevIdOpt, rtnInstIdOpt,
    /// rtnPatCharsOpt, rtnLongFullDatesOpt, rtnLongModifDatesOpt, cleanDescOpt,
    /// cleanStructContOpt, cleanGraphOpt.
    pub options: [&'static str; 10],
}

/// One row of PS3.15 Table E.3.10-1 (Safe Private Attributes): the attribute
/// `(group, xxEE)` with `EE == element`, where `xx` is the block reserved by
/// private creator `creator`.
#[derive(Debug, Clone, Copy)]
pub struct SafePrivateRow {
    pub group: u16,
    /// Low byte of the element number.
    pub element: u8,
    pub creator: &'static str,
    /// VR as given by the standard's table; "" where the table gives none.
    pub vr: &'static str,
}

impl TagPattern {
    /// Whether the attribute `(group, element)` is covered by this pattern.
    pub fn matches(&self, group: u16, element: u16) -> bool {
        match *self {
            TagPattern::Exact(g, e) => g == group && e == element,
            TagPattern::RepeatingGroup {
                base,
                element: want,
            } => {
                group & 0xFF00 == base & 0xFF00
                    && group & 1 == 0
                    && want.is_none_or(|e| e == element)
            }
            TagPattern::AllPrivate => group & 1 == 1 && group > 0x0008 && group != 0xFFFF,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TagPattern;

    #[test]
    fn exact() {
        let p = TagPattern::Exact(0x0008, 0x0050);
        assert!(p.matches(0x0008, 0x0050));
        assert!(!p.matches(0x0008, 0x0051));
        assert!(!p.matches(0x0009, 0x0050));
    }

    #[test]
    fn repeating_group_any_element() {
        let p = TagPattern::RepeatingGroup {
            base: 0x5000,
            element: None,
        };
        assert!(p.matches(0x5000, 0x0000));
        assert!(p.matches(0x5002, 0x3000));
        assert!(p.matches(0x50FE, 0xFFFF));
        assert!(!p.matches(0x5001, 0x3000));
        assert!(!p.matches(0x50FF, 0x3000));
        assert!(!p.matches(0x5100, 0x3000));
        assert!(!p.matches(0x4FFE, 0x3000));
    }

    #[test]
    fn repeating_group_one_element() {
        let p = TagPattern::RepeatingGroup {
            base: 0x6000,
            element: Some(0x3000),
        };
        assert!(p.matches(0x6000, 0x3000));
        assert!(p.matches(0x601E, 0x3000));
        assert!(!p.matches(0x6000, 0x4000));
        assert!(!p.matches(0x6001, 0x3000));
        assert!(!p.matches(0x6100, 0x3000));
    }

    #[test]
    fn all_private() {
        let p = TagPattern::AllPrivate;
        assert!(p.matches(0x0009, 0x0010));
        assert!(p.matches(0x0029, 0x1010));
        assert!(p.matches(0x7FE1, 0x0001));
        assert!(p.matches(0xFFFD, 0x0000));
        for g in [
            0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF, 0x0008, 0x0010, 0x7FE0,
        ] {
            assert!(!p.matches(g, 0x0010), "group {g:#06x}");
        }
    }
}
