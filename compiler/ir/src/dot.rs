//! Graphviz (DOT) rendering of a graph, for looking at what the passes did:
//! `neoc inspect --dot model.onnx | dot -Tsvg > g.svg`.
//!
//! - an operator is a box labelled with its op and key attributes, then its output type;
//!   its node name is the tooltip;
//! - an edge is labelled with the type of the tensor it carries;
//! - graph inputs are `invhouse` shapes, graph outputs `house` shapes;
//! - constants are hidden unless [`DotOptions::show_constants`] (they are most of the
//!   edges of a real model and say little about its structure);
//! - a fused node (`Elementwise`, `Fused`) is a `subgraph cluster_N` box holding its
//!   anchor op and one node per epilogue instruction, so fused groups are visible as
//!   groups; its operands enter at the anchor or at the `inK` instruction that reads them.
//!
//! DOT ids are derived from the canonical numbering ([`crate::print::Numbering`]), so the
//! output is stable for a given graph.

use crate::graph::{Graph, ValueDef, ValueId};
use crate::ops::{ElemInstr, ElemProgram, Op, PoolKind};
use crate::print::Numbering;
use std::fmt::Write;

/// What [`to_dot_with`] draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DotOptions {
    /// Draw constants (as `note` shapes) and their edges.
    pub show_constants: bool,
}

/// The graph as a DOT `digraph` titled `title`, constants hidden.
pub fn to_dot(graph: &Graph, title: &str) -> String {
    to_dot_with(graph, title, &DotOptions::default())
}

/// The graph as a DOT `digraph` titled `title`.
pub fn to_dot_with(graph: &Graph, title: &str, opts: &DotOptions) -> String {
    let num = Numbering::of(graph);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "digraph {} {{", quote(title));
    let _ = writeln!(
        w,
        "  label={}; labelloc=t; fontname=\"monospace\";",
        quote(title)
    );
    let _ = writeln!(
        w,
        "  node [shape=box, style=rounded, fontname=\"monospace\", fontsize=10];"
    );
    let _ = writeln!(w, "  edge [fontname=\"monospace\", fontsize=8];");

    for (i, &v) in graph.inputs().iter().enumerate() {
        let val = graph.value(v);
        let _ = writeln!(
            w,
            "  in{i} [shape=invhouse, style=filled, fillcolor=\"#dde8ff\", label={}];",
            quote(&format!("{}\n{}", val.name, val.ty))
        );
    }
    if opts.show_constants {
        for &v in &num.consts {
            let val = graph.value(v);
            let _ = writeln!(
                w,
                "  {} [shape=note, color=gray, fontcolor=gray, label={}];",
                const_id(&num, v),
                quote(&format!("{}\n{}", val.name, val.ty))
            );
        }
    }

    // The DOT node a value comes out of, or `None` for a hidden constant.
    let source = |v: ValueId| -> Option<String> {
        match graph.value(v).def {
            ValueDef::Input(i) => Some(format!("in{i}")),
            ValueDef::Const(_) => opts.show_constants.then(|| const_id(&num, v)),
            ValueDef::Node(n, _) => num
                .nodes
                .iter()
                .position(|m| *m == n)
                .map(|k| exit_id(k, &graph.node(n).op)),
        }
    };
    let edge = |w: &mut String, from: Option<String>, to: &str, v: ValueId| {
        if let Some(from) = from {
            let _ = writeln!(
                w,
                "  {from} -> {to} [label={}];",
                quote(&graph.value(v).ty.to_string())
            );
        }
    };

    let mut clusters = 0;
    for (k, &n) in num.nodes.iter().enumerate() {
        let node = graph.node(n);
        let ty = node
            .outputs
            .iter()
            .map(|v| graph.value(*v).ty.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match &node.op {
            Op::Elementwise(p) => {
                let entries = cluster(w, &mut clusters, k, &node.name, None, p, &ty);
                for (i, v) in node.inputs.iter().enumerate() {
                    if let (Some(v), Some(to)) = (v, entries.get(i).filter(|e| !e.is_empty())) {
                        edge(w, source(*v), to, *v);
                    }
                }
            }
            Op::Fused(f) => {
                let anchor = format!("n{k}_anchor");
                let entries = cluster(
                    w,
                    &mut clusters,
                    k,
                    &node.name,
                    Some((&anchor, &f.anchor)),
                    &f.epilogue,
                    &ty,
                );
                for (i, v) in node.inputs.iter().enumerate() {
                    let to = if i < f.anchor_inputs {
                        Some(&anchor)
                    } else {
                        entries
                            .get(i - f.anchor_inputs + 1)
                            .filter(|e| !e.is_empty())
                    };
                    if let (Some(v), Some(to)) = (v, to) {
                        edge(w, source(*v), to, *v);
                    }
                }
            }
            op => {
                let _ = writeln!(
                    w,
                    "  n{k} [label={}, tooltip={}];",
                    quote(&format!("{}\n{ty}", label(op))),
                    quote(&node.name)
                );
                for v in node.inputs.iter().flatten() {
                    edge(w, source(*v), &format!("n{k}"), *v);
                }
            }
        }
    }

    for (i, &v) in graph.outputs().iter().enumerate() {
        let val = graph.value(v);
        let _ = writeln!(
            w,
            "  out{i} [shape=house, style=filled, fillcolor=\"#ffe8cc\", label={}];",
            quote(&format!("{}\n{}", val.name, val.ty))
        );
        edge(w, source(v), &format!("out{i}"), v);
    }
    out.push_str("}\n");
    out
}

fn const_id(num: &Numbering, v: ValueId) -> String {
    format!("c{}", num.id(v).unwrap_or(usize::MAX))
}

/// The DOT node the result of printed node `k` leaves from.
fn exit_id(k: usize, op: &Op) -> String {
    match op {
        Op::Elementwise(p) => format!("n{k}_i{}", p.instrs.len().saturating_sub(1)),
        Op::Fused(f) => format!("n{k}_i{}", f.epilogue.instrs.len().saturating_sub(1)),
        _ => format!("n{k}"),
    }
}

/// Writes the cluster of a fused node: the optional anchor, then one DOT node per
/// instruction. Returns, for each program input `inK`, the DOT node that receives it
/// (empty: the program does not read that input, or it is a fused node's anchor result).
fn cluster(
    w: &mut String,
    clusters: &mut usize,
    k: usize,
    name: &str,
    anchor: Option<(&String, &Op)>,
    p: &ElemProgram,
    ty: &str,
) -> Vec<String> {
    let kind = if anchor.is_some() {
        "Fused"
    } else {
        "Elementwise"
    };
    let _ = writeln!(w, "  subgraph cluster_{clusters} {{");
    *clusters += 1;
    let _ = writeln!(
        w,
        "    label={}; style=\"rounded,filled\"; fillcolor=\"#f4f4f4\"; color=\"#888888\";",
        quote(&format!("{kind} {name}\n{ty}"))
    );
    if let Some((id, op)) = anchor {
        let _ = writeln!(
            w,
            "    {id} [style=\"rounded,filled\", fillcolor=white, label={}];",
            quote(&label(op))
        );
    }
    let mut entries = vec![String::new(); p.num_inputs()];
    for (j, instr) in p.instrs.iter().enumerate() {
        let id = format!("n{k}_i{j}");
        let (lbl, shape) = match instr {
            ElemInstr::Input(i) => {
                if let Some(e) = entries.get_mut(*i) {
                    if e.is_empty() {
                        *e = id.clone();
                    }
                }
                (format!("in{i}"), "circle")
            }
            ElemInstr::Const(c) => (format!("{c:?}"), "plaintext"),
            ElemInstr::Unary(u, _) => {
                let a = u.attrs();
                let l = if a.is_empty() {
                    u.name().to_string()
                } else {
                    format!("{} {a}", u.name())
                };
                (l, "box")
            }
            ElemInstr::Binary(b, ..) => (b.name().to_string(), "box"),
        };
        let _ = writeln!(
            w,
            "    {id} [shape={shape}, style=\"rounded,filled\", fillcolor=white, label={}];",
            quote(&lbl)
        );
        match instr {
            ElemInstr::Unary(_, a) => {
                let _ = writeln!(w, "    n{k}_i{a} -> {id};");
            }
            ElemInstr::Binary(_, a, b) => {
                let _ = writeln!(w, "    n{k}_i{a} -> {id};");
                let _ = writeln!(w, "    n{k}_i{b} -> {id};");
            }
            ElemInstr::Input(0) => {
                if let Some((a, _)) = anchor {
                    let _ = writeln!(w, "    {a} -> {id};");
                }
            }
            _ => {}
        }
    }
    let _ = writeln!(w, "  }}");
    // For a fused node, input 0 of the program is the anchor's result, not an operand.
    if anchor.is_some() {
        if let Some(e) = entries.first_mut() {
            e.clear();
        }
    }
    entries
}

/// The op with its key attributes, short: `Conv 3x3 /2 g=32`, `MaxPool 3x3 /2`.
fn label(op: &Op) -> String {
    let x = |v: &[u64]| {
        v.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    };
    let window = |kernel: &[u64], strides: &[u64], dil: &[u64], pads: &[u64]| {
        let mut s = format!(" {}", x(kernel));
        if strides.iter().any(|&d| d != 1) {
            s += &format!(" /{}", x(strides));
        }
        if dil.iter().any(|&d| d != 1) {
            s += &format!(" dil={}", x(dil));
        }
        if pads.iter().any(|&d| d != 0) {
            s += &format!(" pad={pads:?}");
        }
        s
    };
    match op {
        Op::Conv(c) | Op::BlockedConv(crate::ops::BlockedConv { conv: c, .. }) => {
            let mut s = format!(
                "{}{}",
                op.name(),
                window(&c.kernel, &c.strides, &c.dilations, &c.pads)
            );
            if c.group != 1 {
                s += &format!(" g={}", c.group);
            }
            s
        }
        Op::Pool(p) => {
            let mut s = format!(
                "{}{}",
                op.name(),
                window(&p.kernel, &p.strides, &p.dilations, &p.pads)
            );
            if p.ceil_mode {
                s += " ceil";
            }
            if let PoolKind::Avg {
                count_include_pad: true,
            } = p.kind
            {
                s += " incl_pad";
            }
            s
        }
        Op::Gemm(g) => {
            let mut s = "Gemm".to_string();
            if g.trans_a {
                s += " Aᵀ";
            }
            if g.trans_b {
                s += " Bᵀ";
            }
            if g.alpha != 1.0 || g.beta != 1.0 {
                s += &format!(" α={:?} β={:?}", g.alpha, g.beta);
            }
            s
        }
        Op::Fused(f) => format!("Fused {}", label(&f.anchor)),
        other => other.to_string(),
    }
}

/// A DOT double-quoted string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Declared node ids and edge endpoints, with braces checked outside strings.
    fn check_structure(dot: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
        let mut depth = 0i32;
        let mut in_str = false;
        let mut esc = false;
        for c in dot.chars() {
            match (in_str, esc, c) {
                (true, true, _) => esc = false,
                (true, false, '\\') => esc = true,
                (_, false, '"') => in_str = !in_str,
                (false, _, '{') => depth += 1,
                (false, _, '}') => {
                    depth -= 1;
                    assert!(depth >= 0, "unbalanced braces:\n{dot}");
                }
                _ => {}
            }
        }
        assert_eq!(depth, 0, "unbalanced braces:\n{dot}");
        assert!(!in_str, "unterminated string:\n{dot}");
        let mut nodes = BTreeSet::new();
        let mut edges = Vec::new();
        for line in dot.lines().map(str::trim) {
            if let Some((a, rest)) = line.split_once(" -> ") {
                let b = rest.split([' ', ';']).next().unwrap_or("");
                edges.push((a.to_string(), b.to_string()));
            } else if let Some((id, _)) = line.split_once(" [") {
                if !matches!(id, "node" | "edge") {
                    nodes.insert(id.to_string());
                }
            }
        }
        for (a, b) in &edges {
            assert!(
                nodes.contains(a) && nodes.contains(b),
                "edge {a} -> {b} to an undeclared node:\n{dot}"
            );
        }
        (nodes, edges)
    }

    #[test]
    fn every_node_is_drawn_and_fused_nodes_are_clusters() {
        let g = crate::parse::tests::every_op();
        let dot = to_dot(&g, "every \"op\"");
        assert!(dot.starts_with("digraph \"every \\\"op\\\"\" {"));
        let (nodes, edges) = check_structure(&dot);
        let num = Numbering::of(&g);
        for (k, n) in num.nodes.iter().enumerate() {
            let id = exit_id(k, &g.node(*n).op);
            assert!(
                nodes.contains(&id),
                "node {k} ({}) not drawn",
                g.node(*n).name
            );
        }
        for i in 0..g.inputs().len() {
            assert!(nodes.contains(&format!("in{i}")));
        }
        for (i, v) in g.outputs().iter().enumerate() {
            if g.const_value(*v).is_some() {
                continue; // hidden
            }
            assert!(
                edges.iter().any(|(_, b)| *b == format!("out{i}")),
                "out{i} not connected"
            );
        }
        assert_eq!(dot.matches("subgraph cluster_").count(), 2);
        assert!(dot.contains("_anchor -> "), "the anchor feeds its epilogue");
        assert!(dot.contains("shape=invhouse") && dot.contains("shape=house"));
        assert!(dot.contains("label=\"f32[1,4,8,8]\""), "edges carry types");
        assert!(
            !dot.contains("shape=note"),
            "constants are hidden by default"
        );

        let shown = to_dot_with(
            &g,
            "g",
            &DotOptions {
                show_constants: true,
            },
        );
        let (nodes, _) = check_structure(&shown);
        assert_eq!(
            nodes.iter().filter(|n| n.starts_with('c')).count(),
            num.consts.len()
        );
        run_dot(&shown);
    }

    /// Renders with Graphviz when it is installed.
    fn run_dot(text: &str) {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("graphviz `dot` is not installed; skipping the rendering check");
            return;
        };
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dot failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
}
