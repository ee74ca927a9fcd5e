//! The module graph of `src/`: read from the source with `syn`, one node per
//! file, one edge per `crate::…`, `super::…` or `self::…` path a file names
//! (in `use` items and in code, through `use` aliases of modules), test
//! modules excluded. The rules are those of docs/ARCHITECTURE.md:
//!
//! 1. no cycle between files;
//! 2. `db` imports no `routes`, `views` or `auth::flows`;
//! 3. `views` imports no `routes`;
//! 4. `routes::pages` imports no `routes::api`;
//! 5. nothing imports the CLI (`cli`, `*::cli`, `*_cli`) but `main.rs` and
//!    `cli.rs`;
//! 6. the domain core (`evidence::{bundle, chain, score, controls}` and
//!    `log::*`) imports nothing of the
//!    portal but itself;
//! 7. below the handlers, code uses of `views` only the shared kit
//!    (`views::format`, `views::emails`) and the audit log's CSV
//!    (`views::audit`, which the audit export and the packs write).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path such as `routes::api::audit`; the crate root is `crate`.
type Module = String;

/// A rule: its name and whether an edge (from, to) breaks it.
type Rule = (&'static str, fn(&str, &str) -> bool);

/// The rules of docs/ARCHITECTURE.md.
const RULES: &[Rule] = &[
    ("db imports no routes, views or auth::flows", |from, to| {
        under(from, "db") && (under(to, "routes") || under(to, "views") || to == "auth::flows")
    }),
    ("views import no routes", |from, to| under(from, "views") && under(to, "routes")),
    ("routes::pages import no routes::api", |from, to| {
        under(from, "routes::pages") && under(to, "routes::api")
    }),
    ("only main.rs and cli.rs import the CLI", |from, to| {
        is_cli(to) && !(from == "main" || from == "cli")
    }),
    ("the domain core imports only itself", |from, to| is_domain_core(from) && !is_domain_core(to)),
    (
        "below the handlers, only the shared kit of views (format, emails, the audit CSV)",
        |from, to| {
            under(to, "views")
                && !(under(from, "views")
                    || under(from, "routes")
                    || is_cli(from)
                    || from == "main")
                && !VIEW_KIT.contains(&to)
        },
    ),
];

/// What areas, the domain and `db` may use of `views`: formatting shared
/// with pages, mails, and the audit log's CSV (the export and the packs).
const VIEW_KIT: &[&str] = &["views::format", "views::emails", "views::audit"];

fn under(module: &str, area: &str) -> bool {
    module == area || module.strip_prefix(area).is_some_and(|rest| rest.starts_with("::"))
}

/// The command line: `cli`, an area's `X::cli`, or a `*_cli` module such
/// as `log::pack_cli`.
fn is_cli(module: &str) -> bool {
    module == "cli" || module.ends_with("::cli") || module.ends_with("_cli")
}

fn is_domain_core(module: &str) -> bool {
    // Everything under `log` (the standalone pack verifier is built from it
    // alone, so it must not reach outside).
    under(module, "log")
        || ["evidence::bundle", "evidence::chain", "evidence::score", "evidence::controls"]
            .contains(&module)
}

/// Every `.rs` file under `src/` with its module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let module = match parts.join("::").as_str() {
                "lib" => "crate".to_owned(),
                other => other.to_owned(),
            };
            (module, path)
        })
        .collect()
}

/// Paths one file names, as absolute segment lists (`["views", "format", "x"]`).
struct Collector<'a> {
    /// The module whose file this is (`super` and `self` resolve against it).
    here: Vec<String>,
    /// Local names that `use` bound to a crate path: `views` → `["views"]`.
    aliases: BTreeMap<String, Vec<String>>,
    paths: Vec<Vec<String>>,
    modules: &'a BTreeSet<Module>,
}

impl Collector<'_> {
    /// Resolves a path's leading `crate`/`super`/`self` or alias, if any.
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base = match first.as_str() {
            "crate" => vec![],
            "self" => self.here.clone(),
            "super" => {
                let mut base = self.here.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            name => {
                let target = self.aliases.get(name)?;
                let mut path = target.clone();
                path.extend(segments[1..].iter().cloned());
                return Some(path);
            }
        };
        base.extend(segments[1..].iter().cloned());
        Some(base)
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.bind(prefix, &n.ident.to_string(), &n.ident.to_string()),
            syn::UseTree::Rename(r) => {
                self.bind(prefix, &r.ident.to_string(), &r.rename.to_string())
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn bind(&mut self, prefix: &[String], name: &str, local: &str) {
        let mut segments = prefix.to_vec();
        if name != "self" {
            segments.push(name.to_owned());
        }
        let Some(path) = self.absolute(&segments) else { return };
        if self.modules.contains(&path.join("::")) {
            self.aliases.insert(
                if name == "self" {
                    prefix.last().cloned().unwrap_or_default()
                } else {
                    local.to_owned()
                },
                path.clone(),
            );
        }
        self.paths.push(path);
    }

    fn record(&mut self, segments: Vec<String>) {
        if let Some(path) = self.absolute(&segments) {
            self.paths.push(path);
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        // Test modules may reach anything.
        let is_test = item.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        if !is_test {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // maud's html! and format! arguments name paths inside their tokens.
        let mut tokens = Vec::new();
        flatten(mac.tokens.clone(), &mut tokens);
        let mut i = 0;
        while i < tokens.len() {
            let mut segments = Vec::new();
            let mut j = i;
            while let Some(Token::Ident(name)) = tokens.get(j) {
                segments.push(name.clone());
                if matches!(
                    (tokens.get(j + 1), tokens.get(j + 2)),
                    (Some(Token::Colon), Some(Token::Colon))
                ) {
                    j += 3;
                } else {
                    break;
                }
            }
            if segments.len() > 1 {
                self.record(segments);
                i = j + 1;
            } else {
                i += 1;
            }
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// A macro body, flattened to what path-finding needs.
enum Token {
    Ident(String),
    Colon,
    Other,
}

fn flatten(stream: proc_macro2::TokenStream, out: &mut Vec<Token>) {
    for tree in stream {
        match tree {
            proc_macro2::TokenTree::Ident(i) => out.push(Token::Ident(i.to_string())),
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => out.push(Token::Colon),
            proc_macro2::TokenTree::Group(g) => {
                out.push(Token::Other);
                flatten(g.stream(), out);
                out.push(Token::Other);
            }
            _ => out.push(Token::Other),
        }
    }
}

/// The file-level import graph of `src/`.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = modules(&src);
    let names: BTreeSet<Module> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("read source file");
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let here: Vec<String> = if module == "crate" {
            vec![]
        } else {
            module.split("::").map(str::to_owned).collect()
        };
        let mut collector =
            Collector { here, aliases: BTreeMap::new(), paths: Vec::new(), modules: &names };
        // Aliases first (a `use` may come after the code that relies on it).
        for item in &file.items {
            if let syn::Item::Use(u) = item {
                collector.visit_item_use(u);
            }
        }
        collector.paths.clear();
        collector.visit_file(&file);
        let mut edges = BTreeSet::new();
        for path in collector.paths {
            // The longest prefix that is a file of its own.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| names.contains(m))
                .unwrap_or_else(|| "crate".to_owned());
            if &target != module && target != "crate" {
                edges.insert(target);
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// Every cycle's members, one strongly connected component at a time (Tarjan).
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_module_graph_has_no_cycle_between_files() {
    let graph = graph();
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|members| {
            let edges: Vec<String> = members
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| members.contains(to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(described.is_empty(), "import cycles between files:\n{}", described.join("\n"));
}

#[test]
fn the_module_graph_keeps_its_layers() {
    let graph = graph();
    let mut broken = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            for (rule, breaks) in RULES {
                if breaks(from, to) {
                    broken.push(format!("{rule}: {from} -> {to}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering rules broken:\n{}", broken.join("\n"));
}

/// The reader itself: a graph with the cycles and rule breaks the tests
/// above look for is read as such (so they cannot pass by reading nothing).
#[test]
fn the_graph_reader_sees_uses_aliases_and_super_paths() {
    let graph = graph();
    // `lib.rs` declares modules but the CLI uses `crate::server`.
    assert!(graph["cli"].contains("server"), "cli -> server: {:?}", graph["cli"]);
    // Every file is a node and most import something.
    assert!(graph.len() > 50, "only {} files read", graph.len());
    let cyclic: BTreeMap<Module, BTreeSet<Module>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(cycles(&cyclic), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
    let (rule, breaks) = RULES[2];
    assert!(breaks("routes::pages::audit", "routes::api::audit"), "{rule}");
    assert!(!breaks("routes::pages::audit", "routes::pages::respond"), "{rule}");
    // The CLI rule knows every spelling of a CLI module, and the pack
    // verifier's command line is the CLI's to import (and nobody else's).
    let (rule, breaks) = RULES[3];
    for cli in ["cli", "reports::cli", "transfer::cli", "log::pack_cli"] {
        assert!(breaks("server", cli), "{rule}: {cli}");
        assert!(!breaks("cli", cli) && !breaks("main", cli), "{rule}: {cli}");
    }
    assert!(!breaks("server", "client"), "{rule}");
    assert!(graph["cli"].contains("log::pack_cli"), "cli -> log::pack_cli: {:?}", graph["cli"]);
    let (rule, breaks) = RULES[5];
    assert!(breaks("reports::pdf", "views::dashboard"), "{rule}");
    assert!(
        !breaks("reports::pdf", "views::format") && !breaks("users", "views::emails"),
        "{rule}"
    );
    assert!(!breaks("routes::pages::audit", "views::audit"), "{rule}");
    assert!(
        graph["users"].contains("views::emails"),
        "users -> views::emails: {:?}",
        graph["users"]
    );
}
