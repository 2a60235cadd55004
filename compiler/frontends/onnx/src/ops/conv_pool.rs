//! Convolution and pooling: Conv, ConvTranspose, Col2Im, MaxPool, AveragePool, LpPool,
//! GlobalAveragePool, GlobalMaxPool.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Conv.html> and the pooling pages.
//! `auto_pad` (NOTSET, VALID, SAME_UPPER, SAME_LOWER) is resolved here to explicit pads
//! with [`resolve_auto_pad`], so the IR always carries explicit pads. Conv's
//! `kernel_shape` defaults to the weight's spatial dims. Pooling: `ceil_mode` exists
//! from opset 10, MaxPool `dilations` from 10 and AveragePool `dilations` from 19, and
//! AveragePool `count_include_pad` from 7; absent, they default to off / 1.
//! MaxPool of int8/uint8 (12+) pools a float32 copy and casts back: every such value is
//! exact in float32 and a maximum picks one of them, so the result is exact. MaxPool's
//! Indices output (the flat index of each window's first maximum, in `storage_order`)
//! is an ArgMax over the windows gathered with constant offset tables
//! ([`max_pool_indices`]); a node that does not declare it gets the plain IR Pool.
//!
//! ConvTranspose resolves `auto_pad` and `output_shape` into (possibly negative) pads
//! the way onnx's reference does: explicit `pads` (or none, or VALID) are kept and an
//! `output_shape` then only moves the end pads; SAME_UPPER/SAME_LOWER without `pads`
//! split `natural − output_shape` (default `input · stride`) between the two ends, the
//! odd one at the end for SAME_UPPER and at the beginning for SAME_LOWER.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::conv::{resolve_auto_pad, AutoPad};
use neoc_ir::ops::{
    ArgReduce, BinaryOp, Cast, Conv, ConvTranspose, Gather, GlobalPool, Pool, PoolKind, UnaryOp,
};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Conv",
        7,
        22,
        conv,
        "1-D/2-D/3-D; auto_pad resolved to pads",
    ),
    spec(
        "ConvTranspose",
        1,
        22,
        conv_transpose,
        "N-d, grouped; auto_pad and output_shape resolved to pads",
    ),
    spec(
        "Col2Im",
        18,
        22,
        col2im,
        "a grouped ConvTranspose with one-hot weights; shapes constant",
    ),
    spec(
        "MaxPool",
        7,
        22,
        max_pool,
        "Indices output by ArgMax over gathered windows (storage_order); int8/uint8 through float32",
    ),
    spec("AveragePool", 7, 22, average_pool, "count_include_pad"),
    spec(
        "LpPool",
        11,
        22,
        lp_pool,
        "desugared: Pow(AveragePool(|x|^p, count_include_pad) * taps, 1/p); ceil_mode refused",
    ),
    spec("GlobalAveragePool", 7, 22, global_average_pool, ""),
    spec("GlobalMaxPool", 7, 22, global_max_pool, ""),
];

/// Largest kernel, stride, dilation or pad accepted (keeps the IR's window arithmetic
/// far from overflow for any attribute value).
const MAX_WINDOW: u64 = 1 << 31;

/// Window attributes shared by Conv and pooling, resolved for an input of `rank`.
pub(super) struct Window {
    pub(super) kernel: Vec<u64>,
    pub(super) strides: Vec<u64>,
    pub(super) pads: Vec<u64>,
    pub(super) dilations: Vec<u64>,
}

/// Reads `strides`, `dilations`, `pads` and `auto_pad` around a known `kernel`.
pub(super) fn window(c: &NodeCtx<'_>, input: &[u64], kernel: Vec<u64>) -> Result<Window, IrError> {
    let k = kernel.len();
    if input.len() != k + 2 {
        return Err(c.shape_error(format!(
            "input rank {} does not match a {k}-d kernel {kernel:?} (expected N, C and {k} spatial dims)",
            input.len()
        )));
    }
    let list = |name: &str, len: usize, default: u64| -> Result<Vec<u64>, IrError> {
        match c.attrs.uints(name)? {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len => Ok(v),
            Some(v) => Err(c.attr_error(format!(
                "attribute \"{name}\" has {} entries, expected {len}: {v:?}",
                v.len()
            ))),
        }
    };
    let strides = list("strides", k, 1)?;
    let dilations = list("dilations", k, 1)?;
    let explicit = list("pads", 2 * k, 0)?;
    let mode = match c.attrs.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => AutoPad::NotSet,
        "VALID" => AutoPad::Valid,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        other => {
            return Err(c.attr_error(format!(
                "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got \"{other}\""
            )))
        }
    };
    if mode != AutoPad::NotSet && c.attrs.has("pads") && explicit.iter().any(|&p| p != 0) {
        return Err(c.attr_error("pads and auto_pad cannot both be set"));
    }
    let all = kernel
        .iter()
        .chain(&strides)
        .chain(&dilations)
        .chain(&explicit);
    if all.copied().any(|v| v > MAX_WINDOW) {
        return Err(c.attr_error(format!(
            "kernel {kernel:?}, strides {strides:?}, dilations {dilations:?} or pads \
             {explicit:?} exceed {MAX_WINDOW}"
        )));
    }
    if kernel.contains(&0) || strides.contains(&0) || dilations.contains(&0) {
        return Err(c.attr_error(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must be positive"
        )));
    }
    let pads = resolve_auto_pad(mode, &input[2..], &kernel, &strides, &dilations, &explicit);
    Ok(Window {
        kernel,
        strides,
        pads,
        dilations,
    })
}

fn conv(c: &mut NodeCtx<'_>) -> Built {
    let (x, w, b) = (c.req(0)?, c.req(1)?, c.input(2));
    let op = conv_op(c, x, w)?;
    c.emit1(op, vec![Some(x), Some(w), b])
}

/// The IR Conv of a node with Conv's attributes over input `x` and weights `w` (also
/// used by the quantized convolutions).
pub(super) fn conv_op(c: &NodeCtx<'_>, x: ValueId, w: ValueId) -> Result<Op, IrError> {
    let (xd, wd) = (c.dims(x)?, c.dims(w)?);
    if wd.len() < 3 {
        return Err(c.shape_error(format!(
            "weight must have rank >= 3 (M, C/group, kernel...), got {wd:?}"
        )));
    }
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .unwrap_or_else(|| wd[2..].to_vec());
    let group = c.attrs.int("group", 1)?;
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| c.attr_error(format!("group must be positive, got {group}")))?;
    let win = window(c, &xd, kernel)?;
    Ok(Op::Conv(Conv {
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        group,
    }))
}

fn conv_transpose(c: &mut NodeCtx<'_>) -> Built {
    let (x, w, b) = (c.req(0)?, c.req(1)?, c.input(2));
    let (xd, wd) = (c.dims(x)?, c.dims(w)?);
    if wd.len() < 3 || xd.len() != wd.len() {
        return Err(c.shape_error(format!(
            "input {xd:?} and weight {wd:?} must both be (N or C, C or M/group, spatial...) \
             of one rank >= 3"
        )));
    }
    let k = wd.len() - 2;
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .unwrap_or_else(|| wd[2..].to_vec());
    let list = |name: &str, default: u64| -> Result<Vec<u64>, IrError> {
        match c.attrs.uints(name)? {
            None => Ok(vec![default; k]),
            Some(v) if v.len() == k => Ok(v),
            Some(v) => Err(c.attr_error(format!(
                "attribute \"{name}\" has {} entries, expected {k}: {v:?}",
                v.len()
            ))),
        }
    };
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let output_padding = list("output_padding", 0)?;
    let all = kernel
        .iter()
        .chain(&strides)
        .chain(&dilations)
        .chain(&output_padding);
    if all.clone().any(|&v| v > MAX_WINDOW)
        || kernel
            .iter()
            .chain(&strides)
            .chain(&dilations)
            .any(|&v| v == 0)
    {
        return Err(c.attr_error(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must be \
             between 1 and {MAX_WINDOW}, output_padding {output_padding:?} at most that"
        )));
    }
    let group = c.attrs.int("group", 1)?;
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| c.attr_error(format!("group must be positive, got {group}")))?;
    // Output size without padding, per spatial dim.
    // In i128: strides and dims are each bounded, their products are not.
    let natural: Vec<i64> = (0..k)
        .map(|d| {
            let n = i128::from(strides[d]) * (i128::from(xd[2 + d]) - 1)
                + i128::from(output_padding[d])
                + (i128::from(kernel[d]) - 1) * i128::from(dilations[d])
                + 1;
            i64::try_from(n).unwrap_or(i64::MAX)
        })
        .collect();
    let output_shape = match c.attrs.ints("output_shape")? {
        None => None,
        // Some exporters write the whole output shape (N, M, spatial...).
        Some(v) if v.len() == k || v.len() == k + 2 => Some(v[v.len() - k..].to_vec()),
        Some(v) => {
            return Err(c.attr_error(format!(
                "output_shape {v:?} must have {k} entries (one per spatial dim)"
            )))
        }
    };
    let auto_pad = c.attrs.string("auto_pad", "NOTSET")?;
    let explicit = c.attrs.ints("pads")?.map(|p| p.to_vec());
    let pads = match (auto_pad.as_str(), explicit) {
        ("SAME_UPPER" | "SAME_LOWER", None) => {
            let out = output_shape.unwrap_or_else(|| {
                (0..k)
                    .map(|d| xd[2 + d] as i64 * strides[d] as i64)
                    .collect()
            });
            let total: Vec<i64> = (0..k).map(|d| natural[d] - out[d]).collect();
            let half: Vec<i64> = total.iter().map(|t| t.div_euclid(2)).collect();
            if auto_pad == "SAME_UPPER" {
                half.iter()
                    .copied()
                    .chain((0..k).map(|d| total[d] - half[d]))
                    .collect()
            } else {
                (0..k)
                    .map(|d| total[d] - half[d])
                    .chain(half.iter().copied())
                    .collect()
            }
        }
        ("NOTSET" | "" | "VALID" | "SAME_UPPER" | "SAME_LOWER", explicit) => {
            let mut pads = match explicit {
                Some(p) if auto_pad != "VALID" => p,
                _ => vec![0; 2 * k],
            };
            if pads.len() != 2 * k {
                return Err(c.attr_error(format!(
                    "pads {pads:?} must have {} entries (begin and end per spatial dim)",
                    2 * k
                )));
            }
            if let Some(out) = output_shape {
                for d in 0..k {
                    pads[k + d] = natural[d] - pads[d] - out[d];
                }
            }
            pads
        }
        (other, _) => {
            return Err(c.attr_error(format!(
                "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got \"{other}\""
            )))
        }
    };
    let op = Op::ConvTranspose(ConvTranspose {
        kernel,
        strides,
        pads,
        dilations,
        output_padding,
        group,
    });
    c.emit1(op, vec![Some(x), Some(w), b])
}

fn pool(c: &mut NodeCtx<'_>, kind: PoolKind) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .ok_or_else(|| c.attr_error("attribute \"kernel_shape\" is required"))?;
    let win = window(c, &xd, kernel)?;
    let ceil_mode = c.attrs.flag("ceil_mode", false)?;
    let pool = Pool {
        kind,
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        ceil_mode,
    };
    let dtype = c.ty(x).dtype;
    let small_int = kind == PoolKind::Max && matches!(dtype, DType::I8 | DType::U8);
    if kind != PoolKind::Max || c.output_count() < 2 {
        let op = Op::Pool(pool);
        if small_int {
            let f = c.inner("as_f32", Op::Cast(Cast { to: DType::F32 }), vec![Some(x)])?;
            let p = c.inner("pool_f32", op, vec![Some(f)])?;
            return c.emit1(Op::Cast(Cast { to: dtype }), vec![Some(p)]);
        }
        return c.emit1(op, vec![Some(x)]);
    }
    // MaxPool with its Indices output.
    let xf = if small_int {
        c.inner("as_f32", Op::Cast(Cast { to: DType::F32 }), vec![Some(x)])?
    } else {
        x
    };
    let y = if small_int {
        let p = c.inner("pool_f32", Op::Pool(pool.clone()), vec![Some(xf)])?;
        c.emit_output(0, Op::Cast(Cast { to: dtype }), vec![Some(p)])?
    } else {
        c.emit_output(0, Op::Pool(pool.clone()), vec![Some(x)])?
    };
    let indices = max_pool_indices(c, xf, &pool, y)?;
    Ok(vec![y, indices])
}

/// MaxPool's Indices output (`int64`, like Y): for each window, the flat index into `x`
/// (`[N, C, spatial...]`, the spatial part row-major, or column-major with
/// `storage_order = 1`) of its first maximum, as the reference computes it.
///
/// The windows are gathered from `x` flattened to `[N, C, S]` with a constant
/// `[taps, positions]` table of spatial offsets (taps outside the input masked to −∞),
/// ArgMax over the taps picks the first maximum, and a second constant table maps
/// (position, tap) to the index in the requested storage order, to which the `(n, c)`
/// offset is added.
fn max_pool_indices(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    p: &Pool,
    y: ValueId,
) -> Result<ValueId, IrError> {
    let column_major = match c.attrs.int("storage_order", 0)? {
        0 => false,
        1 => true,
        v => return Err(c.attr_error(format!("storage_order must be 0 or 1, got {v}"))),
    };
    let (xd, yd) = (c.dims(x)?, c.dims(y)?);
    let k = p.kernel.len();
    if xd.len() != k + 2 || yd.len() != k + 2 {
        return Err(c.shape_error(format!("input {xd:?} does not match a {k}-d kernel")));
    }
    let (n, ch) = (xd[0], xd[1]);
    let (spatial, out) = (&xd[2..], &yd[2..]);
    let taps = c.built_elements(&p.kernel, 8)?;
    let positions = c.built_elements(out, 8)?;
    let cells = c.built_elements(&[taps, positions], 8)?;
    let planes = c.built_elements(&[n, ch], 8)?;
    let too_large = || c.shape_error(format!("input {xd:?} is too large for int64 indices"));
    let s = spatial
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&v| v.checked_mul(planes).is_some_and(|t| t <= i64::MAX as u64))
        .ok_or_else(too_large)?;
    // Row-major and column-major strides of the spatial dims.
    let mut row = vec![1i128; k];
    let mut col = vec![1i128; k];
    for i in (0..k.saturating_sub(1)).rev() {
        row[i] = row[i + 1] * i128::from(spatial[i + 1]);
    }
    for i in 1..k {
        col[i] = col[i - 1] * i128::from(spatial[i - 1]);
    }
    // Mixed-radix digits of `v` over `dims` (row-major).
    let digits = |mut v: u64, dims: &[u64]| -> Vec<u64> {
        let mut d = vec![0; dims.len()];
        for (slot, &size) in d.iter_mut().zip(dims).rev() {
            *slot = v % size.max(1);
            v /= size.max(1);
        }
        d
    };
    let mut offsets = vec![0i64; cells as usize];
    let mut inside = vec![0.0f64; cells as usize];
    let mut stored = vec![0i64; cells as usize];
    for t in 0..taps {
        let tap = digits(t, &p.kernel);
        for q in 0..positions {
            let pos = digits(q, out);
            let (mut r, mut cm, mut ok) = (0i128, 0i128, true);
            for i in 0..k {
                let coord = i128::from(pos[i]) * i128::from(p.strides[i])
                    + i128::from(tap[i]) * i128::from(p.dilations[i])
                    - i128::from(p.pads[i]);
                ok &= (0..i128::from(spatial[i])).contains(&coord);
                r += coord * row[i];
                cm += coord * col[i];
            }
            if ok {
                let cell = (t * positions + q) as usize;
                offsets[cell] = r as i64;
                inside[cell] = 1.0;
                stored[(q * taps + t) as usize] = if column_major { cm } else { r } as i64;
            }
        }
    }
    let dtype = c.ty(x).dtype;
    let flat = c.inner(
        "planes",
        Op::Reshape(neoc_ir::ops::Reshape {
            shape: vec![n, ch, s],
        }),
        vec![Some(x)],
    )?;
    let offsets = c.constant(
        "window_offsets",
        Tensor::from_i64(vec![taps, positions], &offsets),
    );
    let windows = c.inner(
        "windows",
        Op::Gather(Gather { axis: 2 }),
        vec![Some(flat), Some(offsets)],
    )?;
    let inside = c.constant(
        "window_inside",
        Tensor::from_f64_as(DType::Bool, vec![taps, positions], &inside),
    );
    let low = c.constant(
        "outside",
        Tensor::from_f64_as(dtype, vec![], &[f64::NEG_INFINITY]),
    );
    let masked = c.inner(
        "masked_windows",
        Op::Where,
        vec![Some(inside), Some(windows), Some(low)],
    )?;
    let arg = ArgReduce {
        max: true,
        axis: 2,
        keepdims: false,
        last: false,
    };
    let tap = c.inner("first_max", Op::ArgReduce(arg), vec![Some(masked)])?;
    // Row `q` of the (position, tap) table starts at q·taps.
    let starts: Vec<i64> = (0..positions).map(|q| (q * taps) as i64).collect();
    let starts = c.constant("row_starts", Tensor::from_i64(vec![positions], &starts));
    let cell = c.inner(
        "cell",
        Op::Binary(BinaryOp::Add),
        vec![Some(tap), Some(starts)],
    )?;
    let stored = c.constant("stored_index", Tensor::from_i64(vec![cells], &stored));
    let spatial_index = c.inner(
        "spatial_index",
        Op::Gather(Gather { axis: 0 }),
        vec![Some(stored), Some(cell)],
    )?;
    let base: Vec<i64> = (0..planes).map(|i| (i * s) as i64).collect();
    let base = c.constant("plane_base", Tensor::from_i64(vec![n, ch, 1], &base));
    let index = c.inner(
        "index",
        Op::Binary(BinaryOp::Add),
        vec![Some(spatial_index), Some(base)],
    )?;
    c.emit_output(
        1,
        Op::Reshape(neoc_ir::ops::Reshape { shape: yd }),
        vec![Some(index)],
    )
}

fn max_pool(c: &mut NodeCtx<'_>) -> Built {
    pool(c, PoolKind::Max)
}

fn average_pool(c: &mut NodeCtx<'_>) -> Built {
    let count_include_pad = c.attrs.flag("count_include_pad", false)?;
    pool(c, PoolKind::Avg { count_include_pad })
}

/// LpPool as `(Σ_window |x|^p)^(1/p)`: the window sum is an average over the whole
/// window (count_include_pad: padding adds zeros, and without ceil_mode every window
/// lies inside the padded extent) times the number of taps.
fn lp_pool(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let dtype = c.ty(x).dtype;
    if !dtype.is_float() {
        return Err(c.shape_error(format!("LpPool needs a float input, got {dtype}")));
    }
    let p = c.attrs.int("p", 2)?;
    if p < 1 {
        return Err(c.attr_error(format!("p must be >= 1, got {p}")));
    }
    if c.attrs.flag("ceil_mode", false)? {
        return Err(c.attr_error("ceil_mode = 1 is not supported for LpPool"));
    }
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .ok_or_else(|| c.attr_error("attribute \"kernel_shape\" is required"))?;
    let taps: u64 = kernel.iter().product();
    let win = window(c, &xd, kernel)?;
    let scalar = |c: &mut NodeCtx<'_>, name: &str, v: f64| {
        c.constant(name, neoc_ir::Tensor::from_f64_as(dtype, vec![], &[v]))
    };
    let abs = c.inner("abs", Op::Unary(UnaryOp::Abs), vec![Some(x)])?;
    let pv = scalar(c, "p", p as f64);
    let powed = c.inner("pow", Op::Binary(BinaryOp::Pow), vec![Some(abs), Some(pv)])?;
    let avg = Op::Pool(Pool {
        kind: PoolKind::Avg {
            count_include_pad: true,
        },
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        ceil_mode: false,
    });
    let mean = c.inner("mean", avg, vec![Some(powed)])?;
    let n = scalar(c, "taps", taps as f64);
    let sum = c.inner("sum", Op::Binary(BinaryOp::Mul), vec![Some(mean), Some(n)])?;
    let inv = scalar(c, "inv_p", 1.0 / p as f64);
    c.emit1(Op::Binary(BinaryOp::Pow), vec![Some(sum), Some(inv)])
}

fn global_average_pool(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let kind = PoolKind::Avg {
        count_include_pad: false,
    };
    c.emit1(Op::GlobalPool(GlobalPool { kind }), vec![Some(x)])
}

fn global_max_pool(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let kind = PoolKind::Max;
    c.emit1(Op::GlobalPool(GlobalPool { kind }), vec![Some(x)])
}

/// Col2Im (18+): the sum of overlapping blocks back into an image, as a ConvTranspose.
/// Column `c·K + k` (K taps per block) of block position `l` adds into channel `c` at
/// `l·stride + k·dilation − pad` — a transposed convolution of the columns, laid out as
/// `[N, C·K, L1, L2, ...]`, with `C` groups and a constant one-hot weight (column
/// `c·K + k` has a single 1 at tap `k`). `image_shape` and `block_shape` are constants.
fn col2im(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let (Some(image), Some(block)) = (
        c.const_ints(1, "image_shape")?,
        c.const_ints(2, "block_shape")?,
    ) else {
        return Err(c.not_constant("image_shape and block_shape"));
    };
    let k = image.len();
    let to_u = |v: &[i64]| {
        v.iter()
            .map(|&d| u64::try_from(d).unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let (image, block) = (to_u(&image), to_u(&block));
    let list = |name: &str, len: usize, default: u64| -> Result<Vec<u64>, IrError> {
        Ok(c.attrs.uints(name)?.unwrap_or_else(|| vec![default; len]))
    };
    let strides = list("strides", k, 1)?;
    let dilations = list("dilations", k, 1)?;
    let pads = list("pads", 2 * k, 0)?;
    let taps: u64 = block.iter().product();
    if xd.len() != 3
        || block.len() != k
        || strides.len() != k
        || dilations.len() != k
        || pads.len() != 2 * k
        || taps == 0
        || xd[1] % taps != 0
    {
        return Err(c.shape_error(format!(
            "input {xd:?}, image_shape {image:?}, block_shape {block:?} do not fit Col2Im"
        )));
    }
    // Block positions per dim.
    let mut grid = Vec::with_capacity(k);
    for d in 0..k {
        let span = dilations[d]
            .saturating_mul(block[d].max(1) - 1)
            .saturating_add(1);
        let padded = image[d].saturating_add(pads[d]).saturating_add(pads[k + d]);
        if padded < span || strides[d] == 0 {
            return Err(c.shape_error(format!("block {block:?} does not fit image {image:?}")));
        }
        grid.push((padded - span) / strides[d] + 1);
    }
    if grid.iter().product::<u64>() != xd[2] {
        return Err(c.shape_error(format!(
            "{} blocks given, image {image:?} with blocks {block:?} has {}",
            xd[2],
            grid.iter().product::<u64>()
        )));
    }
    let channels = xd[1] / taps;
    let mut cols = vec![xd[0], xd[1]];
    cols.extend(&grid);
    let xg = c.inner(
        "columns",
        Op::Reshape(neoc_ir::ops::Reshape { shape: cols }),
        vec![Some(x)],
    )?;
    let mut wshape = vec![xd[1], 1];
    wshape.extend(&block);
    let mut w = vec![0.0; c.built_elements(&[xd[1], taps], 8)? as usize];
    for col in 0..xd[1] {
        let tap = col % taps;
        w[(col * taps + tap) as usize] = 1.0;
    }
    let dtype = c.ty(x).dtype;
    let wv = c.constant("one_hot", neoc_ir::Tensor::from_f64_as(dtype, wshape, &w));
    // End pads make the output exactly the image (strides may leave a remainder).
    let mut tpads: Vec<i64> = pads.iter().map(|&p| p as i64).collect();
    for d in 0..k {
        let natural =
            (strides[d] * (grid[d] - 1) + dilations[d] * (block[d].max(1) - 1) + 1) as i64;
        tpads[k + d] = natural - tpads[d] - image[d] as i64;
    }
    let op = Op::ConvTranspose(ConvTranspose {
        kernel: block,
        strides,
        pads: tpads,
        dilations,
        output_padding: vec![0; k],
        group: channels,
    });
    c.emit1(op, vec![Some(xg), Some(wv)])
}
