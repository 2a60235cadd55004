//! Frozen graphs: one `GraphDef` whose variables were turned into `Const` nodes
//! (`convert_variables_to_constants_v2`, or TF1's `freeze_graph`).
//!
//! Inputs are the `Placeholder`s the outputs need (in graph order, named after their
//! nodes); outputs are `--outputs` (`node` or `node:port`) or, by default, every node
//! nothing reads, except those that produce no model output (NoOp, Const, variables
//! and their bookkeeping).

use crate::error::{Result, TfError};
use crate::import::{Body, Importer, Ref, Resources};
use crate::proto::{GraphDef, NodeDef};
use crate::value::Val;
use crate::ImportOptions;
use bytes::Bytes;
use neoc_ir::{Graph, ValueId};
use prost::Message;
use std::collections::{HashMap, HashSet};

/// Op types that are never a frozen graph's output.
const NOT_OUTPUTS: &[&str] = &[
    "NoOp",
    "Const",
    "Placeholder",
    "PlaceholderWithDefault",
    "VarHandleOp",
    "VariableV2",
    "VarIsInitializedOp",
    "AssignVariableOp",
    "Assign",
    "SaveV2",
    "RestoreV2",
];

/// A frozen graph has no variables left.
struct Frozen {
    file: String,
}

impl Resources for Frozen {
    fn capture_count(&self, _: &str) -> usize {
        0
    }
    fn captures(&mut self, _: &mut Graph, _: &str) -> Result<Vec<crate::import::Captured>> {
        Ok(vec![])
    }
    fn variable(&mut self, _: &mut Graph, node: &NodeDef) -> Result<ValueId> {
        Err(TfError::Model {
            file: self.file.clone(),
            message: format!(
                "node \"{}\" is a variable ({}): this graph is not frozen; freeze it \
                 (tf.python.framework.convert_to_constants.convert_variables_to_constants_v2) \
                 or compile the SavedModel directory",
                node.name, node.op
            ),
        })
    }
}

/// Parses `node` or `node:port`.
fn parse_output(s: &str) -> Ref {
    match s.rsplit_once(':') {
        Some((n, p)) if p.parse::<usize>().is_ok() => {
            Ref::Node(n.to_string(), p.parse().unwrap_or(0))
        }
        _ => Ref::Node(s.to_string(), 0),
    }
}

fn output_name(r: &Ref) -> String {
    match r {
        Ref::Node(n, 0) => n.clone(),
        Ref::Node(n, p) => format!("{n}:{p}"),
        Ref::Arg(i) => format!("arg{i}"),
    }
}

/// The default outputs: nodes nothing reads (data or control), in graph order.
fn sinks(nodes: &[NodeDef]) -> Vec<Ref> {
    let mut read: HashSet<&str> = HashSet::new();
    for n in nodes {
        for i in &n.input {
            let i = i.strip_prefix('^').unwrap_or(i);
            read.insert(i.split(':').next().unwrap_or(i));
        }
    }
    nodes
        .iter()
        .filter(|n| !read.contains(n.name.as_str()) && !NOT_OUTPUTS.contains(&n.op.as_str()))
        .map(|n| Ref::Node(n.name.clone(), 0))
        .collect()
}

pub(crate) fn import(bytes: Bytes, file: &str, name: &str, opts: &ImportOptions) -> Result<Graph> {
    let gd = GraphDef::decode(bytes).map_err(|e| TfError::Decode {
        file: file.to_string(),
        message: format!(
            "not a TensorFlow GraphDef (a frozen .pb): {e}; for a SavedModel give its \
             directory"
        ),
    })?;
    if gd.node.is_empty() {
        return Err(TfError::Decode {
            file: file.to_string(),
            message: "the GraphDef has no nodes (not a frozen TensorFlow graph?)".into(),
        });
    }
    if opts.signature.is_some() {
        return Err(TfError::Model {
            file: file.to_string(),
            message: "--signature applies to SavedModel directories; a frozen graph has \
                      none (use --outputs)"
                .into(),
        });
    }
    let body = Body::graph(&gd.node);
    let wanted: Vec<Ref> = if opts.outputs.is_empty() {
        sinks(&gd.node)
    } else {
        opts.outputs.iter().map(|s| parse_output(s)).collect()
    };
    if wanted.is_empty() {
        return Err(TfError::Model {
            file: file.to_string(),
            message: "the graph has no outputs (every node is read by another); name them \
                      with --outputs"
                .into(),
        });
    }
    let mut res = Frozen {
        file: file.to_string(),
    };
    let lib = gd.library.as_ref().map_or(&[][..], |l| &l.function[..]);
    let mut imp = Importer::new(file.to_string(), name, lib, &mut res);
    let needed: HashSet<String> = imp
        .order(&body, &wanted, &HashSet::new())?
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let placeholders: Vec<&NodeDef> = gd
        .node
        .iter()
        .filter(|n| n.op == "Placeholder" && needed.contains(&n.name))
        .collect();
    let names: Vec<String> = placeholders.iter().map(|n| n.name.clone()).collect();
    crate::inputs::check_overrides(file, &names, &opts.input_shapes)?;
    let mut bound: HashMap<String, Vec<Val>> = HashMap::new();
    for p in placeholders {
        let dtype = crate::attrs::get(p, "dtype").map_or(0, |a| a.r#type);
        let shape = crate::attrs::get(p, "shape").and_then(|a| a.shape.as_ref());
        let ty = crate::inputs::input_type(
            file,
            &p.name,
            dtype,
            crate::tensor::shape_of(shape).as_deref(),
            &opts.input_shapes,
        )?;
        let v = imp.g.add_input(p.name.clone(), ty);
        let val = imp.input_val(v);
        bound.insert(p.name.clone(), vec![val]);
    }
    let bound_names: HashSet<String> = bound.keys().cloned().collect();
    imp.check_supported(&body, &wanted, &bound_names)?;
    let vals = imp.eval(&body, &[], &wanted, &bound, 0)?;
    let outs: Vec<(String, Val)> = wanted.iter().map(output_name).zip(vals).collect();
    imp.set_outputs(&outs)?;
    Ok(imp.g)
}
