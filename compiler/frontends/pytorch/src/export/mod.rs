//! torch.export archives (`torch.export.save`, `.pt2`, torch 2.5 layout).
//!
//! ```text
//! model.pt2 (zip)
//!   serialized_exported_program.json   the graph: aten nodes with named arguments,
//!                                      tensor metadata (dtype, sizes) for every value,
//!                                      the signature (which inputs are parameters,
//!                                      buffers, constants or user inputs)
//!   serialized_state_dict.pt           a torch.save zip: parameters and buffers
//!   serialized_constants.pt            a torch.save zip: lifted tensor constants
//! ```
//!
//! Import: the JSON is parsed (Python's `Infinity`/`NaN` tokens included); every node's
//! operator is checked against the aten table first, so all unsupported ones are
//! reported together; parameters, buffers and constants become IR constants (slices of
//! the mapped file); user inputs get the shapes the program records (a symbolic dim
//! needs `--input-shape`); nodes are built in order with [`crate::build::call_aten`];
//! user outputs become `output_0`, `output_1`, ...

mod json;

use crate::archive::Archive;
use crate::build;
use crate::error::{PytorchError, Result, UnsupportedOp};
use crate::pickle::{self, Pickle};
use crate::storage::Storages;
use crate::value::Val;
use crate::ImportOptions;
use neoc_ir::{Graph, TensorType, ValueId};
use serde_json::Value as Json;
use std::collections::HashMap;

/// The program entry of a torch 2.5 `.pt2` archive.
pub(crate) const PROGRAM: &str = "serialized_exported_program.json";

/// What a name in the program stands for while importing.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Val(Val),
    /// An output the builder does not produce (saved statistics, pooling indices).
    Missing {
        node: String,
        op: String,
    },
}

pub(crate) fn import(archive: &Archive, name: &str, opts: &ImportOptions) -> Result<Graph> {
    let file = archive.file().to_string();
    let perr = |message: String| PytorchError::Program {
        file: file.clone(),
        message,
    };
    let text = archive.read_text(PROGRAM)?;
    let program: Json = serde_json::from_str(&json::python_literals(&text))
        .map_err(|e| perr(format!("{PROGRAM} is not valid JSON ({e})")))?;
    if let Some(major) = program
        .pointer("/schema_version/major")
        .and_then(Json::as_i64)
    {
        if !(5..=8).contains(&major) {
            return Err(perr(format!(
                "export schema version {major} is not supported (neoc reads the layout of \
                 torch 2.3 to 2.5, schema 5 to 8)"
            )));
        }
    }
    let gm = program
        .get("graph_module")
        .ok_or_else(|| perr(format!("{PROGRAM} has no graph_module")))?;
    let graph_json = gm
        .get("graph")
        .ok_or_else(|| perr(format!("{PROGRAM} has no graph")))?;
    let nodes = json::array(graph_json, "nodes").map_err(&perr)?;
    let tensor_values = graph_json
        .get("tensor_values")
        .and_then(Json::as_object)
        .ok_or_else(|| perr(format!("{PROGRAM} has no tensor_values")))?;

    check_ops(&file, nodes)?;

    let state = open_pickled(archive, "serialized_state_dict.pt")?;
    let consts = open_pickled(archive, "serialized_constants.pt")?;

    let mut graph = Graph::new(name);
    let mut slots: HashMap<String, Slot> = HashMap::new();

    // Inputs, in signature order.
    let specs = json::array(gm, "signature/input_specs").map_err(&perr)?;
    let mut user_inputs = Vec::new();
    for spec in specs {
        let (kind, body) = json::union(spec).map_err(&perr)?;
        match kind {
            "user_input" => {
                let arg = body
                    .get("arg")
                    .ok_or_else(|| perr("user_input without arg".into()))?;
                // Non-tensor user inputs are specialised into the program.
                if let ("as_tensor", t) = json::union(arg).map_err(&perr)? {
                    user_inputs.push(json::name(t).map_err(&perr)?.to_string());
                }
            }
            "parameter" | "buffer" | "tensor_constant" => {
                let arg_name = body
                    .pointer("/arg/name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| perr(format!("{kind} input without a name")))?;
                let key_field = match kind {
                    "parameter" => "parameter_name",
                    "buffer" => "buffer_name",
                    _ => "tensor_constant_name",
                };
                let key = body.get(key_field).and_then(Json::as_str).ok_or_else(|| {
                    perr(format!("{kind} input `{arg_name}` without {key_field}"))
                })?;
                let t = lookup_tensor(&state, &consts, key).ok_or_else(|| {
                    perr(format!(
                        "{kind} `{key}` is in neither serialized_state_dict.pt nor \
                         serialized_constants.pt"
                    ))
                })??;
                let v = graph.add_const(key, t);
                slots.insert(arg_name.to_string(), Slot::Val(Val::Tensor(v)));
            }
            "constant_input" => {}
            other => {
                return Err(perr(format!(
                    "graph inputs of kind `{other}` (custom objects, effect tokens) are not \
                     supported"
                )))
            }
        }
    }
    build::check_overrides(&file, &user_inputs, &opts.input_shapes)?;
    for n in &user_inputs {
        let meta = tensor_values
            .get(n)
            .ok_or_else(|| perr(format!("input `{n}` has no tensor metadata")))?;
        let (dtype, declared) =
            json::tensor_meta(meta).map_err(|m| perr(format!("input `{n}`: {m}")))?;
        let dims = build::input_shape(&file, n, Some(&declared), &opts.input_shapes)?;
        let v = graph.add_input(n.clone(), TensorType::new(dtype, &dims));
        slots.insert(n.clone(), Slot::Val(Val::Tensor(v)));
    }

    for node in nodes {
        build_node(&mut graph, &file, node, &mut slots)?;
    }

    let mut outs: Vec<ValueId> = Vec::new();
    for spec in json::array(gm, "signature/output_specs").map_err(&perr)? {
        let (kind, body) = json::union(spec).map_err(&perr)?;
        if kind != "user_output" {
            continue;
        }
        let arg = body
            .get("arg")
            .ok_or_else(|| perr("user_output without arg".into()))?;
        match json::decode(arg, &slots, &file)? {
            Val::Tensor(v) => outs.push(v),
            other => {
                return Err(perr(format!(
                    "a model output is {} (only tensor outputs are supported)",
                    other.kind()
                )))
            }
        }
    }
    if outs.is_empty() {
        return Err(perr("the program has no tensor outputs".into()));
    }
    build::set_outputs(&mut graph, &file, &outs)?;
    Ok(graph)
}

/// The aten name of a node target (`torch.ops.aten.conv2d.default` → `conv2d`).
pub(crate) fn aten_name(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("torch.ops.aten.")?;
    Some(rest.rsplit_once('.').map_or(rest, |(n, _)| n))
}

/// Every node's operator must be in the table; all that are not are reported at once.
fn check_ops(file: &str, nodes: &[Json]) -> Result<()> {
    let mut missing: Vec<UnsupportedOp> = Vec::new();
    for node in nodes {
        let target = node.get("target").and_then(Json::as_str).unwrap_or("?");
        let ok = target == "_operator.getitem"
            || sym_op_name(target).is_some()
            || aten_name(target).is_some_and(|n| crate::ops::lookup(n).is_some());
        if ok {
            continue;
        }
        let at = json::node_name(node);
        match missing.iter_mut().find(|m| m.op == target) {
            Some(m) => m.nodes.push(at),
            None => missing.push(UnsupportedOp {
                op: target.to_string(),
                nodes: vec![at],
            }),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PytorchError::UnsupportedOps {
            file: file.to_string(),
            ops: missing,
        })
    }
}

fn build_node(
    graph: &mut Graph,
    file: &str,
    node: &Json,
    slots: &mut HashMap<String, Slot>,
) -> Result<()> {
    let perr = |message: String| PytorchError::Program {
        file: file.to_string(),
        message,
    };
    let target = node.get("target").and_then(Json::as_str).unwrap_or("?");
    let at = json::node_name(node);
    let mut named = Vec::new();
    for input in json::array(node, "inputs").map_err(&perr)? {
        let arg_name = input
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| perr(format!("node `{at}`: an input without a name")))?;
        let arg = input
            .get("arg")
            .ok_or_else(|| perr(format!("node `{at}`: input `{arg_name}` without a value")))?;
        let v = json::decode(arg, slots, file).map_err(|e| match e {
            PytorchError::Program { file, message } => PytorchError::Program {
                file,
                message: format!("node `{at}` ({target}), argument `{arg_name}`: {message}"),
            },
            other => other,
        })?;
        named.push((arg_name.to_string(), v));
    }
    let results = if let Some(op) = sym_op_name(target) {
        let args: Vec<&Val> = named.iter().map(|(_, v)| v).collect();
        vec![sym_op(op, &args).ok_or_else(|| {
            perr(format!(
                "node `{at}`: {target} of values that are not known numbers"
            ))
        })?]
    } else if target == "_operator.getitem" {
        match (named.first().map(|n| &n.1), named.get(1).map(|n| &n.1)) {
            (Some(Val::List(items)), Some(Val::Int(i))) => {
                let i = usize::try_from(*i).ok().filter(|&i| i < items.len());
                let i =
                    i.ok_or_else(|| perr(format!("node `{at}`: getitem index out of range")))?;
                vec![items[i].clone()]
            }
            _ => {
                return Err(perr(format!(
                    "node `{at}`: getitem of something that is not a list"
                )))
            }
        }
    } else {
        let name = aten_name(target).unwrap_or(target);
        build::call_aten(graph, file, &at, name, &[], &named)?
    };
    let outputs = json::array(node, "outputs").map_err(&perr)?;
    for (i, out) in outputs.iter().enumerate() {
        let (kind, body) = json::union(out).map_err(&perr)?;
        let result = results.get(i);
        let missing = || Slot::Missing {
            node: at.clone(),
            op: target.to_string(),
        };
        match kind {
            "as_tensor" => {
                let n = json::name(body).map_err(&perr)?;
                let slot = match result {
                    Some(v @ Val::Tensor(_)) => Slot::Val(v.clone()),
                    _ => missing(),
                };
                slots.insert(n.to_string(), slot);
            }
            "as_tensors" => {
                let items = body
                    .as_array()
                    .ok_or_else(|| perr(format!("node `{at}`: bad as_tensors")))?;
                let list = match result {
                    Some(Val::List(l)) => Some(l),
                    _ => None,
                };
                for (j, t) in items.iter().enumerate() {
                    let n = json::name(t).map_err(&perr)?;
                    let slot = match list.and_then(|l| l.get(j)) {
                        Some(v) => Slot::Val(v.clone()),
                        None => missing(),
                    };
                    slots.insert(n.to_string(), slot);
                }
            }
            "as_int" | "as_sym_int" | "as_float" | "as_bool" => {
                if let (Some(v), Some(n)) = (result, body.get("as_name").and_then(Json::as_str)) {
                    slots.insert(n.to_string(), Slot::Val(v.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The operator of a size computation on symbolic ints (`_operator.mul`), which
/// folds once the input shapes are bound.
fn sym_op_name(target: &str) -> Option<&str> {
    let op = target.strip_prefix("_operator.")?;
    [
        "add", "sub", "mul", "floordiv", "mod", "truediv", "neg", "eq", "ne", "lt", "le", "gt",
        "ge",
    ]
    .contains(&op)
    .then_some(op)
}

/// Evaluates a size computation on known numbers (Python semantics).
fn sym_op(op: &str, args: &[&Val]) -> Option<Val> {
    let num = |v: &Val| match v {
        Val::Int(i) => Some((*i as f64, true)),
        Val::Float(f) => Some((*f, false)),
        Val::Bool(b) => Some((f64::from(u8::from(*b)), true)),
        _ => None,
    };
    if op == "neg" {
        return match args.first()? {
            Val::Int(i) => Some(Val::Int(i.checked_neg()?)),
            Val::Float(f) => Some(Val::Float(-f)),
            _ => None,
        };
    }
    let (a, ai) = num(args.first()?)?;
    let (b, bi) = num(args.get(1)?)?;
    let ints = ai && bi;
    let n = |x: f64| {
        if ints {
            Val::Int(x as i64)
        } else {
            Val::Float(x)
        }
    };
    Some(match op {
        "add" => n(a + b),
        "sub" => n(a - b),
        "mul" => n(a * b),
        "floordiv" if b != 0.0 => n((a / b).floor()),
        "mod" if b != 0.0 => n(a - (a / b).floor() * b),
        "truediv" if b != 0.0 => Val::Float(a / b),
        "eq" => Val::Bool(a == b),
        "ne" => Val::Bool(a != b),
        "lt" => Val::Bool(a < b),
        "le" => Val::Bool(a <= b),
        "gt" => Val::Bool(a > b),
        "ge" => Val::Bool(a >= b),
        _ => return None,
    })
}

/// A pickled dict archive nested in the `.pt2` (`None` when absent).
struct Pickled {
    archive: Archive,
    prefix: String,
    pickle: Pickle,
}

fn open_pickled(outer: &Archive, entry: &str) -> Result<Option<Pickled>> {
    if !outer.contains(entry) {
        return Ok(None);
    }
    let archive = outer.nested(entry)?;
    let prefix = archive
        .prefix_of("data.pkl")
        .ok_or_else(|| PytorchError::Archive {
            file: outer.file().to_string(),
            message: format!("{}no data.pkl inside", archive.place()),
        })?;
    let data = archive.read(&format!("{prefix}data.pkl"))?;
    let label = format!("{entry}/data.pkl");
    let pickle = pickle::unpickle(&data, outer.file(), &label, pickle::Options::default())?;
    Ok(Some(Pickled {
        archive,
        prefix,
        pickle,
    }))
}

/// Tensor `key` of the state dict, else of the constants.
fn lookup_tensor(
    state: &Option<Pickled>,
    consts: &Option<Pickled>,
    key: &str,
) -> Option<Result<neoc_ir::Tensor>> {
    for p in [state, consts].into_iter().flatten() {
        if let Some(v) = p.pickle.dict_get(&p.pickle.root, key) {
            let Some(meta) = p.pickle.tensor(v) else {
                return Some(Err(PytorchError::Program {
                    file: p.archive.file().to_string(),
                    message: format!("{}`{key}` is not a tensor", p.archive.place()),
                }));
            };
            let mut s = Storages::new(&p.archive, &format!("{}data/", p.prefix));
            return Some(s.tensor(meta, key));
        }
    }
    None
}
