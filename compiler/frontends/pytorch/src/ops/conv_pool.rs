//! Convolutions and pooling: `conv1d/2d/3d`, `convolution`, `_convolution`,
//! `conv_transpose1d/2d/3d`, max/avg pooling and adaptive pooling.
//!
//! torch pads symmetrically (`padding=[p]` pads both ends) or by name (`'same'`, with an
//! odd total put at the end, `'valid'`); pooling's `ceil_mode` and
//! `count_include_pad` carry over as is. Adaptive pooling becomes a global pool when the
//! output is 1, a plain pool when the input divides evenly, and otherwise one
//! reduction per output bin along each axis (bins `[floor(i·n/o), ceil((i+1)·n/o))`),
//! which is exact since box means and maxima separate by axis. Inputs without a batch
//! dim (torch accepts them) get one around the op.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{
    Concat, Conv, ConvTranspose, GlobalPool, Pool, PoolKind, Reduce, ReduceKind, Slice, SliceAxis,
};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("conv1d", conv, "padding ints, 'same' or 'valid'"),
    op("conv2d", conv, "padding ints, 'same' or 'valid'"),
    op("conv3d", conv, "padding ints, 'same' or 'valid'"),
    op("_convolution_mode", conv, "padding 'same' or 'valid'"),
    op("convolution", convolution, "transposed too"),
    op("_convolution", convolution, "transposed too"),
    op("conv_transpose1d", conv_transpose, ""),
    op("conv_transpose2d", conv_transpose, ""),
    op("conv_transpose3d", conv_transpose, ""),
    op("max_pool1d", max_pool, "ceil_mode, dilation"),
    op("max_pool2d", max_pool, "ceil_mode, dilation"),
    op("max_pool3d", max_pool, "ceil_mode, dilation"),
    op(
        "max_pool2d_with_indices",
        max_pool,
        "the indices output is not supported",
    ),
    op("avg_pool1d", avg_pool, "ceil_mode, count_include_pad"),
    op(
        "avg_pool2d",
        avg_pool,
        "ceil_mode, count_include_pad; no divisor_override",
    ),
    op(
        "avg_pool3d",
        avg_pool,
        "ceil_mode, count_include_pad; no divisor_override",
    ),
    op(
        "adaptive_avg_pool1d",
        adaptive_avg,
        "global, even or per-bin",
    ),
    op(
        "adaptive_avg_pool2d",
        adaptive_avg,
        "global, even or per-bin",
    ),
    op(
        "adaptive_avg_pool3d",
        adaptive_avg,
        "global, even or per-bin",
    ),
    op(
        "_adaptive_avg_pool2d",
        adaptive_avg,
        "global, even or per-bin",
    ),
    op(
        "adaptive_max_pool1d",
        adaptive_max,
        "the indices output is not supported",
    ),
    op(
        "adaptive_max_pool2d",
        adaptive_max,
        "the indices output is not supported",
    ),
];

/// Spatial dims of an op named `...1d/2d/3d`, or `None` when the name does not say.
fn spatial_of_name(op: &str) -> Option<usize> {
    ["1d", "2d", "3d"]
        .iter()
        .position(|s| op.ends_with(s) || op.contains(&format!("{s}_")))
        .map(|i| i + 1)
}

/// Runs `f` on `x` with a batch dim added when `x` has rank `k + 1`.
fn batched(
    c: &mut Call<'_>,
    x: ValueId,
    k: usize,
    f: impl FnOnce(&mut Call<'_>, ValueId) -> Result<ValueId, IrError>,
) -> Result<ValueId, IrError> {
    let d = c.dims(x)?;
    if d.len() == k + 2 {
        return f(c, x);
    }
    if d.len() != k + 1 {
        return Err(c.err(format!(
            "expects a {}-D or {}-D input, got {:?}",
            k + 1,
            k + 2,
            d
        )));
    }
    let mut b = vec![1];
    b.extend(&d);
    let xb = c.reshape(x, &b)?;
    let y = f(c, xb)?;
    let yd = c.dims(y)?;
    c.reshape(y, &yd[1..])
}

/// Window sizes, strides and dilations: every entry at least 1.
fn positive(c: &Call<'_>, v: &[i64], what: &str) -> Result<Vec<u64>, IrError> {
    let out = to_u64(c, v, what)?;
    if out.contains(&0) {
        return Err(c.attr_err(format!("{what} {v:?} must be positive")));
    }
    Ok(out)
}

/// The largest window, stride, dilation or padding accepted (far above real models;
/// keeps the IR's window arithmetic from overflowing).
const MAX_WINDOW: u64 = 1 << 31;

fn to_u64(c: &Call<'_>, v: &[i64], what: &str) -> Result<Vec<u64>, IrError> {
    v.iter()
        .map(|&x| {
            u64::try_from(x)
                .ok()
                .filter(|&x| x <= MAX_WINDOW)
                .ok_or_else(|| c.attr_err(format!("{what} {v:?} must be in 0..=2^31")))
        })
        .collect()
}

/// Conv pads `[begins..., ends...]` from torch's `padding` (ints or a name).
fn conv_pads(c: &Call<'_>, i: usize, kernel: &[u64], dil: &[u64]) -> Result<Vec<u64>, IrError> {
    let k = kernel.len();
    if let Some(Val::Str(s)) = c.get(i, "padding") {
        return match s.as_str() {
            "valid" => Ok(vec![0; 2 * k]),
            "same" => {
                let total: Vec<u64> = (0..k)
                    .map(|j| dil[j].saturating_mul(kernel[j].saturating_sub(1)))
                    .collect();
                let mut p: Vec<u64> = total.iter().map(|t| t / 2).collect();
                p.extend(total.iter().map(|t| t - t / 2));
                Ok(p)
            }
            other => Err(c.attr_err(format!("padding `{other}` is unknown"))),
        };
    }
    let p = to_u64(c, &c.ints_n(i, "padding", k, &vec![0; k])?, "padding")?;
    Ok([p.clone(), p].concat())
}

struct ConvArgs {
    transposed: bool,
    stride: usize,
    padding: usize,
    dilation: usize,
    output_padding: Option<usize>,
    groups: usize,
}

fn conv_impl(c: &mut Call<'_>, a: ConvArgs) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let w = c.tensor(1, "weight")?;
    let b = c.opt_tensor(2, "bias")?;
    let wd = c.dims(w)?;
    if wd.len() < 3 {
        return Err(c.err(format!("weight {wd:?} has no spatial dims")));
    }
    let k = wd.len() - 2;
    let kernel = wd[2..].to_vec();
    let ones = vec![1i64; k];
    if kernel.contains(&0) {
        return Err(c.err(format!("weight {wd:?} has an empty kernel")));
    }
    let strides = positive(c, &c.ints_n(a.stride, "stride", k, &ones)?, "stride")?;
    let dilations = positive(c, &c.ints_n(a.dilation, "dilation", k, &ones)?, "dilation")?;
    let group = c.int(a.groups, "groups", 1)?;
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| c.attr_err("groups must be positive"))?;
    let op = if a.transposed {
        let p = c.ints_n(a.padding, "padding", k, &vec![0; k])?;
        let output_padding = match a.output_padding {
            Some(i) => to_u64(
                c,
                &c.ints_n(i, "output_padding", k, &vec![0; k])?,
                "output_padding",
            )?,
            None => vec![0; k],
        };
        Op::ConvTranspose(ConvTranspose {
            kernel,
            strides,
            pads: [p.clone(), p].concat(),
            dilations,
            output_padding,
            group,
        })
    } else {
        let pads = conv_pads(c, a.padding, &kernel, &dilations)?;
        Op::Conv(Conv {
            kernel,
            strides,
            pads,
            dilations,
            group,
        })
    };
    let y = batched(c, x, k, |c, x| c.add_opt(op, vec![Some(x), Some(w), b]))?;
    Ok(vec![Val::Tensor(y)])
}

/// `conv2d(input, weight, bias, stride, padding, dilation, groups)`.
fn conv(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    conv_impl(
        c,
        ConvArgs {
            transposed: false,
            stride: 3,
            padding: 4,
            dilation: 5,
            output_padding: None,
            groups: 6,
        },
    )
}

/// `convolution(input, weight, bias, stride, padding, dilation, transposed,
/// output_padding, groups, ...)`.
fn convolution(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let transposed = c.bool(6, "transposed", false)?;
    conv_impl(
        c,
        ConvArgs {
            transposed,
            stride: 3,
            padding: 4,
            dilation: 5,
            output_padding: Some(7),
            groups: 8,
        },
    )
}

/// `conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
/// dilation)`.
fn conv_transpose(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    conv_impl(
        c,
        ConvArgs {
            transposed: true,
            stride: 3,
            padding: 4,
            dilation: 7,
            output_padding: Some(5),
            groups: 6,
        },
    )
}

/// The spatial rank of a pooling call: from the name, else from the kernel size.
fn pool_rank(c: &Call<'_>) -> Result<usize, IrError> {
    if let Some(k) = spatial_of_name(c.op) {
        return Ok(k);
    }
    Ok(c.ints(1, "kernel_size")?.len())
}

fn pool_impl(
    c: &mut Call<'_>,
    kind: PoolKind,
    dilation: Option<usize>,
    ceil: usize,
) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let k = pool_rank(c)?;
    let kernel = positive(c, &c.ints_n(1, "kernel_size", k, &[])?, "kernel_size")?;
    let ks: Vec<i64> = kernel.iter().map(|&v| v as i64).collect();
    let strides = positive(c, &c.ints_n(2, "stride", k, &ks)?, "stride")?;
    let p = to_u64(c, &c.ints_n(3, "padding", k, &vec![0; k])?, "padding")?;
    let dilations = match dilation {
        Some(i) => positive(c, &c.ints_n(i, "dilation", k, &vec![1; k])?, "dilation")?,
        None => vec![1; k],
    };
    let ceil_mode = c.bool(ceil, "ceil_mode", false)?;
    let pool = Op::Pool(Pool {
        kind,
        kernel,
        strides,
        pads: [p.clone(), p].concat(),
        dilations,
        ceil_mode,
    });
    let y = batched(c, x, k, |c, x| c.add(pool, &[x]))?;
    Ok(vec![Val::Tensor(y)])
}

/// `max_pool2d(self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode=False)`.
fn max_pool(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let mut out = pool_impl(c, PoolKind::Max, Some(4), 5)?;
    if c.op.ends_with("_with_indices") {
        out.push(Val::None);
    }
    Ok(out)
}

/// `avg_pool2d(self, kernel_size, stride=[], padding=0, ceil_mode=False,
/// count_include_pad=True, divisor_override=None)`.
fn avg_pool(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    if c.has(6, "divisor_override") {
        return Err(c.attr_err("avg_pool divisor_override is not supported"));
    }
    let count_include_pad = c.bool(5, "count_include_pad", true)?;
    pool_impl(c, PoolKind::Avg { count_include_pad }, None, 4)
}

fn adaptive(c: &mut Call<'_>, kind: PoolKind) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let out = c.ints(1, "output_size")?;
    let k = spatial_of_name(c.op).unwrap_or(out.len());
    let out = if out.len() == 1 { vec![out[0]; k] } else { out };
    if out.len() != k {
        return Err(c.attr_err(format!("output_size {out:?} does not have {k} entries")));
    }
    let y = batched(c, x, k, |c, x| adaptive_batched(c, x, kind, &out))?;
    Ok(vec![Val::Tensor(y)])
}

fn adaptive_batched(
    c: &mut Call<'_>,
    x: ValueId,
    kind: PoolKind,
    out: &[i64],
) -> Result<ValueId, IrError> {
    let d = c.dims(x)?;
    let k = out.len();
    let spatial = &d[2..];
    let out: Vec<u64> = out
        .iter()
        .zip(spatial)
        .map(|(&o, &n)| if o < 0 { n } else { o as u64 })
        .collect();
    if out.contains(&0) {
        return Err(c.attr_err(format!("output_size {out:?} has a zero")));
    }
    if out.iter().all(|&o| o == 1) {
        return c.add(Op::GlobalPool(GlobalPool { kind }), &[x]);
    }
    if out.iter().zip(spatial).all(|(&o, &n)| n % o == 0) {
        let kernel: Vec<u64> = out.iter().zip(spatial).map(|(&o, &n)| n / o).collect();
        let pool = Op::Pool(Pool {
            kind,
            kernel: kernel.clone(),
            strides: kernel,
            pads: vec![0; 2 * k],
            dilations: vec![1; k],
            ceil_mode: false,
        });
        return c.add(pool, &[x]);
    }
    let bins = out.iter().fold(0u64, |a, &o| a.saturating_add(o));
    c.check_pieces(bins, "adaptive pooling bins")?;
    let reduce = match kind {
        PoolKind::Max => ReduceKind::Max,
        PoolKind::Avg { .. } => ReduceKind::Mean,
    };
    let mut y = x;
    for (j, (&o, &n)) in out.iter().zip(spatial).enumerate() {
        let axis = j + 2;
        let mut bins = Vec::with_capacity(o as usize);
        for i in 0..o {
            let start = (i * n / o) as i64;
            let end = ((i + 1) * n).div_ceil(o) as i64;
            let s = c.add(
                Op::Slice(Slice {
                    axes: vec![SliceAxis {
                        axis,
                        start,
                        end,
                        step: 1,
                    }],
                }),
                &[y],
            )?;
            let r = c.add(
                Op::Reduce(Reduce {
                    kind: reduce,
                    axes: vec![axis],
                    keepdims: true,
                }),
                &[s],
            )?;
            bins.push(r);
        }
        y = c.add(Op::Concat(Concat { axis }), &bins)?;
    }
    Ok(y)
}

/// `adaptive_avg_pool2d(self, output_size)`.
fn adaptive_avg(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    adaptive(
        c,
        PoolKind::Avg {
            count_include_pad: false,
        },
    )
}

/// `adaptive_max_pool2d(self, output_size)`: values only.
fn adaptive_max(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let mut out = adaptive(c, PoolKind::Max)?;
    out.push(Val::None);
    Ok(out)
}
