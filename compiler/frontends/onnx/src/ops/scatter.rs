//! Index-based selection: GatherND, ScatterND, ScatterElements, the deprecated Scatter
//! (opsets 9–10, ScatterElements without a reduction), MaxUnpool, Compress and TopK.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__GatherND.html> (`batch_dims` from 12),
//! <https://onnx.ai/onnx/operators/onnx__ScatterND.html> and
//! <https://onnx.ai/onnx/operators/onnx__ScatterElements.html> (`reduction` from 16:
//! none/add/mul, max/min from 18).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{GatherNd, ScatterElements, ScatterNd, ScatterReduction, TopK};
use neoc_ir::{IrError, Op};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "GatherND",
        11,
        22,
        gather_nd,
        "batch_dims; negative indices wrap",
    ),
    spec(
        "ScatterND",
        11,
        22,
        scatter_nd,
        "reduction none/add/mul/max/min; updates applied in order",
    ),
    spec(
        "ScatterElements",
        11,
        22,
        scatter_elements,
        "reduction none/add/mul/max/min; updates applied in order",
    ),
    spec("Scatter", 9, 10, scatter_elements, "as ScatterElements"),
    spec(
        "MaxUnpool",
        9,
        22,
        max_unpool,
        "zeros, then ScatterElements of the values at their flat indices",
    ),
    spec(
        "Compress",
        9,
        22,
        compress,
        "condition constant: a Gather of the selected indices",
    ),
    spec(
        "TopK",
        1,
        22,
        top_k,
        "K constant; values and int64 indices, always sorted, ties by lower index",
    ),
];

fn reduction(c: &NodeCtx<'_>) -> Result<ScatterReduction, IrError> {
    let name = c.attrs.string("reduction", "none")?;
    ScatterReduction::from_name(&name).ok_or_else(|| {
        c.attr_error(format!(
            "reduction must be none, add, mul, max or min, got \"{name}\""
        ))
    })
}

fn gather_nd(c: &mut NodeCtx<'_>) -> Built {
    let (data, idx) = (c.req(0)?, c.req(1)?);
    let batch_dims = c.attrs.int("batch_dims", 0)?;
    let batch_dims = usize::try_from(batch_dims)
        .map_err(|_| c.attr_error(format!("batch_dims must be >= 0, got {batch_dims}")))?;
    c.emit1(
        Op::GatherNd(GatherNd { batch_dims }),
        vec![Some(data), Some(idx)],
    )
}

fn scatter_nd(c: &mut NodeCtx<'_>) -> Built {
    let (data, idx, upd) = (c.req(0)?, c.req(1)?, c.req(2)?);
    let op = Op::ScatterNd(ScatterNd {
        reduction: reduction(c)?,
    });
    c.emit1(op, vec![Some(data), Some(idx), Some(upd)])
}

fn scatter_elements(c: &mut NodeCtx<'_>) -> Built {
    let (data, idx, upd) = (c.req(0)?, c.req(1)?, c.req(2)?);
    let rank = c.dims(data)?.len();
    let axis = c.axis(c.attrs.int("axis", 0)?, rank)?;
    let op = Op::ScatterElements(ScatterElements {
        axis,
        reduction: reduction(c)?,
    });
    c.emit1(op, vec![Some(data), Some(idx), Some(upd)])
}

/// TopK (1–9: `k` attribute; 10: `K` input; 11+: `largest`, `sorted`). `K` must be a
/// constant; results come sorted either way.
fn top_k(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let axis = c.axis(c.attrs.int("axis", -1)?, rank)?;
    let k = if c.opset < 10 {
        c.attrs.int("k", -1)?
    } else {
        match c.const_ints(1, "K")? {
            Some(v) if v.len() == 1 => v[0],
            Some(v) => return Err(c.shape_error(format!("K must hold one value, got {v:?}"))),
            None => {
                return Err(c.shape_error(
                    "K must be a constant (neoc compiles static shapes); pass it with \
                     --constant-input",
                ))
            }
        }
    };
    let k = u64::try_from(k).map_err(|_| c.attr_error(format!("k must be >= 0, got {k}")))?;
    let largest = c.attrs.int("largest", 1)? != 0;
    c.emit(Op::TopK(TopK { axis, k, largest }), vec![Some(x)])
}

/// Compress: the slices along `axis` (of the flattened input without one) whose
/// condition is true. The output size depends on the condition, which must therefore
/// be a constant; the op becomes a Gather of the selected indices.
fn compress(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let Some(cond) = c.const_input(1).map(|t| t.to_f64_vec()) else {
        return Err(c.not_constant("condition"));
    };
    let (data, axis) = match c.attrs.opt_int("axis")? {
        Some(a) => (x, c.axis(a, xd.len())?),
        None => {
            let n: u64 = xd.iter().product();
            let flat = c.inner(
                "flat",
                Op::Reshape(neoc_ir::ops::Reshape { shape: vec![n] }),
                vec![Some(x)],
            )?;
            (flat, 0)
        }
    };
    let len = if c.attrs.has("axis") {
        xd[axis]
    } else {
        xd.iter().product()
    };
    let picked: Vec<i64> = cond
        .iter()
        .take(len as usize)
        .enumerate()
        .filter(|(_, &v)| v != 0.0)
        .map(|(i, _)| i as i64)
        .collect();
    let idx = c.constant(
        "indices",
        neoc_ir::Tensor::from_i64(vec![picked.len() as u64], &picked),
    );
    c.emit1(
        Op::Gather(neoc_ir::ops::Gather { axis }),
        vec![Some(data), Some(idx)],
    )
}

/// MaxUnpool: a zero tensor of the unpooled shape (`(in − 1) · stride + kernel − pads`)
/// with each value of X written at its flat index from I — a ScatterElements over the
/// flattened tensor — then zero-padded at the end of each dim up to `output_shape`
/// (constant) when that is larger, as onnxruntime places it.
fn max_unpool(c: &mut NodeCtx<'_>) -> Built {
    let (x, idx) = (c.req(0)?, c.req(1)?);
    let xd = c.dims(x)?;
    let k = xd.len().saturating_sub(2);
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .ok_or_else(|| c.attr_error("attribute \"kernel_shape\" is required"))?;
    let strides = c.attrs.uints("strides")?.unwrap_or_else(|| vec![1; k]);
    let pads = c.attrs.uints("pads")?.unwrap_or_else(|| vec![0; 2 * k]);
    if kernel.len() != k || strides.len() != k || pads.len() != 2 * k {
        return Err(c.attr_error(format!(
            "kernel_shape {kernel:?}, strides {strides:?} and pads {pads:?} do not match \
             {k} spatial dims"
        )));
    }
    // The window's output shape, which I indexes; an `output_shape` (constant) that is
    // larger pads the result at the end of each spatial dim.
    let mut natural = xd[..2].to_vec();
    for d in 0..k {
        let size = xd[2 + d]
            .saturating_sub(1)
            .saturating_mul(strides[d])
            .saturating_add(kernel[d]);
        natural.push(size.saturating_sub(pads[d].saturating_add(pads[k + d])));
    }
    let out: Vec<u64> = match c.input(2) {
        Some(_) => {
            let Some(v) = c.const_ints(2, "output_shape")? else {
                return Err(c.not_constant("output_shape"));
            };
            v.iter().map(|&d| u64::try_from(d).unwrap_or(0)).collect()
        }
        None => natural.clone(),
    };
    if out.len() != natural.len() || out.iter().zip(&natural).any(|(o, n)| o < n) {
        return Err(c.shape_error(format!(
            "output_shape {out:?} is smaller than the unpooled shape {natural:?}"
        )));
    }
    let n_out: u64 = c.built_elements(&natural, 8)?;
    c.built_elements(&out, 8)?;
    let n_in: u64 = xd.iter().product();
    let dtype = c.ty(x).dtype;
    let zeros = c.constant(
        "zeros",
        neoc_ir::Tensor::from_f64_as(dtype, vec![n_out], &vec![0.0; n_out as usize]),
    );
    let flat = |c: &mut NodeCtx<'_>, tag: &str, v| {
        c.inner(
            tag,
            Op::Reshape(neoc_ir::ops::Reshape { shape: vec![n_in] }),
            vec![Some(v)],
        )
    };
    let xf = flat(c, "values", x)?;
    let idf = flat(c, "indices", idx)?;
    let scattered = c.inner(
        "scatter",
        Op::ScatterElements(ScatterElements {
            axis: 0,
            reduction: ScatterReduction::None,
        }),
        vec![Some(zeros), Some(idf), Some(xf)],
    )?;
    let shaped = Op::Reshape(neoc_ir::ops::Reshape {
        shape: natural.clone(),
    });
    if out == natural {
        return c.emit1(shaped, vec![Some(scattered)]);
    }
    let shaped = c.inner("unpooled", shaped, vec![Some(scattered)])?;
    let mut pad = vec![0i64; 2 * out.len()];
    for (d, (o, n)) in out.iter().zip(&natural).enumerate() {
        pad[out.len() + d] = (o - n) as i64;
    }
    let op = Op::Pad(neoc_ir::ops::Pad {
        pads: pad,
        mode: neoc_ir::ops::PadMode::Constant,
        value: 0.0,
    });
    c.emit1(op, vec![Some(shaped)])
}
