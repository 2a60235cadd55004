//! The import: symbol + parameters → graph IR.
//!
//! 1. Nodes the outputs need are marked, walking inputs backwards (an op's
//!    training-only inputs, such as `SoftmaxOutput`'s label, are not followed).
//! 2. Every needed op is checked against the table; all unsupported ones are reported
//!    together.
//! 3. Nodes are built in file order (the format is topologically sorted). A variable
//!    (`op: "null"`) is a parameter when the `.params` file has it (`arg:`/`aux:`
//!    names), otherwise a graph input, whose shape comes from `--input-shape` (or a
//!    fully known `__shape__` attribute) and dtype from `__dtype__` (default float32).
//! 4. Outputs are named as MXNet names them: `<node>_output` (`<node>_output<i>` for
//!    other outputs of multi-output nodes).

use crate::error::{MxnetError, Result, UnsupportedOp};
use crate::ops::{self, Ctx};
use crate::symbol::Symbol;
use crate::ImportOptions;
use neoc_ir::{DType, Graph, IrError, Op, Tensor, TensorType, ValueDef, ValueId};
use std::collections::BTreeMap;

/// The IR dtype of a `__dtype__` attribute (MXNet's type flags).
fn dtype_attr(s: Option<&String>) -> Option<DType> {
    match s.map(|s| s.trim()) {
        None | Some("0") => Some(DType::F32),
        Some("1") => Some(DType::F64),
        Some("2") => Some(DType::F16),
        Some("3") => Some(DType::U8),
        Some("4") => Some(DType::I32),
        Some("5") => Some(DType::I8),
        Some("6") => Some(DType::I64),
        _ => None,
    }
}

/// A fully known `__shape__` (`(1, 3, 224, 224)`; 0 means unknown).
fn shape_attr(s: Option<&String>) -> Option<Vec<u64>> {
    let s = s?.trim().trim_start_matches('(').trim_end_matches(')');
    let d: Vec<u64> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_end_matches('L').parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    (!d.is_empty() && !d.contains(&0)).then_some(d)
}

pub(crate) fn import(
    sym: &Symbol,
    params: BTreeMap<String, Option<Tensor>>,
    file: &str,
    params_file: &str,
    name: &str,
    opts: &ImportOptions,
) -> Result<Graph> {
    let n = sym.nodes.len();
    // 1. Needed nodes.
    let mut needed = vec![false; n];
    let mut stack: Vec<usize> = sym.heads.iter().map(|h| h.0).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        let node = &sym.nodes[i];
        let reads = ops::lookup(&node.op).map_or(usize::MAX, |o| o.reads);
        stack.extend(node.inputs.iter().take(reads).map(|e| e.0));
    }
    // 2. Unsupported ops, all at once.
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, node) in sym.nodes.iter().enumerate() {
        if needed[i] && node.op != "null" && ops::lookup(&node.op).is_none() {
            missing
                .entry(node.op.clone())
                .or_default()
                .push(node.name.clone());
        }
    }
    if !missing.is_empty() {
        return Err(MxnetError::UnsupportedOps {
            file: file.to_string(),
            ops: missing
                .into_iter()
                .map(|(op, nodes)| UnsupportedOp { op, nodes })
                .collect(),
        });
    }
    // Inputs: the needed variables that are not parameters.
    let inputs: Vec<String> = sym
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, nd)| needed[*i] && nd.op == "null" && !params.contains_key(&nd.name))
        .map(|(_, nd)| nd.name.clone())
        .collect();
    for (o, _) in &opts.input_shapes {
        if !inputs.contains(o) {
            return Err(MxnetError::InputShape {
                file: file.to_string(),
                input: o.clone(),
                message: format!(
                    "--input-shape names \"{o}\", which is not an input of the model (its \
                     inputs: {})",
                    inputs.join(", ")
                ),
            });
        }
    }
    // 3. Build.
    let mut g = Graph::new(name);
    let mut values: Vec<Vec<ValueId>> = vec![Vec::new(); n];
    let node_err = |node: &crate::symbol::Node, e: IrError| MxnetError::Node {
        file: file.to_string(),
        node: node.name.clone(),
        op: node.op.clone(),
        source: Box::new(e),
    };
    for (i, node) in sym.nodes.iter().enumerate() {
        if !needed[i] {
            continue;
        }
        if node.op == "null" {
            let v = match params.get(&node.name) {
                Some(Some(t)) => g.add_const(node.name.clone(), t.clone()),
                Some(None) => {
                    return Err(MxnetError::Params {
                        file: params_file.to_string(),
                        message: format!("parameter \"{}\" is an empty array", node.name),
                    })
                }
                None => {
                    let err = |message: String| MxnetError::InputShape {
                        file: file.to_string(),
                        input: node.name.clone(),
                        message,
                    };
                    let dtype = dtype_attr(node.attrs.get("__dtype__")).ok_or_else(|| {
                        err(format!(
                            "input \"{}\" has an unsupported __dtype__",
                            node.name
                        ))
                    })?;
                    let shape = match opts.input_shapes.iter().find(|(k, _)| *k == node.name) {
                        Some((_, d)) => d.clone(),
                        None => shape_attr(node.attrs.get("__shape__")).ok_or_else(|| {
                            let params_hint = if node.name.ends_with("_weight")
                                || node.name.ends_with("_bias")
                            {
                                format!(" (if it is a parameter, {params_file} does not have it)")
                            } else {
                                String::new()
                            };
                            err(format!(
                                "the shape of input \"{}\" is not recorded in the symbol; \
                                 pass --input-shape {}=1,3,224,224 (its real dims){params_hint}",
                                node.name, node.name
                            ))
                        })?,
                    };
                    if neoc_ir::shape::checked_elements(&shape).is_none() {
                        return Err(err(format!("input \"{}\" is too large", node.name)));
                    }
                    g.add_input(node.name.clone(), TensorType::new(dtype, &shape))
                }
            };
            values[i] = vec![v];
            continue;
        }
        let spec = ops::lookup(&node.op).ok_or_else(|| {
            node_err(node, IrError::Internal("op vanished from the table".into()))
        })?;
        let reads = spec.reads.min(node.inputs.len());
        let ins = node.inputs[..reads]
            .iter()
            .map(|&(src, out)| {
                values[src]
                    .get(out)
                    .copied()
                    .ok_or_else(|| MxnetError::Symbol {
                        file: file.to_string(),
                        message: format!(
                            "node \"{}\" reads output {out} of \"{}\", which has {} output(s)",
                            node.name,
                            sym.nodes[src].name,
                            values[src].len()
                        ),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ctx = Ctx::new(&mut g, node, &ins);
        values[i] = (spec.build)(&mut ctx).map_err(|e| node_err(node, e))?;
    }
    // 4. Outputs.
    let mut done: Vec<ValueId> = Vec::new();
    for &(h, out) in &sym.heads {
        let node = &sym.nodes[h];
        let v = values[h]
            .get(out)
            .copied()
            .ok_or_else(|| MxnetError::Symbol {
                file: file.to_string(),
                message: format!("output {out} of \"{}\" does not exist", node.name),
            })?;
        let oname = if out == 0 {
            format!("{}_output", node.name)
        } else {
            format!("{}_output{out}", node.name)
        };
        let own = matches!(g.value(v).def, ValueDef::Node(..)) && !done.contains(&v);
        let v = if own {
            v
        } else {
            let o = g
                .add_node_unfolded(&oname, Op::Identity, vec![Some(v)], vec![oname.clone()])
                .map_err(|e| node_err(node, e))?;
            o.first().copied().ok_or_else(|| {
                node_err(node, IrError::Internal("an Identity without output".into()))
            })?
        };
        g.set_value_name(v, oname);
        done.push(v);
    }
    g.set_outputs(done);
    Ok(g)
}
