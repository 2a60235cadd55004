//! Constant-tensor arithmetic shared by the folding passes.
//!
//! Folds compute new weights in `f64` from the constants they combine and round once to
//! the weight's dtype, so a fold adds at most one rounding per weight element.

use neoc_ir::shape::{broadcast_shapes, strides};
use neoc_ir::{Graph, Tensor, ValueId};

/// The values of constant `t` along `axis` of a rank-`rank` tensor it broadcasts
/// against, when `t` varies along no other axis: `t`'s shape, left-padded with ones to
/// `rank`, must be 1 everywhere except at `axis`, where it is 1 or `len`. Returns `len`
/// values (a scalar is repeated).
pub fn channel_values(t: &Tensor, rank: usize, axis: usize, len: u64) -> Option<Vec<f64>> {
    if t.shape.len() > rank || axis >= rank {
        return None;
    }
    let off = rank - t.shape.len();
    for (i, &d) in t.shape.iter().enumerate() {
        let ok = if i + off == axis {
            d == 1 || d == len
        } else {
            d == 1
        };
        if !ok {
            return None;
        }
    }
    let v = t.to_f64_vec();
    match v.len() as u64 {
        1 => Some(vec![v[0]; len as usize]),
        n if n == len => Some(v),
        _ => None,
    }
}

/// Multiplies element `i` of a tensor of shape `dims` by `s[k]`, where `k` is the
/// element's index along `axis`.
pub fn scale_along(vals: &mut [f64], dims: &[u64], axis: usize, s: &[f64]) {
    let st = strides(dims);
    for (i, v) in vals.iter_mut().enumerate() {
        let k = (i as u64 / st[axis]) % dims[axis];
        *v *= s[k as usize];
    }
}

/// Values of `t` broadcast to `dims` (which `t` must broadcast to).
pub fn broadcast_to(t: &[f64], t_dims: &[u64], dims: &[u64]) -> Vec<f64> {
    neoc_ir::ops::elementwise::broadcast_index(t_dims, dims)
        .into_iter()
        .map(|i| t[i])
        .collect()
}

/// The broadcast shape of two shapes, when they broadcast.
pub fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    broadcast_shapes(&[a, b]).ok()
}

/// The constant behind the optional input `v`: `Some(None)` when absent, `None` when
/// present but not constant.
pub fn optional_const(graph: &Graph, v: Option<ValueId>) -> Option<Option<&Tensor>> {
    match v {
        None => Some(None),
        Some(v) => graph.const_value(v).map(Some),
    }
}

/// True when every value is finite.
pub fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}
