//! Ops that generate index patterns: EyeLike, AffineGrid, Range, Hardmax, OneHot, and the
//! comparisons GreaterOrEqual / LessOrEqual — imported as constants or as existing IR
//! ops.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__EyeLike.html>,
//! <https://onnx.ai/onnx/operators/onnx__Range.html>,
//! <https://onnx.ai/onnx/operators/onnx__Hardmax.html>,
//! <https://onnx.ai/onnx/operators/onnx__OneHot.html>. Notes:
//! - EyeLike's output only depends on the (static) input shape: a constant.
//! - Range needs constant start/limit/delta (its output shape depends on them): a
//!   constant of `max(ceil((limit − start) / delta), 0)` elements.
//! - Hardmax (13+: one axis; 1–12 coerce to 2-D) is `Cast(Equal(iota, ArgMax(x)))`
//!   along the axis: the first maximum wins, as ArgMax.
//! - OneHot: `depth` constant; indices may be runtime, negative ones count from the end;
//!   `Where(Equal(iota, indices), on, off)` with the iota along `axis`.
//! - GreaterOrEqual / LessOrEqual (12+) are `Where(Greater, true, Equal)` (NaN compares
//!   false, unlike `Not(Less)`).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{ArgReduce, BinaryOp, Cast, Reshape};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("EyeLike", 9, 22, eye_like, "a constant; dtype, k"),
    spec(
        "AffineGrid",
        20,
        22,
        affine_grid,
        "size constant; one MatMul of a constant base grid by theta",
    ),
    spec(
        "Range",
        11,
        22,
        range,
        "start, limit, delta constant; a constant",
    ),
    spec(
        "Hardmax",
        13,
        22,
        hardmax,
        "Cast(Equal(iota, ArgMax(x))) along axis",
    ),
    spec(
        "OneHot",
        11,
        22,
        one_hot,
        "depth constant; Where(Equal(iota, indices), on, off)",
    ),
    spec(
        "GreaterOrEqual",
        12,
        22,
        greater_equal,
        "Where(Greater, true, Equal)",
    ),
    spec(
        "LessOrEqual",
        12,
        22,
        less_equal,
        "Where(Less, true, Equal)",
    ),
];

fn eye_like(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    if d.len() != 2 {
        return Err(c.shape_error(format!("needs a 2-D input, got {d:?}")));
    }
    let dtype = match c.attrs.opt_int("dtype")? {
        Some(code) => crate::reader::dtype_of(code as i32)
            .ok_or_else(|| c.attr_error(format!("dtype {code} is not supported")))?,
        None => c.ty(x).dtype,
    };
    let k = c.attrs.int("k", 0)?;
    let v: Vec<f64> = (0..d[0] as i64)
        .flat_map(|i| (0..d[1] as i64).map(move |j| f64::from(u8::from(j - i == k))))
        .collect();
    let t = Tensor::from_f64_as(dtype, d, &v);
    let name = c.output_name(0);
    Ok(vec![c.graph.add_const(name, t)])
}

fn range(c: &mut NodeCtx<'_>) -> Built {
    let get = |c: &NodeCtx<'_>, i: usize, what: &str| -> Result<f64, IrError> {
        c.const_scalar(i, what)?
            .ok_or_else(|| c.shape_error(format!("input {i} ({what}) is required")))
    };
    let (start, limit, delta) = (
        get(c, 0, "start")?,
        get(c, 1, "limit")?,
        get(c, 2, "delta")?,
    );
    if delta == 0.0 {
        return Err(c.shape_error("delta must not be 0"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0) as u64;
    let dtype = c.ty(c.req(0)?).dtype;
    let v: Vec<f64> = (0..n).map(|i| start + i as f64 * delta).collect();
    let name = c.output_name(0);
    Ok(vec![c
        .graph
        .add_const(name, Tensor::from_f64_as(dtype, vec![n], &v))])
}

/// `[0, 1, …, n−1]` as i64, shaped to lie along `axis` of a rank-`rank` tensor.
fn iota(c: &mut NodeCtx<'_>, n: u64, axis: usize, rank: usize) -> ValueId {
    let v: Vec<i64> = (0..n as i64).collect();
    let mut shape = vec![1u64; rank];
    shape[axis] = n;
    c.constant("iota", Tensor::from_i64(shape, &v))
}

fn hardmax(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let axis = c.axis(c.attrs.int("axis", -1)?, d.len())?;
    let am = ArgReduce {
        max: true,
        axis,
        keepdims: true,
        last: false,
    };
    let arg = c.inner("argmax", Op::ArgReduce(am), vec![Some(x)])?;
    let iota = iota(c, d[axis], axis, d.len());
    let hit = c.inner(
        "hit",
        Op::Binary(BinaryOp::Equal),
        vec![Some(iota), Some(arg)],
    )?;
    let to = c.ty(x).dtype;
    c.emit1(Op::Cast(Cast { to }), vec![Some(hit)])
}

fn one_hot(c: &mut NodeCtx<'_>) -> Built {
    let (indices, values) = (c.req(0)?, c.req(2)?);
    let depth = c
        .const_scalar(1, "depth")?
        .ok_or_else(|| c.shape_error("input 1 (depth) is required"))? as i64;
    if depth < 1 {
        return Err(c.shape_error(format!("depth must be positive, got {depth}")));
    }
    let id = c.dims(indices)?;
    let rank = id.len() + 1;
    let axis = c.axis(c.attrs.int("axis", -1)?, rank)?;
    // Indices as i64, negative ones wrapped: i + depth·(i < 0).
    let idx = c.inner(
        "indices_i64",
        Op::Cast(Cast { to: DType::I64 }),
        vec![Some(indices)],
    )?;
    let zero = c.constant("zero", Tensor::from_i64(vec![], &[0]));
    let dep = c.constant("depth", Tensor::from_i64(vec![], &[depth]));
    let neg = c.inner(
        "negative",
        Op::Binary(BinaryOp::Less),
        vec![Some(idx), Some(zero)],
    )?;
    let shifted = c.inner(
        "shifted",
        Op::Binary(BinaryOp::Add),
        vec![Some(idx), Some(dep)],
    )?;
    let idx = c.inner(
        "wrapped",
        Op::Where,
        vec![Some(neg), Some(shifted), Some(idx)],
    )?;
    // Insert the one-hot axis into the indices' shape.
    let mut shape = id.clone();
    shape.insert(axis, 1);
    let idx = c.inner(
        "indices_axis",
        Op::Reshape(Reshape { shape }),
        vec![Some(idx)],
    )?;
    let iota = iota(c, depth as u64, axis, rank);
    let hit = c.inner(
        "hit",
        Op::Binary(BinaryOp::Equal),
        vec![Some(iota), Some(idx)],
    )?;
    // values = [off, on]
    let vd = c.dims(values)?;
    if vd.iter().product::<u64>() != 2 {
        return Err(c.shape_error(format!("values must hold [off, on], got shape {vd:?}")));
    }
    let flat = c.inner(
        "values_flat",
        Op::Reshape(Reshape { shape: vec![2] }),
        vec![Some(values)],
    )?;
    let pick = |c: &mut NodeCtx<'_>, i: i64, what: &str| -> Result<ValueId, IrError> {
        let s = neoc_ir::ops::Slice {
            axes: vec![neoc_ir::ops::SliceAxis {
                axis: 0,
                start: i,
                end: i + 1,
                step: 1,
            }],
        };
        let one = c.inner(what, Op::Slice(s), vec![Some(flat)])?;
        c.inner(
            &format!("{what}_scalar"),
            Op::Reshape(Reshape { shape: vec![] }),
            vec![Some(one)],
        )
    };
    let off = pick(c, 0, "off")?;
    let on = pick(c, 1, "on")?;
    c.emit1(Op::Where, vec![Some(hit), Some(on), Some(off)])
}

fn or_equal(c: &mut NodeCtx<'_>, strict: BinaryOp) -> Built {
    let (a, b) = (c.req(0)?, c.req(1)?);
    let s = c.inner("strict", Op::Binary(strict), vec![Some(a), Some(b)])?;
    let e = c.inner("equal", Op::Binary(BinaryOp::Equal), vec![Some(a), Some(b)])?;
    let t = c.constant("true", Tensor::from_f64_as(DType::Bool, vec![], &[1.0]));
    c.emit1(Op::Where, vec![Some(s), Some(t), Some(e)])
}

fn greater_equal(c: &mut NodeCtx<'_>) -> Built {
    or_equal(c, BinaryOp::Greater)
}

fn less_equal(c: &mut NodeCtx<'_>) -> Built {
    or_equal(c, BinaryOp::Less)
}

/// AffineGrid (opset 20): `grid[n, (d,) h, w] = θ[n] · (x, y, (z,) 1)` over the base grid
/// of normalized coordinates, as one broadcast MatMul `base [P, k+1] × θᵀ [N, k+1, k]`
/// with the base grid a constant (the `size` input must be constant).
fn affine_grid(c: &mut NodeCtx<'_>) -> Built {
    let theta = c.req(0)?;
    let td = c.dims(theta)?;
    let dtype = c.ty(theta).dtype;
    let Some(size) = c.const_ints(1, "size")? else {
        return Err(c.not_constant("size"));
    };
    let align = c.attrs.flag("align_corners", false)?;
    let k = size.len().saturating_sub(2);
    if !(k == 2 || k == 3) || td != [size[0] as u64, k as u64, k as u64 + 1] {
        return Err(c.shape_error(format!(
            "theta {td:?} and size {size:?} must be [N, 2, 3] with [N, C, H, W] or [N, 3, 4] \
             with [N, C, D, H, W]"
        )));
    }
    let spatial: Vec<u64> = size[2..]
        .iter()
        .map(|&s| u64::try_from(s).unwrap_or(0))
        .collect();
    // Normalized coordinate of index i along an axis of length n.
    let coord = |i: u64, n: u64| -> f64 {
        if align {
            if n <= 1 {
                0.0
            } else {
                -1.0 + 2.0 * i as f64 / (n - 1) as f64
            }
        } else {
            (2.0 * i as f64 + 1.0) / n as f64 - 1.0
        }
    };
    let mut base_dims = spatial.clone();
    base_dims.push(k as u64 + 1);
    c.built_elements(&base_dims, 8)?;
    let points: u64 = spatial.iter().product();
    let mut base = Vec::with_capacity((points as usize) * (k + 1));
    for p in 0..points {
        // Innermost axis is x (width), then y (height), then z (depth).
        let mut rest = p;
        let mut xyz = vec![0.0; k];
        for (axis, &n) in spatial.iter().enumerate().rev() {
            xyz[k - 1 - axis] = coord(rest % n, n);
            rest /= n;
        }
        base.extend(xyz);
        base.push(1.0);
    }
    let base = c.constant(
        "base_grid",
        Tensor::from_f64_as(dtype, vec![points, k as u64 + 1], &base),
    );
    let theta_t = c.inner(
        "theta_t",
        Op::Transpose(neoc_ir::ops::Transpose {
            perm: vec![0, 2, 1],
        }),
        vec![Some(theta)],
    )?;
    let grid = c.inner("grid", Op::MatMul, vec![Some(base), Some(theta_t)])?;
    let mut shape = vec![td[0]];
    shape.extend(&spatial);
    shape.push(k as u64);
    c.emit1(Op::Reshape(Reshape { shape }), vec![Some(grid)])
}
