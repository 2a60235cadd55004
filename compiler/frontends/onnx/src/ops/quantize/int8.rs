//! The int8 kernel form of the operator-form ops: QLinearConv, QLinearMatMul,
//! ConvInteger and MatMulInteger become one `QConv` (`docs/quantization.md`) when the
//! operands are what the int8 kernels take:
//! - the activation is u8 or i8 with a per-tensor zero point: a constant, or a run-time
//!   scalar (DynamicQuantizeLinear's, in `quantize_dynamic` models), which becomes the
//!   QConv's input 5;
//! - the weights are a constant i8 tensor with no (or an all-zero) zero point;
//! - scales (QLinear*) are constants; the weight scale per tensor or per output
//!   channel; the output zero point a constant u8 or i8 scalar.
//!
//! QGemm (com.microsoft: `alpha`, `transB`, an int32 bias C, u8/i8 or f32 output) and
//! the integer products of DynamicQuantizeMatMul / MatMulIntegerToFloat take the same
//! 1×1 path ([`gemm`], [`integer_product`]).
//!
//! Otherwise the callers fall back to the float/int32 form in `quantize.rs`. Matrix
//! products run as 1×1 convolutions: `A[.., K]` viewed as `[rows, K, 1, 1]`, `B[K, N]`
//! transposed at compile time to `[N, K, 1, 1]`.
//!
//! The requantization scale is `(x_scale · w_scale[m]) / y_scale` in f32, the order
//! onnxruntime computes it in.

use crate::context::NodeCtx;
use neoc_ir::ops::{Conv, QConv, Reshape};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

/// A u8 or i8 activation's per-tensor zero point.
enum Zero {
    /// A constant (0 when absent): the QConv's `x_zero` attribute.
    Const(i32),
    /// A run-time scalar of the activation's type: the QConv's input 5.
    Runtime(ValueId),
}

impl Zero {
    fn attr(&self) -> i32 {
        match self {
            Zero::Const(z) => *z,
            Zero::Runtime(_) => 0,
        }
    }

    fn input(&self) -> Option<ValueId> {
        match self {
            Zero::Const(_) => None,
            Zero::Runtime(v) => Some(*v),
        }
    }
}

/// The zero point (input `zp`) of u8 or i8 activation `x`, if per tensor.
fn u8_zero(c: &NodeCtx<'_>, x: ValueId, zp: usize) -> Option<Zero> {
    let dt = c.ty(x).dtype;
    if !matches!(dt, DType::U8 | DType::I8) {
        return None;
    }
    let Some(v) = c.input(zp) else {
        return Some(Zero::Const(0));
    };
    if c.ty(v).dtype != dt || c.ty(v).shape.as_fixed()?.iter().product::<u64>() != 1 {
        return None;
    }
    match c.const_input(zp) {
        Some(t) => Some(Zero::Const(t.to_f64_vec()[0] as i32)),
        None => Some(Zero::Runtime(v)),
    }
}

/// Constant i8 weights (input `w`) whose zero point (input `zp`) is absent or zero.
fn i8_weights(c: &NodeCtx<'_>, w: usize, zp: usize) -> Option<Tensor> {
    let t = c.const_input(w)?;
    if t.dtype != DType::I8 {
        return None;
    }
    if c.input(zp).is_some() && c.const_input(zp)?.to_f64_vec().iter().any(|&z| z != 0.0) {
        return None;
    }
    Some(t.clone())
}

/// A constant float input (any float type) as f32 values.
fn f32s(c: &NodeCtx<'_>, i: usize) -> Option<Vec<f32>> {
    let t = c.const_input(i)?;
    t.dtype.is_float().then(|| t.to_f32_vec())
}

/// `(sx · sw[m]) / sy` for `m` output channels; `None` when a scale is not a constant
/// scalar (x, y) or a scalar / `[m]` vector (w).
fn multiplier(
    c: &NodeCtx<'_>,
    (sx, sw, sy): (usize, usize, Option<usize>),
    m: usize,
) -> Option<Vec<f32>> {
    let x = f32s(c, sx)?;
    let w = f32s(c, sw)?;
    let y = match sy {
        Some(i) => f32s(c, i)?,
        None => vec![1.0],
    };
    if x.len() != 1 || y.len() != 1 || !(w.len() == 1 || w.len() == m) {
        return None;
    }
    Some(
        (0..m)
            .map(|i| (x[0] * w[if w.len() == 1 { 0 } else { i }]) / y[0])
            .collect(),
    )
}

/// Output form of a requantizing op: (type, zero point) from the zero-point input.
fn y_form(c: &NodeCtx<'_>, zy: usize, fallback: DType) -> Option<(DType, i32)> {
    match c.input(zy) {
        None => Some((fallback, 0)),
        Some(v) => {
            let t = c.const_input(zy)?;
            let dt = c.ty(v).dtype;
            (t.num_elements() == 1 && matches!(dt, DType::U8 | DType::I8))
                .then(|| (dt, t.to_f64_vec()[0] as i32))
        }
    }
}

/// QConv inputs without the trailing absent ones.
fn inputs(mut ins: Vec<Option<ValueId>>) -> Vec<Option<ValueId>> {
    while ins.last() == Some(&None) {
        ins.pop();
    }
    ins
}

fn qconv_op(conv: Conv, x_zero: i32, out: DType, y_zero: i32) -> Op {
    let (y_min, y_max) = match out {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        _ => (0, 0),
    };
    Op::QConv(QConv {
        conv,
        x_zero,
        out,
        y_zero,
        y_min,
        y_max,
        res_zero: 0,
        res_scale: 0.0,
    })
}

/// QLinearConv (`requant`) or ConvInteger as a QConv; `Ok(None)`: use the float form.
pub(super) fn conv(c: &mut NodeCtx<'_>, requant: bool) -> Result<Option<Vec<ValueId>>, IrError> {
    // Input positions: QLinearConv x, sx, zx, w, sw, zw, sy, zy, bias; ConvInteger x, w, zx, zw.
    let (xi, zxi, wi, zwi) = if requant { (0, 2, 3, 5) } else { (0, 2, 1, 3) };
    let x = c.req(xi)?;
    let (Some(zero), Some(w)) = (u8_zero(c, x, zxi), i8_weights(c, wi, zwi)) else {
        return Ok(None);
    };
    let (x_zero, zero) = (zero.attr(), zero.input());
    let wv = c.req(wi)?;
    let Op::Conv(conv) = super::super::conv_pool::conv_op(c, x, wv)? else {
        return Ok(None);
    };
    let m = w.shape[0] as usize;
    let wc = c.constant("w_i8", w);
    if !requant {
        let op = qconv_op(conv, x_zero, DType::I32, 0);
        let ins = vec![Some(x), Some(wc), None, None, None, zero];
        return c.emit1(op, inputs(ins)).map(Some);
    }
    let (Some(scale), Some((out, y_zero))) =
        (multiplier(c, (1, 4, Some(6)), m), y_form(c, 7, DType::U8))
    else {
        return Ok(None);
    };
    let bias = match c.input(8) {
        None => None,
        Some(b) if c.const_input(8).is_some() && c.ty(b).dtype == DType::I32 => Some(b),
        Some(_) => return Ok(None),
    };
    let scale = c.constant("scale", Tensor::from_f32(vec![m as u64], &scale));
    let op = qconv_op(conv, x_zero, out, y_zero);
    let ins = vec![Some(x), Some(wc), bias, Some(scale), None, zero];
    c.emit1(op, inputs(ins)).map(Some)
}

/// QLinearMatMul (`requant`) or MatMulInteger as a 1×1 QConv; `Ok(None)`: use the
/// float/int32 form.
pub(super) fn matmul(c: &mut NodeCtx<'_>, requant: bool) -> Result<Option<Vec<ValueId>>, IrError> {
    // QLinearMatMul a, sa, za, b, sb, zb, sy, zy; MatMulInteger a, b, za, zb.
    let (bi, zbi) = if requant { (3, 5) } else { (1, 3) };
    let a = c.req(0)?;
    let (Some(zero), Some(b)) = (u8_zero(c, a, 2), i8_weights(c, bi, zbi)) else {
        return Ok(None);
    };
    let ad = c.dims(a)?;
    if b.shape.len() != 2 || ad.len() < 2 || ad[ad.len() - 1] != b.shape[0] {
        return Ok(None);
    }
    let n = b.shape[1];
    let out = if requant {
        match (
            multiplier(c, (1, 4, Some(6)), n as usize),
            y_form(c, 7, DType::U8),
        ) {
            (Some(s), Some((dt, zy))) => Out::Requant(s, dt, zy),
            _ => return Ok(None),
        }
    } else {
        Out::I32
    };
    let y = rows_product(c, a, &zero, &transposed(&b), out, None)?;
    let mut shape = ad[..ad.len() - 1].to_vec();
    shape.push(n);
    c.emit1(Op::Reshape(Reshape { shape }), vec![Some(y)])
        .map(Some)
}

/// What a 1×1 product QConv writes.
enum Out {
    /// The int32 accumulator (MatMulInteger).
    I32,
    /// `f32(acc) · scale[n]` (QGemm without `y_scale`).
    F32(Vec<f32>),
    /// Requantized: scales, output type and zero point.
    Requant(Vec<f32>, DType, i32),
}

/// `b` (`[K, N]`, i8) as the QConv weights `[N, K, 1, 1]`.
fn transposed(b: &Tensor) -> Tensor {
    let (k, n) = (b.shape[0], b.shape[1]);
    let bv = b.to_f64_vec();
    let mut wt = vec![0.0; bv.len()];
    for (i, v) in bv.iter().enumerate() {
        let (kk, nn) = (i as u64 / n, i as u64 % n);
        wt[(nn * k + kk) as usize] = *v;
    }
    Tensor::from_f64_as(DType::I8, vec![n, k, 1, 1], &wt)
}

/// `a[.., K] × W` as a 1×1 QConv over the view `[rows, K, 1, 1]` (`w`: `[N, K, 1, 1]`
/// i8; `bias`: i32 `[N]`); its output is `[rows, N, 1, 1]`.
fn rows_product(
    c: &mut NodeCtx<'_>,
    a: ValueId,
    zero: &Zero,
    w: &Tensor,
    out: Out,
    bias: Option<ValueId>,
) -> Result<ValueId, IrError> {
    let ad = c.dims(a)?;
    let (n, k) = (w.shape[0], w.shape[1]);
    let rows: u64 = ad[..ad.len() - 1].iter().product();
    let wc = c.constant("w_t", w.clone());
    let view = Op::Reshape(Reshape {
        shape: vec![rows, k, 1, 1],
    });
    let a4 = c.inner("a_rows", view, vec![Some(a)])?;
    let conv = Conv {
        kernel: vec![1, 1],
        strides: vec![1, 1],
        pads: vec![0; 4],
        dilations: vec![1, 1],
        group: 1,
    };
    let (op, scale) = match out {
        Out::I32 => (qconv_op(conv, zero.attr(), DType::I32, 0), None),
        Out::F32(s) => (qconv_op(conv, zero.attr(), DType::F32, 0), Some(s)),
        Out::Requant(s, dt, zy) => (qconv_op(conv, zero.attr(), dt, zy), Some(s)),
    };
    let scale = scale.map(|s| c.constant("scale", Tensor::from_f32(vec![n], &s)));
    let ins = vec![Some(a4), Some(wc), bias, scale, None, zero.input()];
    c.inner("product", op, inputs(ins))
}

/// QGemm (com.microsoft) as a 1×1 QConv: A (`[M, K]`, not transposed) u8 or i8 with a
/// constant per-tensor zero point, B a constant i8 matrix (`transB` either way) without
/// zero point, constant scales, C absent or a constant int32 scalar / `[N]` / `[1, N]`
/// bias. The output scale is `alpha · a_scale · b_scale[n]`, divided by `y_scale` when
/// the output is requantized — onnxruntime's order. `Ok(None)`: use the exact int32 form.
pub(super) fn gemm(
    c: &mut NodeCtx<'_>,
    alpha: f32,
    trans_b: bool,
) -> Result<Option<Vec<ValueId>>, IrError> {
    let a = c.req(0)?;
    let (Some(zero), Some(b)) = (u8_zero(c, a, 2), i8_weights(c, 3, 5)) else {
        return Ok(None);
    };
    let ad = c.dims(a)?;
    if b.shape.len() != 2 || ad.len() != 2 {
        return Ok(None);
    }
    let (k, n) = if trans_b {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if ad[1] != k {
        return Ok(None);
    }
    let (Some(sa), Some(sb)) = (f32s(c, 1), f32s(c, 4)) else {
        return Ok(None);
    };
    if sa.len() != 1 || !(sb.len() == 1 || sb.len() == n as usize) {
        return Ok(None);
    }
    let mut scale: Vec<f32> = (0..n as usize)
        .map(|i| alpha * sa[0] * sb[if sb.len() == 1 { 0 } else { i }])
        .collect();
    let out = match c.input(7) {
        None => Out::F32(scale),
        Some(_) => {
            let (Some(sy), Some((dt, zy))) = (f32s(c, 7), y_form(c, 8, c.ty(a).dtype)) else {
                return Ok(None);
            };
            if sy.len() != 1 {
                return Ok(None);
            }
            scale.iter_mut().for_each(|s| *s /= sy[0]);
            Out::Requant(scale, dt, zy)
        }
    };
    let bias = match c.input(6) {
        None => None,
        Some(v) => {
            let Some(t) = c.const_input(6) else {
                return Ok(None);
            };
            let fits = t.num_elements() == 1
                || (t.num_elements() == n && (t.shape.len() == 1 || t.shape == [1, n]));
            if c.ty(v).dtype != DType::I32 || !fits {
                return Ok(None);
            }
            let vals = t.to_f64_vec();
            let full: Vec<f64> = (0..n as usize)
                .map(|i| vals[if vals.len() == 1 { 0 } else { i }])
                .collect();
            Some(c.constant("bias_n", Tensor::from_f64_as(DType::I32, vec![n], &full)))
        }
    };
    let w = if trans_b {
        Tensor::from_f64_as(DType::I8, vec![n, k, 1, 1], &b.to_f64_vec())
    } else {
        transposed(&b)
    };
    let y = rows_product(c, a, &zero, &w, out, bias)?;
    let shape = vec![ad[0], n];
    c.emit1(Op::Reshape(Reshape { shape }), vec![Some(y)])
        .map(Some)
}

/// The int32 product `(a − zero) × B` of a u8/i8 activation `a` (`[.., K]`) and the
/// constant i8 matrix input `bi` (`[K, N]`, zero point input `zbi` absent or zero), as
/// a 1×1 QConv reshaped to `[.., N]`: DynamicQuantizeMatMul and MatMulIntegerToFloat.
/// `zero`: a constant zero point or a run-time scalar; `Ok(None)`: not int8-kernel
/// operands.
pub(super) fn integer_product(
    c: &mut NodeCtx<'_>,
    a: ValueId,
    zero: Result<i32, ValueId>,
    (bi, zbi): (usize, usize),
) -> Result<Option<ValueId>, IrError> {
    let Some(b) = i8_weights(c, bi, zbi) else {
        return Ok(None);
    };
    let ad = c.dims(a)?;
    if !matches!(c.ty(a).dtype, DType::U8 | DType::I8)
        || b.shape.len() != 2
        || ad.len() < 2
        || ad[ad.len() - 1] != b.shape[0]
    {
        return Ok(None);
    }
    let zero = match zero {
        Ok(z) => Zero::Const(z),
        Err(v) => Zero::Runtime(v),
    };
    let n = b.shape[1];
    let y = rows_product(c, a, &zero, &transposed(&b), Out::I32, None)?;
    let mut shape = ad[..ad.len() - 1].to_vec();
    shape.push(n);
    c.inner(
        "product_rows",
        Op::Reshape(Reshape { shape }),
        vec![Some(y)],
    )
    .map(Some)
}

/// DequantizeLinear of a constant i8 tensor of rank ≥ 2 (the weights of QDQ models) with
/// constant scale and zero point: `Mul(Sub(Cast<f32>(q), zp), scale)` added *unfolded*
/// (the `Sub` only for a nonzero zero point; scale and zero point shaped along the axis
/// as constants), so that the `int8-qdq` pass still sees the integer tensor and its
/// scales; the constant folder folds whatever that pass leaves. `Ok(None)`: not this
/// case (blocked quantization, runtime scales, a float scale other than f32).
pub(super) fn dequantize_constant(c: &mut NodeCtx<'_>) -> Result<Option<Vec<ValueId>>, IrError> {
    let (x, scale) = (c.req(0)?, c.req(1)?);
    let (Some(q), Some(s)) = (c.const_input(0), c.const_input(1)) else {
        return Ok(None);
    };
    let block = if c.opset >= 21 {
        c.attrs.int("block_size", 0)?
    } else {
        0
    };
    // Weights only (i8, rank ≥ 2): int32 biases fold, and the pass reads them back as
    // float constants.
    if block != 0 || c.ty(scale).dtype != DType::F32 || q.dtype != DType::I8 || q.shape.len() < 2 {
        return Ok(None);
    }
    let xd = q.shape.clone();
    let zp = match c.input(2) {
        None => None,
        Some(_) => match c.const_input(2) {
            Some(z) => Some(z.clone()),
            None => return Ok(None),
        },
    };
    // Scale and zero point as constants that broadcast along `axis`.
    let shaped = |c: &NodeCtx<'_>, t: &Tensor| -> Result<Option<Tensor>, IrError> {
        let n = t.num_elements();
        if t.shape.len() <= 1 && n <= 1 {
            return Ok(Some(Tensor::from_f32(
                vec![],
                &[t.to_f32_vec().first().copied().unwrap_or(0.0)],
            )));
        }
        let axis = c.axis(c.attrs.int("axis", 1)?, xd.len())?;
        if t.shape.len() != 1 || xd.get(axis) != Some(&n) {
            return Ok(None);
        }
        let mut shape = vec![n];
        shape.resize(xd.len() - axis, 1);
        Ok(Some(Tensor::from_f32(shape, &t.to_f32_vec())))
    };
    let Some(s) = shaped(c, s)? else {
        return Ok(None);
    };
    let zp = match zp {
        Some(z) if z.to_f64_vec().iter().any(|&v| v != 0.0) => match shaped(c, &z)? {
            Some(z) => Some(z),
            None => return Ok(None),
        },
        _ => None,
    };
    let node = c.name.to_string();
    let unfolded = |c: &mut NodeCtx<'_>, name: String, op: Op, ins: Vec<ValueId>| {
        let out = c.graph.add_node_unfolded(
            &name,
            op,
            ins.into_iter().map(Some).collect(),
            vec![name.clone()],
        )?;
        Ok::<ValueId, IrError>(out[0])
    };
    let mut v = unfolded(
        c,
        format!("{node}/x_f"),
        Op::Cast(neoc_ir::ops::Cast { to: DType::F32 }),
        vec![x],
    )?;
    if let Some(z) = zp {
        let zc = c.constant("zero_point_f", z);
        v = unfolded(
            c,
            format!("{node}/centered"),
            Op::Binary(neoc_ir::ops::BinaryOp::Sub),
            vec![v, zc],
        )?;
    }
    let sc = c.constant("scale_f", s);
    let name = c.output_name(0);
    let out = c.graph.add_node_unfolded(
        node,
        Op::Binary(neoc_ir::ops::BinaryOp::Mul),
        vec![Some(v), Some(sc)],
        vec![name],
    )?;
    Ok(Some(out))
}
