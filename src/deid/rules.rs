//! Which rule applies to each element of one data set: a pure function of the elements, their
//! private creators, the scope the data set sits in, and the policy. No bytes are read here.

use super::layout::Element;
use crate::dicom::Tag;
use crate::dicom::Vr;
use crate::dicom::tag::{DIGITAL_SIGNATURES, TRAILING_PADDING};
use crate::policy::{Action, Policy, Rule, Source};
use std::collections::BTreeSet;

/// How unlisted free text is treated inside a sequence: kept, replaced (inside a sequence
/// whose action is D, e.g. Content Sequence) or cleaned (inside a C sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Plain,
    Dummy,
    Clean,
}

/// What the object is, for the attributes Table E.1-1 removes that some IODs require. Only
/// the top-level data set has one; items get the default (nothing required).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Object {
    /// A Presentation State (its IOD has a Presentation State Identification module: `iod`).
    pub presentation_state: bool,
    /// The patient is an animal (Patient Species Description or Code Sequence present).
    pub animal: bool,
}

/// Whether an object's IOD requires an attribute.
type Requires = fn(Object) -> bool;

/// Attributes the table removes (X) that an IOD requires: Presentation Creation Date and
/// Time are Type 1 in every Presentation State; Responsible Person and Organization are Type
/// 2C for animal patients. There they get a dummy, or an empty value where Type 2 allows it,
/// which keeps no more than removal does. An option's column or an override wins over this.
const REQUIRED_BY_IOD: [(Tag, Requires, Action); 4] = [
    (Tag(0x0070, 0x0082), |o| o.presentation_state, Action::Dummy),
    (Tag(0x0070, 0x0083), |o| o.presentation_state, Action::Dummy),
    (Tag(0x0010, 0x2297), |o| o.animal, Action::Empty),
    (Tag(0x0010, 0x2299), |o| o.animal, Action::Empty),
];

/// The private creators of a data set: block (group, xx) -> creator string.
pub(super) type Creators = rustc_hash::FxHashMap<(u16, u8), String>;

const REMOVE_STRUCTURAL: Rule = Rule {
    action: Action::Remove,
    source: Source::Basic("-"),
};
const REMOVE: Rule = Rule {
    action: Action::Remove,
    source: Source::Basic("X"),
};

/// One rule per element, in order. A private creator is kept only when some element of its
/// block is kept: a creator without its elements would identify nothing but still say who.
pub(super) fn rules(
    elements: &[Element],
    creators: &Creators,
    scope: Scope,
    object: Object,
    policy: &Policy,
) -> Vec<Rule> {
    let mut kept_blocks = BTreeSet::new();
    let mut rules: Vec<Rule> = elements
        .iter()
        .map(|el| {
            let rule = rule_for(el, creators, scope, object, policy);
            if el.tag.is_private() && !el.tag.is_private_creator() && rule.action != Action::Remove
            {
                kept_blocks.insert((el.tag.0, (el.tag.1 >> 8) as u8));
            }
            rule
        })
        .collect();
    for (el, rule) in elements.iter().zip(rules.iter_mut()) {
        if el.tag.is_private_creator() && !kept_blocks.contains(&(el.tag.0, el.tag.1 as u8)) {
            *rule = REMOVE;
        }
    }
    rules
}

/// The rule of one element, before private creators are settled (they are kept here).
fn rule_for(
    el: &Element,
    creators: &Creators,
    scope: Scope,
    object: Object,
    policy: &Policy,
) -> Rule {
    let tag = el.tag;
    if tag.1 == 0x0000 || tag.0 == 0x0002 || tag == TRAILING_PADDING || tag == DIGITAL_SIGNATURES {
        // Group lengths are retired and stale after edits; file meta elements in a data set
        // are misplaced (the meta is rebuilt); padding and signatures go.
        return REMOVE_STRUCTURAL;
    }
    if tag.is_private_creator() {
        return Rule {
            action: Action::Keep,
            source: Source::SafePrivate,
        };
    }
    if tag.is_private() {
        let block = (tag.0, (tag.1 >> 8) as u8);
        let creator = (tag.1 >= 0x1000).then(|| creators.get(&block)).flatten();
        return policy.private_rule(tag, creator.map(String::as_str));
    }
    if is_overlay_group(tag.0) && policy.public_rule(Tag(tag.0, 0x3000)).action == Action::Remove {
        // An overlay without its Overlay Data is invalid: the whole group goes.
        return REMOVE;
    }
    let mut r = policy.public_rule(tag);
    if r.source == Source::Basic("X")
        && let Some((_, _, action)) = REQUIRED_BY_IOD
            .iter()
            .find(|(t, required, _)| *t == tag && required(object))
    {
        return Rule {
            action: *action,
            source: Source::Basic("X, required by the IOD"),
        };
    }
    if r.source == Source::NotListed && matches!(el.value_vr(), Vr::ST | Vr::LT | Vr::UT) {
        r.action = match scope {
            Scope::Plain => Action::Keep,
            Scope::Dummy => Action::Dummy,
            Scope::Clean => Action::Clean,
        };
    }
    r
}

fn is_overlay_group(group: u16) -> bool {
    group & 0xFF00 == 0x6000 && group % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::layout::Body;
    use crate::dicom::Encoding;

    fn el(g: u16, e: u16, vr: Vr) -> Element {
        Element {
            tag: Tag(g, e),
            vr,
            enc: Encoding::EXPLICIT_LE,
            start: 0,
            value_start: 0,
            len: Some(0),
            end: 0,
            body: Body::Primitive,
        }
    }

    fn basic() -> Policy {
        crate::policy::load_builtin("basic").unwrap()
    }

    #[test]
    fn a_private_creator_goes_when_its_whole_block_goes() {
        let elements = [el(0x0009, 0x0010, Vr::LO), el(0x0009, 0x1001, Vr::LO)];
        let creators = Creators::from_iter([((0x0009, 0x10), "ACME PRIVATE".to_string())]);
        let r = rules(
            &elements,
            &creators,
            Scope::Plain,
            Object::default(),
            &basic(),
        );
        assert_eq!(r[0].action, Action::Remove);
        assert_eq!(r[1].action, Action::Remove);
    }

    #[test]
    fn a_private_creator_stays_while_an_element_of_its_block_is_kept() {
        let mut p = basic();
        p.private_overrides.insert(
            crate::policy::PrivateKey {
                creator: "ACME PRIVATE".into(),
                group: 0x0009,
                element: 0x01,
            },
            Action::Keep,
        );
        let elements = [el(0x0009, 0x0010, Vr::LO), el(0x0009, 0x1001, Vr::LO)];
        let creators = Creators::from_iter([((0x0009, 0x10), "ACME PRIVATE".to_string())]);
        let r = rules(&elements, &creators, Scope::Plain, Object::default(), &p);
        assert_eq!(r[0].action, Action::Keep);
        assert_eq!(r[1].action, Action::Keep);
    }

    #[test]
    fn an_overlay_goes_whole_when_its_data_goes() {
        let elements = [el(0x6000, 0x0010, Vr::US), el(0x6002, 0x0022, Vr::LO)];
        let r = rules(
            &elements,
            &Creators::default(),
            Scope::Plain,
            Object::default(),
            &basic(),
        );
        assert!(r.iter().all(|r| r.action == Action::Remove), "{r:?}");
    }

    #[test]
    fn unlisted_free_text_follows_the_scope_of_its_sequence() {
        // Text Value (0040,A160), UT, is not in Table E.1-1.
        let text = [el(0x0040, 0xA160, Vr::UT)];
        let action = |scope| {
            rules(
                &text,
                &Creators::default(),
                scope,
                Object::default(),
                &basic(),
            )[0]
            .action
        };
        assert_eq!(action(Scope::Plain), Action::Keep);
        assert_eq!(action(Scope::Dummy), Action::Dummy);
        assert_eq!(action(Scope::Clean), Action::Clean);
    }

    #[test]
    fn group_lengths_meta_elements_padding_and_signatures_are_removed() {
        for (g, e) in [
            (0x0008, 0x0000),
            (0x0002, 0x0010),
            (0xFFFC, 0xFFFC),
            (0xFFFA, 0xFFFA),
        ] {
            let r = rules(
                &[el(g, e, Vr::UN)],
                &Creators::default(),
                Scope::Plain,
                Object::default(),
                &basic(),
            );
            assert_eq!(r[0].action, Action::Remove, "({g:04X},{e:04X})");
        }
    }

    #[test]
    fn attributes_an_iod_requires_stay_there_as_dummies_and_go_everywhere_else() {
        let elements = [
            el(0x0070, 0x0082, Vr::DA),
            el(0x0070, 0x0083, Vr::TM),
            el(0x0010, 0x2297, Vr::PN),
            el(0x0010, 0x2299, Vr::LO),
        ];
        let actions = |o: Object, p: &Policy| -> Vec<Action> {
            rules(&elements, &Creators::default(), Scope::Plain, o, p)
                .iter()
                .map(|r| r.action)
                .collect()
        };
        use Action::*;
        let p = basic();
        assert_eq!(actions(Object::default(), &p), [Remove; 4]);
        let ps = Object {
            presentation_state: true,
            animal: false,
        };
        assert_eq!(actions(ps, &p), [Dummy, Dummy, Remove, Remove]);
        let animal = Object {
            presentation_state: false,
            animal: true,
        };
        assert_eq!(actions(animal, &p), [Remove, Remove, Empty, Empty]);
        // The option's column wins: full dates keep the date, modified dates shift it.
        for (option, date) in [
            ("retain-longitudinal-full-dates", Keep),
            ("retain-longitudinal-modified-dates", Clean),
        ] {
            let p = crate::policy::file::with_options(basic(), &[option.into()]).unwrap();
            assert_eq!(actions(ps, &p)[0], date, "{option}");
        }
    }
}
