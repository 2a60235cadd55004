//! The optimizers of the `ai.onnx.preview.training` domain: Adagrad, Adam and Momentum.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx_aionnxpreviewtraining_Adagrad.html>,
//! <https://onnx.ai/onnx/operators/onnx_aionnxpreviewtraining_Adam.html>,
//! <https://onnx.ai/onnx/operators/onnx_aionnxpreviewtraining_Momentum.html> (domain
//! version 1, the only one). Each takes the learning rate `R` and the update count `T`
//! (scalars), then `n` tensors to optimize, their `n` gradients and the `n` (or, for Adam,
//! `2n`) accumulated states, and returns the `n` new tensors followed by the new states.
//! They are deterministic elementwise formulas, so each becomes a chain of IR
//! arithmetic in the tensors' element type (`R` and `T` are cast to it), following the
//! spec's reference code step by step:
//! - Adagrad: `r = R / (1 + T·decay_factor)`, `g = norm_coefficient·X + G`,
//!   `H' = H + g²`, `X' = X − r·g / (√H' + epsilon)`.
//! - Adam: `g = norm_coefficient·X + G`, `V' = alpha·V + (1 − alpha)·g`,
//!   `H' = beta·H + (1 − beta)·g²`, `r = R·√(1 − betaᵀ) / (1 − alphaᵀ)` when `T > 0`
//!   (bias correction) else `R`, `X' = (1 − norm_coefficient_post)·(X − r·V' / (√H' + epsilon))`.
//! - Momentum: `g = norm_coefficient·X + G`, `b = beta` when `T > 0` else 1,
//!   `V' = alpha·V + b·g`; `standard`: `X' = X − R·V'`; `nesterov`:
//!   `X' = X − R·(g + alpha·V')`.
//!
//! Attribute defaults are the schema's (`epsilon` 1e-6 for Adagrad and Adam; Momentum's
//! attributes are required). `T > 0` is a runtime `Where`, so `R` and `T` may be
//! ordinary graph inputs.

use super::OpSpec;
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Reshape, UnaryOp};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

/// The domain of these operators.
const DOMAIN: &str = "ai.onnx.preview.training";

const fn training_spec(op_type: &'static str, build: super::BuildFn, note: &'static str) -> OpSpec {
    super::domain_spec(DOMAIN, op_type, build, note)
}

pub(crate) const SPECS: &[OpSpec] = &[
    training_spec(
        "Adagrad",
        adagrad,
        "ai.onnx.preview.training; elementwise update of each tensor and its accumulator",
    ),
    training_spec(
        "Adam",
        adam,
        "ai.onnx.preview.training; elementwise update; bias correction when T > 0 (Where)",
    ),
    training_spec(
        "Momentum",
        momentum,
        "ai.onnx.preview.training; standard or nesterov; elementwise update",
    ),
];

/// The shared inputs of an optimizer node: `R` and `T` cast to the tensors' type
/// (as scalars of shape `[]`), and the groups of `n` tensors that follow them.
struct Optim {
    dtype: DType,
    r: ValueId,
    t: ValueId,
    groups: Vec<Vec<ValueId>>,
}

/// Reads `R`, `T` and `k` groups of equally many same-shaped float tensors.
fn operands(c: &mut NodeCtx<'_>, k: usize) -> Result<Optim, IrError> {
    let (r, t) = (c.req(0)?, c.req(1)?);
    let rest: Vec<ValueId> = c.inputs().iter().skip(2).flatten().copied().collect();
    if rest.is_empty() || !rest.len().is_multiple_of(k) || rest.len() + 2 != c.inputs().len() {
        return Err(c.shape_error(format!(
            "expects R, T and {k} groups of equally many tensors, got {} inputs",
            c.inputs().len()
        )));
    }
    let n = rest.len() / k;
    let dtype = c.ty(rest[0]).dtype;
    if !dtype.is_float() {
        return Err(c.shape_error(format!("the tensors must be float, got {dtype}")));
    }
    for i in 0..n {
        let want = c.dims(rest[i])?;
        for j in 1..k {
            let v = rest[j * n + i];
            let (got, gt) = (c.dims(v)?, c.ty(v).dtype);
            if got != want || gt != dtype {
                return Err(c.shape_error(format!(
                    "input {} is {gt}{got:?}, expected {dtype}{want:?} like input {}",
                    2 + j * n + i,
                    2 + i
                )));
            }
        }
    }
    if c.output_count() > rest.len() {
        return Err(c.shape_error(format!(
            "declares {} outputs, at most {} are defined",
            c.output_count(),
            rest.len()
        )));
    }
    let scalar = |c: &mut NodeCtx<'_>, v: ValueId, what: &str| -> Result<ValueId, IrError> {
        if c.dims(v)?.iter().product::<u64>() != 1 {
            return Err(c.shape_error(format!("{what} must be a scalar")));
        }
        let s = c.inner(
            &format!("{what}_scalar"),
            Op::Reshape(Reshape { shape: vec![] }),
            vec![Some(v)],
        )?;
        if c.ty(s).dtype == dtype {
            return Ok(s);
        }
        c.inner(
            &format!("{what}_cast"),
            Op::Cast(Cast { to: dtype }),
            vec![Some(s)],
        )
    };
    let r = scalar(c, r, "R")?;
    let t = scalar(c, t, "T")?;
    Ok(Optim {
        dtype,
        r,
        t,
        groups: rest.chunks(n).map(<[ValueId]>::to_vec).collect(),
    })
}

/// Builds the intermediate nodes of one optimizer node, naming them `<node>/<what><i>`.
struct Ops<'c, 'a> {
    c: &'c mut NodeCtx<'a>,
    dtype: DType,
    /// Suffix distinguishing the tensor being updated.
    i: usize,
}

impl Ops<'_, '_> {
    fn k(&mut self, what: &str, v: f64) -> ValueId {
        let t = Tensor::from_f64_as(self.dtype, vec![], &[v]);
        self.c.constant(&format!("{what}{}", self.i), t)
    }

    fn bin(
        &mut self,
        what: &str,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
    ) -> Result<ValueId, IrError> {
        self.c.inner(
            &format!("{what}{}", self.i),
            Op::Binary(op),
            vec![Some(a), Some(b)],
        )
    }

    fn un(&mut self, what: &str, op: UnaryOp, a: ValueId) -> Result<ValueId, IrError> {
        self.c
            .inner(&format!("{what}{}", self.i), Op::Unary(op), vec![Some(a)])
    }

    /// `k·a` for a constant `k`.
    fn scale(&mut self, what: &str, k: f64, a: ValueId) -> Result<ValueId, IrError> {
        let kv = self.k(&format!("{what}_k"), k);
        self.bin(what, BinaryOp::Mul, kv, a)
    }

    /// `norm_coefficient·x + g`.
    fn regularized(&mut self, norm: f64, x: ValueId, g: ValueId) -> Result<ValueId, IrError> {
        let nx = self.scale("norm_x", norm, x)?;
        self.bin("g_reg", BinaryOp::Add, nx, g)
    }

    /// `where(T > 0, a, b)` for scalars.
    fn if_t_positive(&mut self, t: ValueId, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        let zero = self.k("zero", 0.0);
        let pos = self.bin("t_pos", BinaryOp::Greater, t, zero)?;
        self.c.inner(
            &format!("t_sel{}", self.i),
            Op::Where,
            vec![Some(pos), Some(a), Some(b)],
        )
    }
}

/// Emits the node's outputs from `values` (in output order), as many as it declares.
fn outputs(c: &mut NodeCtx<'_>, values: &[ValueId]) -> Built {
    let n = c.output_count().min(values.len());
    (0..n)
        .map(|i| c.emit_output(i, Op::Identity, vec![Some(values[i])]))
        .collect()
}

fn adagrad(c: &mut NodeCtx<'_>) -> Built {
    let decay = f64::from(c.attrs.float("decay_factor", 0.0)?);
    let eps = f64::from(c.attrs.float("epsilon", 1e-6)?);
    let norm = f64::from(c.attrs.float("norm_coefficient", 0.0)?);
    let o = operands(c, 3)?;
    let mut b = Ops {
        c,
        dtype: o.dtype,
        i: 0,
    };
    // r = R / (1 + T·decay_factor)
    let td = b.scale("t_decay", decay, o.t)?;
    let one = b.k("one", 1.0);
    let den = b.bin("r_den", BinaryOp::Add, one, td)?;
    let r = b.bin("r", BinaryOp::Div, o.r, den)?;
    let (xs, gs, hs) = (&o.groups[0], &o.groups[1], &o.groups[2]);
    let (mut x_new, mut h_new) = (Vec::new(), Vec::new());
    for i in 0..xs.len() {
        b.i = i;
        let g = b.regularized(norm, xs[i], gs[i])?;
        let g2 = b.bin("g_sq", BinaryOp::Mul, g, g)?;
        let h = b.bin("h_new", BinaryOp::Add, hs[i], g2)?;
        let sq = b.un("h_sqrt", UnaryOp::Sqrt, h)?;
        let e = b.k("epsilon", eps);
        let den = b.bin("h_adaptive", BinaryOp::Add, sq, e)?;
        let rg = b.bin("r_g", BinaryOp::Mul, r, g)?;
        let step = b.bin("step", BinaryOp::Div, rg, den)?;
        x_new.push(b.bin("x_new", BinaryOp::Sub, xs[i], step)?);
        h_new.push(h);
    }
    x_new.extend(h_new);
    outputs(c, &x_new)
}

fn adam(c: &mut NodeCtx<'_>) -> Built {
    let alpha = f64::from(c.attrs.float("alpha", 0.9)?);
    let beta = f64::from(c.attrs.float("beta", 0.999)?);
    let eps = f64::from(c.attrs.float("epsilon", 1e-6)?);
    let norm = f64::from(c.attrs.float("norm_coefficient", 0.0)?);
    let norm_post = f64::from(c.attrs.float("norm_coefficient_post", 0.0)?);
    let o = operands(c, 4)?;
    let mut b = Ops {
        c,
        dtype: o.dtype,
        i: 0,
    };
    // r = R·√(1 − betaᵀ) / (1 − alphaᵀ) when T > 0, else R.
    let one = b.k("one", 1.0);
    let (av, bv) = (b.k("alpha", alpha), b.k("beta", beta));
    let bt = b.bin("beta_t", BinaryOp::Pow, bv, o.t)?;
    let at = b.bin("alpha_t", BinaryOp::Pow, av, o.t)?;
    let one_bt = b.bin("one_minus_beta_t", BinaryOp::Sub, one, bt)?;
    let one_at = b.bin("one_minus_alpha_t", BinaryOp::Sub, one, at)?;
    let sq = b.un("sqrt_beta_t", UnaryOp::Sqrt, one_bt)?;
    let rs = b.bin("r_sqrt", BinaryOp::Mul, o.r, sq)?;
    let corrected = b.bin("r_corrected", BinaryOp::Div, rs, one_at)?;
    let r = b.if_t_positive(o.t, corrected, o.r)?;
    let (xs, gs, vs, hs) = (&o.groups[0], &o.groups[1], &o.groups[2], &o.groups[3]);
    let (mut x_new, mut v_new, mut h_new) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..xs.len() {
        b.i = i;
        let g = b.regularized(norm, xs[i], gs[i])?;
        let av = b.scale("alpha_v", alpha, vs[i])?;
        let ag = b.scale("alpha_g", 1.0 - alpha, g)?;
        let v = b.bin("v_new", BinaryOp::Add, av, ag)?;
        let bh = b.scale("beta_h", beta, hs[i])?;
        let g2 = b.bin("g_sq", BinaryOp::Mul, g, g)?;
        let bg = b.scale("beta_g", 1.0 - beta, g2)?;
        let h = b.bin("h_new", BinaryOp::Add, bh, bg)?;
        let sq = b.un("h_sqrt", UnaryOp::Sqrt, h)?;
        let e = b.k("epsilon", eps);
        let den = b.bin("h_eps", BinaryOp::Add, sq, e)?;
        let q = b.bin("v_over_h", BinaryOp::Div, v, den)?;
        let step = b.bin("step", BinaryOp::Mul, r, q)?;
        let x = b.bin("x_step", BinaryOp::Sub, xs[i], step)?;
        x_new.push(b.scale("x_new", 1.0 - norm_post, x)?);
        v_new.push(v);
        h_new.push(h);
    }
    x_new.extend(v_new);
    x_new.extend(h_new);
    outputs(c, &x_new)
}

fn momentum(c: &mut NodeCtx<'_>) -> Built {
    let required = |c: &NodeCtx<'_>, name: &str| -> Result<f64, IrError> {
        c.attrs
            .opt_float(name)?
            .map(f64::from)
            .ok_or_else(|| c.attr_error(format!("attribute \"{name}\" is required")))
    };
    let alpha = required(c, "alpha")?;
    let beta = required(c, "beta")?;
    let norm = required(c, "norm_coefficient")?;
    let nesterov = match c.attrs.string("mode", "")?.as_str() {
        "standard" => false,
        "nesterov" => true,
        other => {
            return Err(c.attr_error(format!(
                "mode must be \"standard\" or \"nesterov\", got \"{other}\""
            )))
        }
    };
    let o = operands(c, 3)?;
    let mut b = Ops {
        c,
        dtype: o.dtype,
        i: 0,
    };
    // The gradient's coefficient is 1 on the first update (T = 0).
    let (bv, one) = (b.k("beta", beta), b.k("one", 1.0));
    let beta_t = b.if_t_positive(o.t, bv, one)?;
    let (xs, gs, vs) = (&o.groups[0], &o.groups[1], &o.groups[2]);
    let (mut x_new, mut v_new) = (Vec::new(), Vec::new());
    for i in 0..xs.len() {
        b.i = i;
        let g = b.regularized(norm, xs[i], gs[i])?;
        let av = b.scale("alpha_v", alpha, vs[i])?;
        let bg = b.bin("beta_g", BinaryOp::Mul, beta_t, g)?;
        let v = b.bin("v_new", BinaryOp::Add, av, bg)?;
        let dir = if nesterov {
            let avn = b.scale("alpha_v_new", alpha, v)?;
            b.bin("direction", BinaryOp::Add, g, avn)?
        } else {
            v
        };
        let step = b.bin("step", BinaryOp::Mul, o.r, dir)?;
        x_new.push(b.bin("x_new", BinaryOp::Sub, xs[i], step)?);
        v_new.push(v);
    }
    x_new.extend(v_new);
    outputs(c, &x_new)
}
