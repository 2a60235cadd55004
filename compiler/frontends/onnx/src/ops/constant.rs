//! Constants: Constant and ConstantOfShape. Both become IR constants, not nodes.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Constant.html>. `value` (a tensor) in
//! every opset; `value_float(s)` / `value_int(s)` from 12; `sparse_value` (11) and
//! `value_string(s)` (12) are refused. ConstantOfShape (9) needs a constant shape input;
//! its `value` is a one-element tensor, default float 0.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::{DType, Tensor};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Constant",
        7,
        22,
        constant,
        "sparse and string values unsupported",
    ),
    spec(
        "ConstantOfShape",
        9,
        22,
        constant_of_shape,
        "shape input must be constant",
    ),
];

const VALUE_ATTRS: [&str; 8] = [
    "value",
    "value_float",
    "value_floats",
    "value_int",
    "value_ints",
    "sparse_value",
    "value_string",
    "value_strings",
];

fn constant(c: &mut NodeCtx<'_>) -> Built {
    let Some(which) = c.attrs.first_set(&VALUE_ATTRS) else {
        return Err(c.attr_error("no value attribute (value, value_float, ...) is set"));
    };
    let t = match which {
        "value" => match c.attrs.tensor("value")? {
            Some(p) => c.tensor(p, "value")?,
            None => return Err(c.attr_error("attribute \"value\" has no tensor")),
        },
        "value_float" => Tensor::from_f32(vec![], &[c.attrs.float("value_float", 0.0)?]),
        "value_floats" => {
            let v = c.attrs.floats("value_floats")?.unwrap_or_default();
            Tensor::from_f32(vec![v.len() as u64], v)
        }
        "value_int" => Tensor::from_i64(vec![], &[c.attrs.int("value_int", 0)?]),
        "value_ints" => {
            let v = c.attrs.ints("value_ints")?.unwrap_or_default();
            Tensor::from_i64(vec![v.len() as u64], v)
        }
        other => {
            return Err(c.attr_error(format!(
                "attribute \"{other}\" is not supported (sparse and string constants)"
            )))
        }
    };
    let name = c.output_name(0);
    Ok(vec![c.graph.add_const(name, t)])
}

fn constant_of_shape(c: &mut NodeCtx<'_>) -> Built {
    let dims = c
        .const_ints(0, "shape")?
        .ok_or_else(|| c.shape_error("input 0 (shape) is required"))?;
    let shape = dims
        .iter()
        .map(|&d| u64::try_from(d))
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|_| c.shape_error(format!("shape {dims:?} has a negative dim")))?;
    let (dtype, v) = match c.attrs.tensor("value")? {
        None => (DType::F32, 0.0),
        Some(p) => {
            let t = c.tensor(p, "value")?;
            match t.to_f64_vec().as_slice() {
                [v] => (t.dtype, *v),
                _ => return Err(c.attr_error("value must have exactly one element")),
            }
        }
    };
    let n = c.built_elements(&shape, dtype.size_bytes() as u64)?;
    let t = Tensor::from_f64_as(dtype, shape, &vec![v; n as usize]);
    let name = c.output_name(0);
    Ok(vec![c.graph.add_const(name, t)])
}
