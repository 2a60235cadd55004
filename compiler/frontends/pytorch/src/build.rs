//! What both importers share once a model is read: calling an aten builder with errors
//! placed at the file and node, resolving input shapes against `--input-shape`, and
//! naming the graph outputs.

use crate::error::{PytorchError, Result};
use crate::ops::{self, Call};
use crate::value::Val;
use neoc_ir::{Graph, IrError, Op, ValueDef, ValueId};

/// Calls the builder of aten operator `name` (no namespace, no overload).
pub(crate) fn call_aten(
    graph: &mut Graph,
    file: &str,
    node: &str,
    name: &str,
    pos: &[Val],
    named: &[(String, Val)],
) -> Result<Vec<Val>> {
    let op = format!("aten::{name}");
    let Some((spec, _)) = ops::lookup(name) else {
        return Err(PytorchError::UnsupportedOps {
            file: file.to_string(),
            ops: vec![crate::error::UnsupportedOp {
                op: op.clone(),
                nodes: vec![node.to_string()],
            }],
        });
    };
    let mut c = Call::new(graph, node, &op, pos, named);
    (spec.build)(&mut c).map_err(|e| node_error(file, node, &op, e))
}

/// An IR error while building `node`.
pub(crate) fn node_error(file: &str, node: &str, op: &str, e: IrError) -> PytorchError {
    PytorchError::Node {
        file: file.to_string(),
        node: node.to_string(),
        op: op.to_string(),
        source: Box::new(e),
    }
}

/// The static shape of input `name`: the override from `--input-shape` when given
/// (rank must match a known `declared` shape), else `declared`, which must be fully
/// static. `declared` holds `None` for symbolic dims; `None` overall means unknown.
pub(crate) fn input_shape(
    file: &str,
    name: &str,
    declared: Option<&[Option<u64>]>,
    overrides: &[(String, Vec<u64>)],
) -> Result<Vec<u64>> {
    let err = |message: String| PytorchError::InputShape {
        file: file.to_string(),
        input: name.to_string(),
        message,
    };
    let hint = |d: Option<&[Option<u64>]>| {
        let dims: Vec<String> = match d {
            Some(d) => d
                .iter()
                .map(|x| x.map_or("N".to_string(), |n| n.to_string()))
                .collect(),
            None => vec!["1".into(), "3".into(), "224".into(), "224".into()],
        };
        format!("pass --input-shape {name}={}", dims.join(","))
    };
    if let Some((_, dims)) = overrides.iter().find(|(n, _)| n == name) {
        if let Some(d) = declared {
            if d.len() != dims.len() {
                return Err(err(format!(
                    "--input-shape {name} has rank {}, the model's input has rank {}",
                    dims.len(),
                    d.len()
                )));
            }
            for (i, (o, m)) in dims.iter().zip(d).enumerate() {
                if m.is_some_and(|m| m != *o) {
                    return Err(err(format!(
                        "--input-shape {name} sets dim {i} to {o}, but the model fixes it to {}",
                        m.unwrap_or(0)
                    )));
                }
            }
        }
        if neoc_ir::shape::checked_elements(dims).is_none() {
            return Err(err(format!("--input-shape {name} is too large")));
        }
        return Ok(dims.clone());
    }
    match declared {
        Some(d) => match d.iter().copied().collect::<Option<Vec<u64>>>() {
            Some(v) => Ok(v),
            None => Err(err(format!(
                "input \"{name}\" has symbolic dimensions; {}",
                hint(Some(d))
            ))),
        },
        None => Err(err(format!(
            "the shape of input \"{name}\" is not recorded in the archive (TorchScript \
             keeps no shapes); {}",
            hint(None)
        ))),
    }
}

/// Checks that every `--input-shape` names an input of the model.
pub(crate) fn check_overrides(
    file: &str,
    inputs: &[String],
    overrides: &[(String, Vec<u64>)],
) -> Result<()> {
    for (name, _) in overrides {
        if !inputs.contains(name) {
            return Err(PytorchError::InputShape {
                file: file.to_string(),
                input: name.clone(),
                message: format!(
                    "--input-shape names \"{name}\", which is not an input of the model (its \
                     inputs: {})",
                    inputs.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Sets the graph outputs to `outs`, named `output_0`, `output_1`, ... An output that
/// is not a node's own result (a graph input, a constant, or one already listed) gets
/// an Identity node, so every output has its own name and buffer.
pub(crate) fn set_outputs(graph: &mut Graph, file: &str, outs: &[ValueId]) -> Result<()> {
    let mut done: Vec<ValueId> = Vec::with_capacity(outs.len());
    for (i, &v) in outs.iter().enumerate() {
        let name = format!("output_{i}");
        let own = matches!(graph.value(v).def, ValueDef::Node(..)) && !done.contains(&v);
        let v = if own {
            v
        } else {
            let out = graph
                .add_node_unfolded(&name, Op::Identity, vec![Some(v)], vec![name.clone()])
                .map_err(|e| node_error(file, &name, "output", e))?;
            out.first().copied().ok_or_else(|| PytorchError::Program {
                file: file.to_string(),
                message: "internal error: an Identity without output".into(),
            })?
        };
        graph.set_value_name(v, name);
        done.push(v);
    }
    graph.set_outputs(done);
    Ok(())
}
