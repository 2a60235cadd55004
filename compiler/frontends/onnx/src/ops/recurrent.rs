//! Recurrent layers: RNN, GRU and LSTM, unrolled over the (static) sequence.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__LSTM.html> (and the GRU and RNN pages).
//! neoc compiles static shapes, so the sequence length is known and each layer becomes
//! straight-line IR that the optimizer fuses like any other graph:
//! - the input projection of all steps at once, one Gemm `X·Wᵀ + Wb` of
//!   `[seq·batch, gates·hidden]` per direction;
//! - per step, one Gemm `H·Rᵀ + Rb` for the recurrent projection, slices for the gates,
//!   and the cell's elementwise equations (activations, peepholes, `clip`);
//! - the steps' hidden states concatenated into `Y`, the last ones into `Y_h` (`Y_c`).
//!
//! Gate orders are ONNX's: LSTM `i, o, f, c`; GRU `z, r, h`. Directions `forward`,
//! `reverse` and `bidirectional`, `layout` 0 and 1, initial states, GRU
//! `linear_before_reset`, LSTM peepholes, `clip`, and the activations Sigmoid, Tanh,
//! Relu, LeakyRelu, HardSigmoid, Elu, Softplus are supported. Refused with a message:
//! `sequence_lens` shorter than the sequence, LSTM `input_forget`.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Concat, Gemm, Reshape, Slice, SliceAxis, Transpose, UnaryOp};
use neoc_ir::{IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("RNN", 7, 22, rnn, "unrolled over the static sequence"),
    spec(
        "GRU",
        7,
        22,
        gru,
        "unrolled over the static sequence; linear_before_reset",
    ),
    spec(
        "LSTM",
        7,
        22,
        lstm,
        "unrolled over the static sequence; peepholes; input_forget refused",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Rnn,
    Gru { linear_before_reset: bool },
    Lstm,
}

impl Cell {
    fn gates(self) -> u64 {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm => 4,
        }
    }

    /// Activations per direction and their defaults.
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Cell::Rnn => &["Tanh"],
            Cell::Gru { .. } => &["Sigmoid", "Tanh"],
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

fn rnn(c: &mut NodeCtx<'_>) -> Built {
    recurrent(c, Cell::Rnn)
}

fn gru(c: &mut NodeCtx<'_>) -> Built {
    let linear_before_reset = c.attrs.flag("linear_before_reset", false)?;
    recurrent(
        c,
        Cell::Gru {
            linear_before_reset,
        },
    )
}

fn lstm(c: &mut NodeCtx<'_>) -> Built {
    recurrent(c, Cell::Lstm)
}

/// Emits IR nodes with unique names `<node>/<prefix><n>`.
struct Unroll<'c, 'n> {
    c: &'c mut NodeCtx<'n>,
    n: usize,
}

impl Unroll<'_, '_> {
    fn op(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId, IrError> {
        self.n += 1;
        let name = format!("u{}", self.n);
        self.c
            .inner(&name, op, inputs.iter().map(|&v| Some(v)).collect())
    }

    fn bin(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        self.op(Op::Binary(op), &[a, b])
    }

    fn un(&mut self, op: UnaryOp, a: ValueId) -> Result<ValueId, IrError> {
        self.op(Op::Unary(op), &[a])
    }

    fn slice(&mut self, x: ValueId, axis: usize, start: u64, end: u64) -> Result<ValueId, IrError> {
        let s = Slice {
            axes: vec![SliceAxis {
                axis,
                start: start as i64,
                end: end as i64,
                step: 1,
            }],
        };
        self.op(Op::Slice(s), &[x])
    }

    fn reshape(&mut self, x: ValueId, shape: &[u64]) -> Result<ValueId, IrError> {
        self.op(
            Op::Reshape(Reshape {
                shape: shape.to_vec(),
            }),
            &[x],
        )
    }

    /// `a · bᵀ (+ bias)`.
    fn gemm(&mut self, a: ValueId, b: ValueId, bias: Option<ValueId>) -> Result<ValueId, IrError> {
        let g = Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        });
        match bias {
            Some(bias) => self.op(g, &[a, b, bias]),
            None => self.op(g, &[a, b]),
        }
    }

    fn concat(&mut self, parts: &[ValueId], axis: usize) -> Result<ValueId, IrError> {
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        self.op(Op::Concat(Concat { axis }), parts)
    }

    fn constant(&mut self, t: Tensor) -> ValueId {
        self.n += 1;
        self.c.constant(&format!("k{}", self.n), t)
    }
}

/// The activation named `name` (ONNX spelling), with its alpha/beta.
fn activation(
    c: &NodeCtx<'_>,
    name: &str,
    alpha: Option<f32>,
    beta: Option<f32>,
) -> Result<UnaryOp, IrError> {
    Ok(match name {
        "Sigmoid" => UnaryOp::Sigmoid,
        "Tanh" => UnaryOp::Tanh,
        "Relu" => UnaryOp::Relu,
        "Softplus" => UnaryOp::Softplus,
        "LeakyRelu" => UnaryOp::LeakyRelu {
            alpha: alpha.unwrap_or(0.01),
        },
        "HardSigmoid" => UnaryOp::HardSigmoid {
            alpha: alpha.unwrap_or(0.2),
            beta: beta.unwrap_or(0.5),
        },
        "Elu" => UnaryOp::Elu {
            alpha: alpha.unwrap_or(1.0),
        },
        other => {
            return Err(c.attr_error(format!(
                "activation \"{other}\" is not supported (Sigmoid, Tanh, Relu, LeakyRelu, \
                 HardSigmoid, Elu and Softplus are)"
            )))
        }
    })
}

fn recurrent(c: &mut NodeCtx<'_>, cell: Cell) -> Built {
    let (x, w, r) = (c.req(0)?, c.req(1)?, c.req(2)?);
    let (b, seq_lens, h0) = (c.input(3), c.input(4), c.input(5));
    let (c0, peep) = match cell {
        Cell::Lstm => (c.input(6), c.input(7)),
        _ => (None, None),
    };
    let dtype = c.ty(x).dtype;
    let (xd, wd) = (c.dims(x)?, c.dims(w)?);
    if xd.len() != 3 || wd.len() != 3 {
        return Err(c.shape_error(format!("X {xd:?} and W {wd:?} must have rank 3")));
    }
    let layout = c.attrs.int("layout", 0)?;
    let (seq, batch, input) = match layout {
        0 => (xd[0], xd[1], xd[2]),
        1 => (xd[1], xd[0], xd[2]),
        other => return Err(c.attr_error(format!("layout must be 0 or 1, got {other}"))),
    };
    let dirs: Vec<bool> = match c.attrs.string("direction", "forward")?.as_str() {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => {
            return Err(c.attr_error(format!(
                "direction must be forward, reverse or bidirectional, got \"{other}\""
            )))
        }
    };
    let g = cell.gates();
    let hidden = match c.attrs.opt_int("hidden_size")? {
        Some(h) => u64::try_from(h).map_err(|_| c.attr_error("hidden_size must be positive"))?,
        None => wd[1] / g,
    };
    if wd != [dirs.len() as u64, g * hidden, input] || seq == 0 || hidden == 0 {
        return Err(c.shape_error(format!(
            "W {wd:?} does not match {} direction(s) of {g} gates of hidden size {hidden} \
             over input size {input} (sequence {seq})",
            dirs.len()
        )));
    }
    if cell == Cell::Lstm && c.attrs.flag("input_forget", false)? {
        return Err(c.attr_error("input_forget = 1 is not supported"));
    }
    if seq_lens.is_some() {
        match c.const_ints(4, "sequence_lens")? {
            Some(v) if v.iter().all(|&l| l == seq as i64) => {}
            _ => {
                return Err(c.shape_error(
                    "sequence_lens must be a constant equal to the sequence length for every \
                     batch entry (shorter sequences are not supported)",
                ))
            }
        }
    }
    let clip = c.attrs.opt_float("clip")?;
    let names = c.attrs.strings("activations")?;
    let alphas = c.attrs.floats("activation_alpha")?.unwrap_or(&[]).to_vec();
    let betas = c.attrs.floats("activation_beta")?.unwrap_or(&[]).to_vec();
    let per_dir = cell.default_activations().len();
    let mut acts = Vec::new();
    for d in 0..dirs.len() {
        let mut v = Vec::new();
        for k in 0..per_dir {
            let i = d * per_dir + k;
            let name = match &names {
                Some(n) => n.get(i).cloned().ok_or_else(|| {
                    c.attr_error(format!(
                        "activations lists {} names, {} needed",
                        n.len(),
                        dirs.len() * per_dir
                    ))
                })?,
                None => cell.default_activations()[k].to_string(),
            };
            v.push(activation(
                c,
                &name,
                alphas.get(i).copied(),
                betas.get(i).copied(),
            )?);
        }
        acts.push(v);
    }

    let mut u = Unroll { c, n: 0 };
    // X as [seq, batch, input], then [seq·batch, input].
    let x_sbi = if layout == 1 {
        u.op(
            Op::Transpose(Transpose {
                perm: vec![1, 0, 2],
            }),
            &[x],
        )?
    } else {
        x
    };
    u.c.built_elements(&[batch, hidden], 8)?;
    let x_flat = u.reshape(x_sbi, &[seq * batch, input])?;
    let gh = g * hidden;
    let zeros = |u: &mut Unroll<'_, '_>| {
        let n = (batch * hidden) as usize;
        u.constant(Tensor::from_f64_as(
            dtype,
            vec![batch, hidden],
            &vec![0.0; n],
        ))
    };
    let (mut ys, mut yhs, mut ycs) = (Vec::new(), Vec::new(), Vec::new());
    for (d, &reverse) in dirs.iter().enumerate() {
        let d64 = d as u64;
        let per_dir = |u: &mut Unroll<'_, '_>, v: ValueId, shape: &[u64]| {
            let s = u.slice(v, 0, d64, d64 + 1)?;
            u.reshape(s, shape)
        };
        let wd_ = per_dir(&mut u, w, &[gh, input])?;
        let rd = per_dir(&mut u, r, &[gh, hidden])?;
        let (wb, rb) = match b {
            Some(b) => {
                let bd = per_dir(&mut u, b, &[2 * gh])?;
                (
                    Some(u.slice(bd, 0, 0, gh)?),
                    Some(u.slice(bd, 0, gh, 2 * gh)?),
                )
            }
            None => (None, None),
        };
        let xw = u.gemm(x_flat, wd_, wb)?;
        let mut h = match h0 {
            Some(h0) => per_dir(&mut u, h0, &[batch, hidden])?,
            None => zeros(&mut u),
        };
        let mut cs = match (cell, c0) {
            (Cell::Lstm, Some(c0)) => Some(per_dir(&mut u, c0, &[batch, hidden])?),
            (Cell::Lstm, None) => Some(zeros(&mut u)),
            _ => None,
        };
        // Peephole weights p_i, p_o, p_f as [1, hidden] rows.
        let peeps = match peep {
            Some(p) => {
                let pd = per_dir(&mut u, p, &[3 * hidden])?;
                let mut v = Vec::new();
                for k in 0..3 {
                    v.push(u.slice(pd, 0, k * hidden, (k + 1) * hidden)?);
                }
                Some(v)
            }
            None => None,
        };
        let act = &acts[d];
        // GRU without linear_before_reset applies the reset gate before the h gate's
        // product, so the per-step product takes only the z and r rows of R; the h rows
        // get their own product of `r ⊙ h`.
        let slice_rows = |u: &mut Unroll<'_, '_>, v: Option<ValueId>, lo: u64, hi: u64| match v {
            Some(v) => u.slice(v, 0, lo * hidden, hi * hidden).map(Some),
            None => Ok(None),
        };
        let (r_step, rb_step, r_h) = match cell {
            Cell::Gru {
                linear_before_reset: false,
            } => {
                let r_zr = u.slice(rd, 0, 0, 2 * hidden)?;
                let rb_zr = slice_rows(&mut u, rb, 0, 2)?;
                let r_h = u.slice(rd, 0, 2 * hidden, 3 * hidden)?;
                let rb_h = slice_rows(&mut u, rb, 2, 3)?;
                (r_zr, rb_zr, Some((r_h, rb_h)))
            }
            _ => (rd, rb, None),
        };
        let one = u.constant(Tensor::from_f64_as(dtype, vec![], &[1.0]));
        let mut outs: Vec<Option<ValueId>> = vec![None; seq as usize];
        let steps: Vec<u64> = if reverse {
            (0..seq).rev().collect()
        } else {
            (0..seq).collect()
        };
        for t in steps {
            let xw_t = u.slice(xw, 0, t * batch, (t + 1) * batch)?;
            let hr = u.gemm(h, r_step, rb_step)?;
            // Pre-activation of gate k: x part + h part (+ extra), clipped.
            let gate_sum = |u: &mut Unroll<'_, '_>, k: u64, extra: Option<ValueId>| {
                let xk = u.slice(xw_t, 1, k * hidden, (k + 1) * hidden)?;
                let hk = u.slice(hr, 1, k * hidden, (k + 1) * hidden)?;
                let mut s = u.bin(BinaryOp::Add, xk, hk)?;
                if let Some(e) = extra {
                    s = u.bin(BinaryOp::Add, s, e)?;
                }
                match clip {
                    Some(cl) => u.un(UnaryOp::Clip { min: -cl, max: cl }, s),
                    None => Ok(s),
                }
            };
            let h_next = match cell {
                Cell::Rnn => {
                    let s = gate_sum(&mut u, 0, None)?;
                    u.un(act[0], s)?
                }
                Cell::Lstm => {
                    let c_prev = cs.unwrap_or(h);
                    let peep_term =
                        |u: &mut Unroll<'_, '_>, k: usize, cell_state: ValueId| match &peeps {
                            Some(p) => u.bin(BinaryOp::Mul, p[k], cell_state).map(Some),
                            None => Ok(None),
                        };
                    let pi = peep_term(&mut u, 0, c_prev)?;
                    let i = gate_sum(&mut u, 0, pi)?;
                    let i = u.un(act[0], i)?;
                    let pf = peep_term(&mut u, 2, c_prev)?;
                    let f = gate_sum(&mut u, 2, pf)?;
                    let f = u.un(act[0], f)?;
                    let cc = gate_sum(&mut u, 3, None)?;
                    let cc = u.un(act[1], cc)?;
                    let keep = u.bin(BinaryOp::Mul, f, c_prev)?;
                    let add = u.bin(BinaryOp::Mul, i, cc)?;
                    let c_new = u.bin(BinaryOp::Add, keep, add)?;
                    let po = peep_term(&mut u, 1, c_new)?;
                    let o = gate_sum(&mut u, 1, po)?;
                    let o = u.un(act[0], o)?;
                    let hc = u.un(act[2], c_new)?;
                    cs = Some(c_new);
                    u.bin(BinaryOp::Mul, o, hc)?
                }
                Cell::Gru { .. } => {
                    let z = gate_sum(&mut u, 0, None)?;
                    let z = u.un(act[0], z)?;
                    let rg = gate_sum(&mut u, 1, None)?;
                    let rg = u.un(act[0], rg)?;
                    let xh = u.slice(xw_t, 1, 2 * hidden, 3 * hidden)?;
                    let hpart = match r_h {
                        Some((r_h, rb_h)) => {
                            let rh = u.bin(BinaryOp::Mul, rg, h)?;
                            u.gemm(rh, r_h, rb_h)?
                        }
                        None => {
                            let hh = u.slice(hr, 1, 2 * hidden, 3 * hidden)?;
                            u.bin(BinaryOp::Mul, rg, hh)?
                        }
                    };
                    let mut s = u.bin(BinaryOp::Add, xh, hpart)?;
                    if let Some(cl) = clip {
                        s = u.un(UnaryOp::Clip { min: -cl, max: cl }, s)?;
                    }
                    let cand = u.un(act[1], s)?;
                    // (1 - z) ⊙ candidate + z ⊙ h
                    let keep = u.bin(BinaryOp::Sub, one, z)?;
                    let a = u.bin(BinaryOp::Mul, keep, cand)?;
                    let bz = u.bin(BinaryOp::Mul, z, h)?;
                    u.bin(BinaryOp::Add, a, bz)?
                }
            };
            h = h_next;
            outs[t as usize] = Some(u.reshape(h, &[1, 1, batch, hidden])?);
        }
        let steps: Vec<ValueId> = outs.into_iter().flatten().collect();
        ys.push(u.concat(&steps, 0)?);
        yhs.push(u.reshape(h, &[1, batch, hidden])?);
        if let Some(cv) = cs {
            ycs.push(u.reshape(cv, &[1, batch, hidden])?);
        }
    }
    let y = u.concat(&ys, 1)?;
    let yh = u.concat(&yhs, 0)?;
    let yc = if ycs.is_empty() {
        None
    } else {
        Some(u.concat(&ycs, 0)?)
    };
    // Final values under the ONNX output names ([seq, dirs, batch, hidden] and
    // [dirs, batch, hidden], or batch-first with layout 1).
    let (y_perm, h_perm) = if layout == 1 {
        (vec![2, 0, 1, 3], vec![1, 0, 2])
    } else {
        (vec![0, 1, 2, 3], vec![0, 1, 2])
    };
    let mut results = vec![
        u.c.emit_output(0, Op::Transpose(Transpose { perm: y_perm }), vec![Some(y)])?,
        u.c.emit_output(
            1,
            Op::Transpose(Transpose {
                perm: h_perm.clone(),
            }),
            vec![Some(yh)],
        )?,
    ];
    if let Some(yc) = yc {
        results.push(u.c.emit_output(
            2,
            Op::Transpose(Transpose { perm: h_perm }),
            vec![Some(yc)],
        )?);
    }
    Ok(results)
}
