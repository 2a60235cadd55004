//! The import algorithm: a decoded [`ModelProto`] → a typed IR [`Graph`].
//!
//! 1. Find the default-domain opset; refuse models outside the supported range.
//! 2. Check every node, including those of subgraphs (If branches, Loop and Scan
//!    bodies), against the registry and report all unsupported ops at once.
//! 3. Initializers become constants (also those listed as graph inputs, as IR < 4
//!    models do); the remaining graph inputs get their declared types, with
//!    `--input-shape` overrides, and every dim must end up static.
//! 4. Nodes are built in model order (ONNX requires topological order); the IR infers
//!    types and folds constant subgraphs as each node is added. Control-flow builders
//!    (`ops/control.rs`) import subgraphs through [`import_subgraph`]: a subgraph's
//!    names resolve in its own [`Scope`] first, then in the enclosing ones; its IR
//!    names get the parent node's name and a tag (branch, iteration) as a prefix.
//! 5. Graph outputs are looked up and checked against their declared types.

use crate::attrs::Attrs;
use crate::context::{NodeCtx, Sequence};
use crate::error::{OnnxError, Result, UnsupportedOp};
use crate::ops::{self, MAX_OPSET, MIN_OPSET};
use crate::proto::{GraphProto, ModelProto, NodeProto};
use crate::reader::{decl_type, dtype_of, onnx_type_name, DeclDim, TensorError, TensorReader};
use crate::ImportOptions;
use neoc_ir::{Graph, IrError, Op, TensorType, ValueId};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The opset version per (normalised) domain, and the default domain's version.
#[derive(Debug)]
pub(crate) struct Opsets {
    versions: HashMap<String, i64>,
    pub(crate) default: i64,
}

impl Opsets {
    /// The model's opset imports; `default` is 0 when it imports no default-domain
    /// opset.
    pub(crate) fn of(model: &ModelProto) -> Opsets {
        let mut versions = HashMap::new();
        for o in &model.opset_import {
            versions.insert(ops::normalize_domain(&o.domain).to_string(), o.version);
        }
        let default = versions.get("").copied().unwrap_or(0);
        Opsets { versions, default }
    }

    /// The imported version of `domain`, 0 when the model imports none.
    pub(crate) fn version(&self, domain: &str) -> i64 {
        self.versions
            .get(ops::normalize_domain(domain))
            .copied()
            .unwrap_or(0)
    }
}

/// The graph of `model`, or an error when it has none.
pub(crate) fn graph_of<'m>(model: &'m ModelProto, file: &str) -> Result<&'m GraphProto> {
    model.graph.as_ref().ok_or_else(|| OnnxError::EmptyGraph {
        file: file.into(),
        message: "the model has no graph".into(),
    })
}

/// The node name used in messages and the IR: the model's, or `<op_type>_<index>`.
fn node_name(op_type: &str, name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("{op_type}_{index}")
    } else {
        name.to_string()
    }
}

/// Imports `model`; `file` names it in errors, `base_dir` resolves external data.
pub(crate) fn import_model(
    model: &ModelProto,
    file: &str,
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Graph> {
    let g = graph_of(model, file)?;
    let opsets = Opsets::of(model);
    if opsets.default == 0 {
        // Without a default-domain opset only other domains' ops can be meant: name
        // them (with their domains) if there are any, as any unsupported op is named.
        // A graph whose nodes are all supported ops of other domains (ai.onnx.ml,
        // ai.onnx.preview.training) imports without one.
        check_supported(g, &opsets, file)?;
        if g.node.is_empty() {
            return Err(OnnxError::MissingOpset { file: file.into() });
        }
    } else if !(MIN_OPSET..=MAX_OPSET).contains(&opsets.default) {
        return Err(OnnxError::UnsupportedOpset {
            file: file.into(),
            version: opsets.default,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    if g.output.is_empty() {
        return Err(OnnxError::EmptyGraph {
            file: file.into(),
            message: "the graph has no outputs".into(),
        });
    }
    check_supported(g, &opsets, file)?;

    let name = if g.name.is_empty() { file } else { &g.name };
    let mut graph = Graph::new(name);
    let mut reader = TensorReader::new(base_dir);
    let mut values: HashMap<&str, ValueId> = HashMap::new();

    for t in &g.initializer {
        let tensor = reader.tensor(t).map_err(|e| match e {
            TensorError::External(message) => OnnxError::ExternalData {
                file: file.into(),
                tensor: t.name.clone(),
                message,
            },
            TensorError::Invalid(m) => OnnxError::InvalidModel {
                file: file.into(),
                message: format!("initializer \"{}\": {m}", t.name),
            },
        })?;
        values.insert(&t.name, graph.add_const(&t.name, tensor));
    }
    add_inputs(g, &mut graph, &mut values, file, opts)?;

    let mut used = HashSet::new();
    collect_used(g, &mut used);
    let state = ImportState {
        opsets: &opsets,
        file,
        used,
        budget: Cell::new(MAX_UNROLLED_NODES),
    };
    let mut scope = Scope {
        local: values,
        seqs: HashMap::new(),
        parent: None,
    };
    build_nodes(&mut graph, &mut reader, &state, &mut scope, &g.node, "")?;
    let (values, seqs) = (scope.local, scope.seqs);

    let mut outputs = Vec::with_capacity(g.output.len());
    for o in &g.output {
        if let (None, Some(seq)) = (values.get(o.name.as_str()), seqs.get(o.name.as_str())) {
            // A sequence output: one graph output per element, `<name>[i]`.
            for (i, &e) in seq.elems.iter().enumerate() {
                let name = format!("{}[{i}]", o.name);
                let out = graph
                    .add_node(&name, Op::Identity, vec![Some(e)], vec![name.clone()])
                    .map_err(|source| OnnxError::Node {
                        file: file.into(),
                        node: name.clone(),
                        op: "Identity".into(),
                        source: Box::new(source),
                    })?;
                outputs.extend(out);
            }
            continue;
        }
        let Some(&v) = values.get(o.name.as_str()) else {
            return Err(OnnxError::InvalidModel {
                file: file.into(),
                message: format!(
                    "graph output \"{}\" is not produced by any node, input or initializer",
                    o.name
                ),
            });
        };
        if opts.input_shapes.is_empty() {
            check_output_type(&o.name, decl_type(o).ok(), &graph.value(v).ty, file)?;
        }
        outputs.push(v);
    }
    graph.set_outputs(outputs);
    Ok(graph)
}

/// The most subgraph nodes one import may build while unrolling control flow (every
/// If branch, Loop iteration and Scan step imports its subgraph's nodes again, plus
/// one for the import itself): a long or unbounded loop is refused with this limit
/// named instead of exhausting memory.
pub(crate) const MAX_UNROLLED_NODES: u64 = 100_000;

/// What importing a subgraph needs from the whole model.
#[derive(Debug)]
pub(crate) struct ImportState<'m> {
    opsets: &'m Opsets,
    file: &'m str,
    /// Every name some node of any graph reads, and every graph's outputs: outputs a
    /// builder does not produce (Dropout's mask, ...) are an error only if in here.
    used: HashSet<&'m str>,
    /// Subgraph nodes still allowed (counts down from [`MAX_UNROLLED_NODES`]).
    budget: Cell<u64>,
}

/// The values a graph being imported can read: its own, then those of the enclosing
/// graphs (an ONNX subgraph may read any value of an outer scope by name).
#[derive(Debug)]
pub(crate) struct Scope<'s> {
    local: HashMap<&'s str, ValueId>,
    /// Sequence values (see `ops/sequence.rs`), which are not IR values.
    seqs: HashMap<&'s str, Sequence>,
    parent: Option<&'s Scope<'s>>,
}

impl Scope<'_> {
    fn get(&self, name: &str) -> Option<ValueId> {
        match self.local.get(name) {
            Some(&v) => Some(v),
            None => self.parent.and_then(|p| p.get(name)),
        }
    }

    fn get_seq(&self, name: &str) -> Option<&Sequence> {
        match self.seqs.get(name) {
            Some(s) => Some(s),
            None => self.parent.and_then(|p| p.get_seq(name)),
        }
    }
}

/// `name` inside the subgraph named by `prefix` (empty at the top level).
fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() || name.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Builds `nodes` in model order, reading and defining values in `scope`. IR node and
/// value names get `prefix`, so every unrolled copy of a subgraph is distinct.
fn build_nodes<'g>(
    graph: &mut Graph,
    reader: &mut TensorReader,
    state: &ImportState<'_>,
    scope: &mut Scope<'g>,
    nodes: &'g [NodeProto],
    prefix: &str,
) -> Result<()> {
    let file = state.file;
    for (index, node) in nodes.iter().enumerate() {
        let name = prefixed(prefix, &node_name(&node.op_type, &node.name, index));
        let node_err = |source: IrError| OnnxError::Node {
            file: file.into(),
            node: name.clone(),
            op: node.op_type.clone(),
            source: Box::new(source),
        };
        let opset = state.opsets.version(&node.domain);
        let Some(spec) = ops::lookup(&node.op_type, &node.domain, opset) else {
            return Err(node_err(IrError::Internal(
                "no registry entry after the support check".into(),
            )));
        };
        let mut inputs = Vec::with_capacity(node.input.len());
        let mut seq_inputs = Vec::with_capacity(node.input.len());
        for i in &node.input {
            seq_inputs.push(None);
            if i.is_empty() {
                inputs.push(None);
                continue;
            }
            match scope.get(i) {
                Some(v) => inputs.push(Some(v)),
                None if scope.get_seq(i).is_some() => {
                    inputs.push(None);
                    if let Some(last) = seq_inputs.last_mut() {
                        *last = scope.get_seq(i).cloned();
                    }
                }
                None => {
                    return Err(OnnxError::UndefinedValue {
                        file: file.into(),
                        node: name,
                        op: node.op_type.clone(),
                        value: i.clone(),
                    })
                }
            }
        }
        let out_names: Vec<String> = node.output.iter().map(|o| prefixed(prefix, o)).collect();
        let attrs = Attrs::new(&node.attribute, &name, &node.op_type);
        let mut ctx = NodeCtx::new(
            graph,
            attrs,
            opset,
            &name,
            &node.op_type,
            inputs,
            &out_names,
            reader,
        )
        .in_scope(state, &*scope)
        .with_sequences(seq_inputs);
        let outs = (spec.build)(&mut ctx).map_err(node_err)?;
        let seq_outs = std::mem::take(&mut ctx.seq_outputs);
        for (j, out) in node.output.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            if let Some((_, seq)) = seq_outs.iter().find(|(k, _)| *k == j) {
                scope.seqs.insert(out, seq.clone());
                continue;
            }
            match outs.get(j) {
                Some(&v) => {
                    scope.local.insert(out, v);
                }
                None if state.used.contains(out.as_str()) => {
                    return Err(node_err(IrError::Shape {
                        node: name.clone(),
                        op: node.op_type.clone(),
                        message: format!(
                            "output {j} (\"{out}\") is not supported (only the first {} \
                             output{} of {} can be used), but the model uses it",
                            outs.len(),
                            if outs.len() == 1 { "" } else { "s" },
                            node.op_type
                        ),
                    }))
                }
                None => {}
            }
        }
    }
    Ok(())
}

/// Imports one copy of subgraph `g` (an If branch, a Loop or Scan body) into `graph`
/// for the node `at` = (name, op): its inputs are bound to `bind` in order, names it
/// does not define are read from `outer`, and the values of its outputs are returned.
/// IR names get `prefix`. Errors name the innermost failing node.
#[allow(clippy::too_many_arguments)]
pub(crate) fn import_subgraph(
    graph: &mut Graph,
    reader: &mut TensorReader,
    state: &ImportState<'_>,
    outer: &Scope<'_>,
    g: &GraphProto,
    prefix: &str,
    bind: &[ValueId],
    (node, op): (&str, &str),
) -> std::result::Result<Vec<ValueId>, IrError> {
    let error = |message: String| IrError::Shape {
        node: node.to_string(),
        op: op.to_string(),
        message,
    };
    let cost = u64::try_from(g.node.len()).map_or(u64::MAX, |n| n.saturating_add(1));
    let left = state.budget.get();
    if cost > left {
        return Err(error(format!(
            "unrolling control flow would import more than {MAX_UNROLLED_NODES} subgraph \
             nodes (the limit); the loop is too long to unroll at compile time"
        )));
    }
    state.budget.set(left - cost);
    if g.input.len() != bind.len() {
        return Err(error(format!(
            "the subgraph \"{}\" declares {} input{}, but {} takes {}",
            g.name,
            g.input.len(),
            if g.input.len() == 1 { "" } else { "s" },
            op,
            bind.len()
        )));
    }
    let mut scope = Scope {
        local: HashMap::new(),
        seqs: HashMap::new(),
        parent: Some(outer),
    };
    for t in &g.initializer {
        let tensor = reader.tensor(t).map_err(|e| {
            error(format!(
                "subgraph initializer \"{}\": {}",
                t.name,
                e.message()
            ))
        })?;
        let v = graph.add_const(prefixed(prefix, &t.name), tensor);
        scope.local.insert(&t.name, v);
    }
    for (vi, &v) in g.input.iter().zip(bind) {
        let declared = decl_type(vi).ok().and_then(|d| dtype_of(d.elem));
        let actual = graph.value(v).ty.dtype;
        if declared.is_some_and(|d| d != actual) {
            return Err(error(format!(
                "subgraph input \"{}\" is declared {}, but is bound to a {actual} value",
                vi.name,
                declared.map_or(String::new(), |d| d.to_string())
            )));
        }
        scope.local.insert(&vi.name, v);
    }
    build_nodes(graph, reader, state, &mut scope, &g.node, prefix).map_err(|e| match e {
        OnnxError::Node { source, .. } => *source,
        OnnxError::UndefinedValue {
            node, op, value, ..
        } => IrError::Shape {
            node,
            op,
            message: format!(
                "reads \"{value}\", which is not defined by an earlier node, an input or \
                 an initializer of this subgraph or an enclosing graph"
            ),
        },
        other => error(other.to_string()),
    })?;
    g.output
        .iter()
        .map(|o| {
            scope.get(&o.name).ok_or_else(|| {
                if scope.get_seq(&o.name).is_some() {
                    return error(format!(
                        "subgraph output \"{}\" is a sequence: sequences leaving an If, Loop \
                         or Scan body are not supported",
                        o.name
                    ));
                }
                error(format!(
                    "subgraph output \"{}\" is not produced by any node, input or initializer",
                    o.name
                ))
            })
        })
        .collect()
}

/// Adds every name read by a node of `g` or of its subgraphs, and every graph output.
fn collect_used<'m>(g: &'m GraphProto, used: &mut HashSet<&'m str>) {
    for n in &g.node {
        used.extend(n.input.iter().map(String::as_str));
        for a in &n.attribute {
            for sub in a.g.iter().chain(&a.graphs) {
                collect_used(sub, used);
            }
        }
    }
    used.extend(g.output.iter().map(|o| o.name.as_str()));
}

/// Every node's op, in the graph and in its subgraphs (If branches, Loop and Scan
/// bodies), must have a registry entry; all misses are reported together.
fn check_supported(g: &GraphProto, opsets: &Opsets, file: &str) -> Result<()> {
    let mut missing: Vec<UnsupportedOp> = Vec::new();
    collect_unsupported(g, opsets, "", &mut missing);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OnnxError::UnsupportedOps {
            file: file.into(),
            ops: missing,
        })
    }
}

/// Adds the unsupported nodes of `g` and its subgraphs to `missing`; subgraph nodes are
/// named `<node>/<attribute>/<name>`. The nesting depth is bounded by the protobuf
/// decoder's recursion limit.
fn collect_unsupported(
    g: &GraphProto,
    opsets: &Opsets,
    prefix: &str,
    missing: &mut Vec<UnsupportedOp>,
) {
    for (index, node) in g.node.iter().enumerate() {
        let name = prefixed(prefix, &node_name(&node.op_type, &node.name, index));
        for a in &node.attribute {
            for sub in a.g.iter().chain(&a.graphs) {
                collect_unsupported(sub, opsets, &format!("{name}/{}", a.name), missing);
            }
        }
        let opset = opsets.version(&node.domain);
        if ops::lookup(&node.op_type, &node.domain, opset).is_some() {
            continue;
        }
        let domain = ops::normalize_domain(&node.domain);
        match missing
            .iter_mut()
            .find(|m| m.op_type == node.op_type && m.domain == domain && m.opset == opset)
        {
            Some(m) => m.nodes.push(name),
            None => missing.push(UnsupportedOp {
                op_type: node.op_type.clone(),
                domain: domain.to_string(),
                opset,
                nodes: vec![name],
            }),
        }
    }
}

/// Adds the graph inputs that are not initializers, with static shapes.
fn add_inputs<'g>(
    g: &'g GraphProto,
    graph: &mut Graph,
    values: &mut HashMap<&'g str, ValueId>,
    file: &str,
    opts: &ImportOptions,
) -> Result<()> {
    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let real: Vec<&crate::proto::ValueInfoProto> = g
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let named = opts
        .input_shapes
        .iter()
        .map(|(n, _)| n)
        .chain(opts.constant_inputs.iter().map(|(n, _)| n));
    for name in named {
        if !real.iter().any(|i| &i.name == name) {
            let names: Vec<&str> = real.iter().map(|i| i.name.as_str()).collect();
            return Err(OnnxError::InputShape {
                file: file.into(),
                input: name.clone(),
                message: format!(
                    "--input-shape/--constant-input names \"{name}\", which is not a graph input (inputs: {})",
                    names.join(", ")
                ),
            });
        }
    }
    for vi in real {
        let err = |message: String| OnnxError::InputShape {
            file: file.into(),
            input: vi.name.clone(),
            message,
        };
        let decl = decl_type(vi).map_err(|m| err(format!("input \"{}\" {m}", vi.name)))?;
        let dtype = dtype_of(decl.elem).ok_or_else(|| {
            err(format!(
                "input \"{}\" has element type {}, which is not supported",
                vi.name,
                onnx_type_name(decl.elem)
            ))
        })?;
        let over = opts
            .input_shapes
            .iter()
            .rev()
            .find(|(n, _)| *n == vi.name)
            .map(|(_, d)| d)
            .or_else(|| {
                let bound = opts.constant_inputs.iter().rev();
                bound
                    .filter(|(n, _)| *n == vi.name)
                    .map(|(_, t)| &t.shape)
                    .next()
            });
        let dims = match (over, &decl.dims) {
            (Some(o), Some(d)) if o.len() != d.len() => {
                return Err(err(format!(
                    "--input-shape {}={} has rank {}, but the model declares input \"{}\" with rank {} ({})",
                    vi.name,
                    join(o),
                    o.len(),
                    vi.name,
                    d.len(),
                    show_decl(d)
                )))
            }
            (Some(o), _) => o.clone(),
            (None, None) => {
                return Err(err(format!(
                    "input \"{}\" has no declared shape; pass --input-shape {}=<d0>,<d1>,...",
                    vi.name, vi.name
                )))
            }
            (None, Some(d)) => {
                let mut fixed = Vec::with_capacity(d.len());
                for (i, dim) in d.iter().enumerate() {
                    match dim {
                        DeclDim::Fixed(n) => fixed.push(*n),
                        DeclDim::Sym(_) | DeclDim::Unknown => {
                            let what = match dim {
                                DeclDim::Sym(s) => format!(" \"{s}\""),
                                _ => String::new(),
                            };
                            let example: Vec<u64> = d
                                .iter()
                                .map(|x| match x {
                                    DeclDim::Fixed(n) => *n,
                                    _ => 1,
                                })
                                .collect();
                            return Err(err(format!(
                                "input \"{}\" has unknown dimension{what} (dim {i}); pass --input-shape {}={}",
                                vi.name,
                                vi.name,
                                join(&example)
                            )));
                        }
                    }
                }
                fixed
            }
        };
        if let Some((_, t)) = opts
            .constant_inputs
            .iter()
            .rev()
            .find(|(n, _)| *n == vi.name)
        {
            let fixed_ok = decl.dims.as_ref().is_none_or(|d| {
                d.iter()
                    .zip(&t.shape)
                    .all(|(dd, &n)| !matches!(dd, DeclDim::Fixed(f) if *f != n))
            });
            if t.dtype != dtype || t.shape != dims || !fixed_ok {
                return Err(err(format!(
                    "--constant-input {} is {}{:?}, but the model declares input \"{}\" as {dtype}{dims:?}",
                    vi.name, t.dtype, t.shape, vi.name
                )));
            }
            let id = graph.add_const(&vi.name, t.clone());
            values.insert(&vi.name, id);
            continue;
        }
        let id = graph.add_input(&vi.name, TensorType::new(dtype, &dims));
        values.insert(&vi.name, id);
    }
    Ok(())
}

/// A declared output type, when fully static, must equal the inferred one.
fn check_output_type(
    name: &str,
    decl: Option<crate::reader::DeclType>,
    inferred: &TensorType,
    file: &str,
) -> Result<()> {
    let Some(decl) = decl else { return Ok(()) };
    let mismatch = |what: String| {
        Err(OnnxError::InvalidModel {
            file: file.into(),
            message: format!("graph output \"{name}\" {what}"),
        })
    };
    if let Some(dt) = dtype_of(decl.elem) {
        if dt != inferred.dtype {
            return mismatch(format!("is declared {dt} but computes {}", inferred.dtype));
        }
    }
    let Some(d) = decl.dims else { return Ok(()) };
    let declared: Option<Vec<u64>> = d
        .iter()
        .map(|x| match x {
            DeclDim::Fixed(n) => Some(*n),
            _ => None,
        })
        .collect();
    if let (Some(declared), Some(got)) = (declared, inferred.shape.as_fixed()) {
        if declared != got {
            return mismatch(format!(
                "is declared with shape {declared:?} but computes {got:?}"
            ));
        }
    }
    Ok(())
}

fn join(d: &[u64]) -> String {
    d.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn show_decl(d: &[DeclDim]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|x| match x {
            DeclDim::Fixed(n) => n.to_string(),
            DeclDim::Sym(s) => s.clone(),
            DeclDim::Unknown => "?".into(),
        })
        .collect();
    format!("[{}]", parts.join(","))
}
