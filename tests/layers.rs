//! The module graph has no cycle: not between top-level modules, and not between the parts of
//! one module (the engine's steps, the view's parts). `dicom` and `io` are leaves. Read from
//! the `crate::` and `super::` paths of every source file, tests included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path of a source file: `src/fs/inode.rs` -> ["fs", "inode"], `src/fs/mod.rs` ->
/// ["fs"], the crate root -> [].
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem);
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Paths a file names: `crate::a::b`, `super::a`, and the names inside `super::{a, b}`.
fn references(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            // `super` of src/fs/inode.rs is `fs`; of src/fs/mod.rs (module `fs`), the root.
            let mut b = module.to_vec();
            b.pop();
            b
        }),
    ] {
        for (i, _) in text.match_indices(prefix) {
            if text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &text[i + prefix.len()..];
            let heads: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(0);
                group[..end].split(',').map(|s| ident(s.trim())).collect()
            } else {
                let first = ident(rest);
                let after = &rest[first.len()..];
                let second = after.strip_prefix("::").map(ident).unwrap_or_default();
                vec![format!("{first}::{second}")]
            };
            for h in heads {
                let mut path = base.clone();
                path.extend(h.split("::").filter(|s| !s.is_empty()).map(String::from));
                out.push(path);
            }
        }
    }
    out
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut c = stack[from..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n.as_str())
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<Vec<String>> = all
        .iter()
        .map(|p| module_of(p.strip_prefix(&src).unwrap()))
        .collect();
    // Graphs: "" for the top level, "fs" for the parts of fs, and so on.
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for p in &all {
        let rel = p.strip_prefix(&src).unwrap();
        let me = module_of(rel);
        if me.is_empty() {
            continue; // the crate root declares everything
        }
        let text = std::fs::read_to_string(p).unwrap();
        for target in references(&text, &me) {
            // The longest prefix of the path that is a module.
            let Some(target) = (1..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|t| modules.contains(t))
            else {
                continue;
            };
            // Where the two paths part: an edge between siblings of their common parent.
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == target.len() {
                continue; // a module and its own parent or child
            }
            graphs
                .entry(me[..common].join("::"))
                .or_default()
                .entry(me[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    let top = graphs.get("").cloned().unwrap_or_default();
    for leaf in ["dicom", "io"] {
        assert!(
            top.get(leaf).is_none_or(|d| d.is_empty()),
            "{leaf} must be a leaf, but uses {:?}",
            top.get(leaf)
        );
    }
    for (parent, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            panic!(
                "import cycle in {}: {}",
                if parent.is_empty() {
                    "the crate"
                } else {
                    parent
                },
                cycle.join(" -> ")
            );
        }
    }
    assert!(top.len() > 10, "the graph was read: {top:?}");
}
