//! The import algorithm: a decoded [`ModelProto`] → a typed IR [`Graph`].
//!
//! 1. Find the default-domain opset; refuse models outside the supported range.
//! 2. Check every node against the registry and report all unsupported ops at once.
//! 3. Initializers become constants (also those listed as graph inputs, as IR < 4
//!    models do); the remaining graph inputs get their declared types, with
//!    `--input-shape` overrides, and every dim must end up static.
//! 4. Nodes are built in model order (ONNX requires topological order); the IR infers
//!    types and folds constant subgraphs as each node is added.
//! 5. Graph outputs are looked up and checked against their declared types.

use crate::attrs::Attrs;
use crate::context::NodeCtx;
use crate::error::{OnnxError, Result, UnsupportedOp};
use crate::ops::{self, MAX_OPSET, MIN_OPSET};
use crate::proto::{GraphProto, ModelProto};
use crate::reader::{decl_type, dtype_of, onnx_type_name, DeclDim, TensorError, TensorReader};
use crate::ImportOptions;
use neoc_ir::{Graph, IrError, TensorType, ValueId};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The opset version per (normalised) domain, and the default domain's version.
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
        check_supported(g, &opsets, file)?;
        return Err(OnnxError::MissingOpset { file: file.into() });
    }
    if !(MIN_OPSET..=MAX_OPSET).contains(&opsets.default) {
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

    // Names read by some node or graph output: outputs a builder does not produce
    // (Dropout's mask, ...) are an error only if they are in here.
    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(g.output.iter().map(|o| &o.name))
        .map(String::as_str)
        .collect();

    for (index, node) in g.node.iter().enumerate() {
        let name = node_name(&node.op_type, &node.name, index);
        let node_err = |source: IrError| OnnxError::Node {
            file: file.into(),
            node: name.clone(),
            op: node.op_type.clone(),
            source: Box::new(source),
        };
        let opset = opsets.version(&node.domain);
        let Some(spec) = ops::lookup(&node.op_type, &node.domain, opset) else {
            return Err(node_err(IrError::Internal(
                "no registry entry after the support check".into(),
            )));
        };
        let mut inputs = Vec::with_capacity(node.input.len());
        for i in &node.input {
            if i.is_empty() {
                inputs.push(None);
                continue;
            }
            match values.get(i.as_str()) {
                Some(&v) => inputs.push(Some(v)),
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
        let attrs = Attrs::new(&node.attribute, &name, &node.op_type);
        let mut ctx = NodeCtx::new(
            &mut graph,
            attrs,
            opset,
            &name,
            &node.op_type,
            inputs,
            &node.output,
            &mut reader,
        );
        let outs = (spec.build)(&mut ctx).map_err(node_err)?;
        for (j, out) in node.output.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            match outs.get(j) {
                Some(&v) => {
                    values.insert(out, v);
                }
                None if used.contains(out.as_str()) => {
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

    let mut outputs = Vec::with_capacity(g.output.len());
    for o in &g.output {
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

/// Every node's op must have a registry entry; all misses are reported together.
fn check_supported(g: &GraphProto, opsets: &Opsets, file: &str) -> Result<()> {
    let mut missing: Vec<UnsupportedOp> = Vec::new();
    for (index, node) in g.node.iter().enumerate() {
        let opset = opsets.version(&node.domain);
        if ops::lookup(&node.op_type, &node.domain, opset).is_some() {
            continue;
        }
        let name = node_name(&node.op_type, &node.name, index);
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
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OnnxError::UnsupportedOps {
            file: file.into(),
            ops: missing,
        })
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
