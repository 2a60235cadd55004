//! Recurrent layers: `lstm`, `gru`, `rnn_tanh`, `rnn_relu` (the input forms that
//! `nn.LSTM`/`nn.GRU`/`nn.RNN` call), unrolled over the static sequence.
//!
//! Per layer and direction: one Gemm projects the input of all steps at once
//! (`X·W_ihᵀ + b_ih`), then each step adds a Gemm of the previous hidden state
//! (`H·W_hhᵀ + b_hh`), slices the gates and applies the cell's equations. Gate orders
//! are torch's: LSTM `i, f, g, o`; GRU `r, z, n` with `n = tanh(x_n + r ⊙ (h·W_hn +
//! b_hn))`. `num_layers`, `bidirectional`, `batch_first` and `has_biases` are
//! supported; `proj_size` (an LSTM with a projection) and packed sequences are not.
//! Dropout between layers only acts in training, which is refused.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{BinaryOp, Concat, Gemm, UnaryOp};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op(
        "lstm",
        lstm,
        "unrolled; layers, bidirectional, batch_first; no proj_size",
    ),
    op("gru", gru, "unrolled; layers, bidirectional, batch_first"),
    op("rnn_tanh", rnn_tanh, "unrolled"),
    op("rnn_relu", rnn_relu, "unrolled"),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Lstm,
    Gru,
    Rnn { relu: bool },
}

impl Cell {
    fn gates(self) -> u64 {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn { .. } => 1,
        }
    }
}

fn lstm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    recurrent(c, Cell::Lstm)
}
fn gru(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    recurrent(c, Cell::Gru)
}
fn rnn_tanh(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    recurrent(c, Cell::Rnn { relu: false })
}
fn rnn_relu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    recurrent(c, Cell::Rnn { relu: true })
}

fn slice0(
    c: &mut Call<'_>,
    x: ValueId,
    axis: usize,
    start: u64,
    end: u64,
) -> Result<ValueId, IrError> {
    c.slice1(x, axis, start, end)
}

/// `x · wᵀ + b` for 2-D `x`.
fn gemm(c: &mut Call<'_>, x: ValueId, w: ValueId, b: Option<ValueId>) -> Result<ValueId, IrError> {
    c.add_opt(
        Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        }),
        vec![Some(x), Some(w), b],
    )
}

/// The weights of one layer and direction.
struct Weights {
    w_ih: ValueId,
    w_hh: ValueId,
    b_ih: Option<ValueId>,
    b_hh: Option<ValueId>,
}

fn recurrent(c: &mut Call<'_>, cell: Cell) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let (h0, c0) = if cell == Cell::Lstm {
        let hx: Vec<ValueId> = c.tensors(1, "hx")?.into_iter().flatten().collect();
        let [h, s] = hx[..] else {
            return Err(c.attr_err("lstm needs hx = [h0, c0]"));
        };
        (h, Some(s))
    } else {
        (c.tensor(1, "hx")?, None)
    };
    let params: Vec<ValueId> = c.tensors(2, "params")?.into_iter().flatten().collect();
    let has_biases = c.bool(3, "has_biases", true)?;
    let layers = c.req_int(4, "num_layers")?;
    let dropout = c.float(5, "dropout", 0.0)?;
    if c.bool(6, "train", false)? && dropout != 0.0 {
        return Err(
            c.attr_err("recurrent dropout in training mode is random; export after model.eval()")
        );
    }
    let dirs: u64 = if c.bool(7, "bidirectional", false)? {
        2
    } else {
        1
    };
    let batch_first = c.bool(8, "batch_first", false)?;
    // Every layer has weights, so a count past the parameters' is refused below.
    let layers = u64::try_from(layers)
        .ok()
        .filter(|&l| l > 0 && l <= params.len() as u64)
        .ok_or_else(|| c.attr_err(format!("num_layers {layers} does not fit the weights")))?;
    let per = if has_biases { 4 } else { 2 };
    if params.len() as u64 != layers * dirs * per {
        return Err(c.attr_err(format!(
            "{} weight tensors for {layers} layers and {dirs} directions; an LSTM with proj_size \
             is not supported",
            params.len()
        )));
    }
    let xd = c.dims(x)?;
    if xd.len() != 3 {
        return Err(c.err(format!("input must be 3-D, got {xd:?}")));
    }
    c.check_pieces(
        t_len_of(&xd, batch_first).saturating_mul(layers * dirs),
        "recurrent steps",
    )?;
    let mut input = if batch_first {
        c.transpose(x, &[1, 0, 2])?
    } else {
        x
    };
    let (t_len, batch) = if batch_first {
        (xd[1], xd[0])
    } else {
        (xd[0], xd[1])
    };
    let w0 = c.dims(params[1])?;
    let hidden = *w0.get(1).ok_or_else(|| c.err("weight_hh must be 2-D"))?;
    let g = cell.gates();
    let mut h_n = Vec::new();
    let mut c_n = Vec::new();
    for l in 0..layers {
        let mut outs = Vec::new();
        for d in 0..dirs {
            let k = ((l * dirs + d) * per) as usize;
            let w = Weights {
                w_ih: params[k],
                w_hh: params[k + 1],
                b_ih: has_biases.then(|| params[k + 2]),
                b_hh: has_biases.then(|| params[k + 3]),
            };
            let slot = l * dirs + d;
            let h = slice0(c, h0, 0, slot, slot + 1)?;
            let mut h = c.reshape(h, &[batch, hidden])?;
            let mut s = match c0 {
                Some(c0) => {
                    let s = slice0(c, c0, 0, slot, slot + 1)?;
                    Some(c.reshape(s, &[batch, hidden])?)
                }
                None => None,
            };
            let in_dim = c.dims(input)?[2];
            let flat = c.reshape(input, &[t_len * batch, in_dim])?;
            let xp = gemm(c, flat, w.w_ih, w.b_ih)?;
            let xp = c.reshape(xp, &[t_len, batch, g * hidden])?;
            let mut ys = vec![None; t_len as usize];
            let order: Vec<u64> = if d == 0 {
                (0..t_len).collect()
            } else {
                (0..t_len).rev().collect()
            };
            for t in order {
                let xt = slice0(c, xp, 0, t, t + 1)?;
                let xt = c.reshape(xt, &[batch, g * hidden])?;
                let hp = gemm(c, h, w.w_hh, w.b_hh)?;
                (h, s) = step(c, cell, xt, hp, h, s, hidden)?;
                ys[t as usize] = Some(c.reshape(h, &[1, batch, hidden])?);
            }
            let ys: Vec<ValueId> = ys.into_iter().flatten().collect();
            let y = if ys.len() == 1 {
                ys[0]
            } else {
                c.add(Op::Concat(Concat { axis: 0 }), &ys)?
            };
            outs.push(y);
            h_n.push(c.reshape(h, &[1, batch, hidden])?);
            if let Some(s) = s {
                c_n.push(c.reshape(s, &[1, batch, hidden])?);
            }
        }
        input = if outs.len() == 1 {
            outs[0]
        } else {
            c.add(Op::Concat(Concat { axis: 2 }), &outs)?
        };
    }
    let output = if batch_first {
        c.transpose(input, &[1, 0, 2])?
    } else {
        input
    };
    let stack = |c: &mut Call<'_>, v: Vec<ValueId>| -> Result<ValueId, IrError> {
        if v.len() == 1 {
            Ok(v[0])
        } else {
            c.add(Op::Concat(Concat { axis: 0 }), &v)
        }
    };
    let mut out = vec![Val::Tensor(output), Val::Tensor(stack(c, h_n)?)];
    if cell == Cell::Lstm {
        out.push(Val::Tensor(stack(c, c_n)?));
    }
    Ok(out)
}

/// One step of the cell: the new hidden (and LSTM cell) state. `xt` and `hp` are the
/// input and hidden projections `[batch, gates·hidden]`.
fn step(
    c: &mut Call<'_>,
    cell: Cell,
    xt: ValueId,
    hp: ValueId,
    h: ValueId,
    s: Option<ValueId>,
    hidden: u64,
) -> Result<(ValueId, Option<ValueId>), IrError> {
    let gate = |c: &mut Call<'_>, v: ValueId, i: u64| slice0(c, v, 1, i * hidden, (i + 1) * hidden);
    match cell {
        Cell::Lstm => {
            let sum = c.binary(BinaryOp::Add, xt, hp)?;
            let i = gate(c, sum, 0)?;
            let i = c.unary(UnaryOp::Sigmoid, i)?;
            let f = gate(c, sum, 1)?;
            let f = c.unary(UnaryOp::Sigmoid, f)?;
            let gg = gate(c, sum, 2)?;
            let gg = c.unary(UnaryOp::Tanh, gg)?;
            let o = gate(c, sum, 3)?;
            let o = c.unary(UnaryOp::Sigmoid, o)?;
            let prev =
                s.ok_or_else(|| IrError::Internal("LSTM step without a cell state".into()))?;
            let keep = c.binary(BinaryOp::Mul, f, prev)?;
            let add = c.binary(BinaryOp::Mul, i, gg)?;
            let s = c.binary(BinaryOp::Add, keep, add)?;
            let ts = c.unary(UnaryOp::Tanh, s)?;
            let h = c.binary(BinaryOp::Mul, o, ts)?;
            Ok((h, Some(s)))
        }
        Cell::Gru => {
            let xr = gate(c, xt, 0)?;
            let hr = gate(c, hp, 0)?;
            let r = c.binary(BinaryOp::Add, xr, hr)?;
            let r = c.unary(UnaryOp::Sigmoid, r)?;
            let xz = gate(c, xt, 1)?;
            let hz = gate(c, hp, 1)?;
            let z = c.binary(BinaryOp::Add, xz, hz)?;
            let z = c.unary(UnaryOp::Sigmoid, z)?;
            let xn = gate(c, xt, 2)?;
            let hn = gate(c, hp, 2)?;
            let rh = c.binary(BinaryOp::Mul, r, hn)?;
            let n = c.binary(BinaryOp::Add, xn, rh)?;
            let n = c.unary(UnaryOp::Tanh, n)?;
            // (1 - z)·n + z·h = n + z·(h - n)
            let diff = c.binary(BinaryOp::Sub, h, n)?;
            let zd = c.binary(BinaryOp::Mul, z, diff)?;
            Ok((c.binary(BinaryOp::Add, n, zd)?, None))
        }
        Cell::Rnn { relu } => {
            let sum = c.binary(BinaryOp::Add, xt, hp)?;
            let f = if relu { UnaryOp::Relu } else { UnaryOp::Tanh };
            Ok((c.unary(f, sum)?, None))
        }
    }
}

fn t_len_of(xd: &[u64], batch_first: bool) -> u64 {
    if batch_first {
        xd[1]
    } else {
        xd[0]
    }
}
