//! TorchScript archives (`torch.jit.save` of a traced or scripted module).
//!
//! ```text
//! model.pt (zip, every entry under <name>/)
//!   data.pkl            the module tree: objects of classes __torch__.<...> whose
//!                       attributes are submodules, parameters (tensors over data/N),
//!                       and plain values
//!   constants.pkl       the tensors the code calls CONSTANTS.c0, c1, ...
//!   code/__torch__/...  the Python-like source of every class (`forward` of each module)
//!   traced_inputs.pkl   (traced modules) the example inputs: dtypes and shapes
//! ```
//!
//! Why interpret the code instead of reading a graph: the archive keeps none; the
//! printed source is the program. Traced code is straight-line (aten calls, attribute
//! reads, calls of submodules' `forward`), so it is parsed ([`parser`]) and evaluated
//! symbolically ([`interp`]): submodule calls are inlined, aten calls go through the
//! shared operator table and become IR nodes, and scalar computations on shapes fold to
//! numbers. Scripted code is accepted as far as its control flow folds: `if` on
//! constants, `for` over constant ranges and lists; a condition that depends on tensor
//! data is refused with its line.
//!
//! Input shapes: a traced archive records its example inputs, which give the default
//! dtypes and shapes; `--input-shape` overrides them, and is required when there are
//! none (inputs are then float32).

mod builtins;
mod interp;
mod lexer;
mod parser;

use crate::archive::Archive;
use crate::build;
use crate::error::{PytorchError, Result};
use crate::pickle::{self, Obj, Pickle, PyVal};
use crate::ImportOptions;
use neoc_ir::{DType, Graph, TensorType};

pub(crate) fn import(archive: &Archive, name: &str, opts: &ImportOptions) -> Result<Graph> {
    let file = archive.file();
    let prefix = archive.prefix_of("data.pkl").unwrap_or_default();
    let data = archive.read(&format!("{prefix}data.pkl"))?;
    let script = pickle::Options {
        script_classes: true,
    };
    let tree = pickle::unpickle(&data, file, "data.pkl", script)?;
    let consts = match archive.contains(&format!("{prefix}constants.pkl")) {
        true => {
            let b = archive.read(&format!("{prefix}constants.pkl"))?;
            Some(pickle::unpickle(&b, file, "constants.pkl", script)?)
        }
        false => None,
    };
    let traced = match archive.contains(&format!("{prefix}traced_inputs.pkl")) {
        true => {
            let b = archive.read(&format!("{prefix}traced_inputs.pkl"))?;
            Some(pickle::unpickle(&b, file, "traced_inputs.pkl", script)?)
        }
        false => None,
    };
    let root_class = match tree.obj(&tree.root) {
        Some(Obj::Object { class, .. }) => class.clone(),
        _ => {
            return Err(PytorchError::Program {
                file: file.to_string(),
                message: "data.pkl does not hold a TorchScript module".into(),
            })
        }
    };
    let mut it = interp::Interp::new(archive, &prefix, &tree, consts.as_ref(), name);
    let unsupported = it.unsupported_ops(&tree)?;

    let forward = it.method_params(&root_class, "forward")?;
    let example = traced.as_ref().map(example_inputs).unwrap_or_default();
    build::check_overrides(file, &forward, &opts.input_shapes)?;
    let mut inputs = Vec::new();
    for (i, p) in forward.iter().enumerate() {
        let ex = example.get(i);
        let declared: Option<Vec<Option<u64>>> =
            ex.map(|(_, dims)| dims.iter().map(|&d| Some(d)).collect());
        let has_override = opts.input_shapes.iter().any(|(n, _)| n == p);
        let dims = build::input_shape(
            file,
            p,
            if has_override {
                None
            } else {
                declared.as_deref()
            },
            &opts.input_shapes,
        )?;
        let dtype = ex.map_or(DType::F32, |(d, _)| *d);
        inputs.push(it.add_input(p, TensorType::new(dtype, &dims)));
    }
    let outs = match it.run_forward(&root_class, inputs) {
        Ok(outs) => outs,
        // Reaching one unsupported operator reports all the code calls, at once.
        Err(PytorchError::UnsupportedOps { file, ops }) => {
            let ops = if unsupported.is_empty() {
                ops
            } else {
                unsupported
            };
            return Err(PytorchError::UnsupportedOps { file, ops });
        }
        Err(e) => return Err(e),
    };
    let mut graph = it.finish();
    build::set_outputs(&mut graph, file, &outs)?;
    Ok(graph)
}

/// The dtypes and shapes of `forward`'s example inputs in `traced_inputs.pkl`
/// (`{"forward": [tensor, ...]}`); non-tensor entries end the list.
fn example_inputs(p: &Pickle) -> Vec<(DType, Vec<u64>)> {
    let Some(list) = p.dict_get(&p.root, "forward") else {
        return Vec::new();
    };
    let items: Vec<PyVal> = p.items(list).map(<[PyVal]>::to_vec).unwrap_or_default();
    items
        .iter()
        .map_while(|v| p.tensor(v).map(|t| (t.dtype, t.size.clone())))
        .collect()
}
