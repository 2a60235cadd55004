//! Index-tuple gathers and scatters: GatherND, ScatterND, ScatterElements.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__GatherND.html>,
//! <https://onnx.ai/onnx/operators/onnx__ScatterND.html>,
//! <https://onnx.ai/onnx/operators/onnx__ScatterElements.html> (which the deprecated
//! `Scatter` of opsets 9–10 also imports as).
//!
//! Negative indices count from the end of their axis. The scatters copy `data` and then
//! apply the updates in order, combining with the element already there by `reduction`
//! (`None` overwrites, so with duplicate indices the last update wins).

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::{strides, Shape, TensorType};
use crate::tensor::Tensor;

/// How a scatter combines an update with the element it lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScatterReduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

impl ScatterReduction {
    pub fn name(self) -> &'static str {
        match self {
            ScatterReduction::None => "none",
            ScatterReduction::Add => "add",
            ScatterReduction::Mul => "mul",
            ScatterReduction::Max => "max",
            ScatterReduction::Min => "min",
        }
    }

    pub fn from_name(s: &str) -> Option<ScatterReduction> {
        Some(match s {
            "none" => ScatterReduction::None,
            "add" => ScatterReduction::Add,
            "mul" => ScatterReduction::Mul,
            "max" => ScatterReduction::Max,
            "min" => ScatterReduction::Min,
            _ => return None,
        })
    }

    /// The reference combination of the current element `old` with `update`.
    pub fn apply(self, old: f64, update: f64) -> f64 {
        match self {
            ScatterReduction::None => update,
            ScatterReduction::Add => old + update,
            ScatterReduction::Mul => old * update,
            ScatterReduction::Max => old.max(update),
            ScatterReduction::Min => old.min(update),
        }
    }
}

fn check_indices(t: &TensorType) -> OpResult<()> {
    if matches!(t.dtype, DType::I64 | DType::I32) {
        Ok(())
    } else {
        shape_err(format!("indices must be int32 or int64, got {}", t.dtype))
    }
}

/// `i` wrapped into `0..len` (negative counts from the end); an error when outside.
fn wrap(i: i64, len: u64) -> OpResult<u64> {
    let w = if i < 0 { i + len as i64 } else { i };
    if w < 0 || w >= len as i64 {
        return shape_err(format!(
            "index {i} is out of range for an axis of size {len}"
        ));
    }
    Ok(w as u64)
}

/// GatherND with `batch_dims` leading dims shared by data and indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GatherNd {
    pub batch_dims: usize,
}

impl GatherNd {
    pub(crate) fn infer(&self, data: &TensorType, idx: &TensorType) -> OpResult<TensorType> {
        check_indices(idx)?;
        let (dd, id) = (dims(data)?, dims(idx)?);
        let b = self.batch_dims;
        let Some(&k) = id.last() else {
            return shape_err("indices must have rank >= 1");
        };
        if b >= id.len() || b + k as usize > dd.len() || dd[..b] != id[..b] {
            return shape_err(format!(
                "indices {id:?} (batch_dims {b}) do not fit data {dd:?}"
            ));
        }
        let mut out = id[..id.len() - 1].to_vec();
        out.extend_from_slice(&dd[b + k as usize..]);
        Ok(TensorType {
            dtype: data.dtype,
            shape: Shape::fixed(&out),
        })
    }

    pub(crate) fn eval(&self, data: &Tensor, idx: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let (dd, id) = (&data.shape, &idx.shape);
        let b = self.batch_dims;
        let k = id[id.len() - 1] as usize;
        let ds = strides(dd);
        let slice: u64 = dd[b + k..].iter().product();
        let batch: u64 = dd[..b].iter().product();
        let batch_stride: u64 = dd[b..].iter().product();
        let per_batch: u64 = id[b..id.len() - 1].iter().product();
        let (dv, iv) = (data.to_f64_vec(), idx.to_i64_vec());
        let mut y = Vec::new();
        for bi in 0..batch {
            for q in 0..per_batch {
                let tuple = &iv[((bi * per_batch + q) as usize) * k..][..k];
                let mut at = bi * batch_stride;
                for (a, &i) in tuple.iter().enumerate() {
                    at += wrap(i, dd[b + a])? * ds[b + a];
                }
                y.extend_from_slice(&dv[at as usize..(at + slice) as usize]);
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, out.dims()?, &y))
    }
}

/// ScatterND: `updates[q, ...]` goes to the data slice addressed by index tuple `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScatterNd {
    pub reduction: ScatterReduction,
}

impl ScatterNd {
    pub(crate) fn infer(
        &self,
        data: &TensorType,
        idx: &TensorType,
        upd: &TensorType,
    ) -> OpResult<TensorType> {
        check_indices(idx)?;
        let (dd, id, ud) = (dims(data)?, dims(idx)?, dims(upd)?);
        let Some(&k) = id.last() else {
            return shape_err("indices must have rank >= 1");
        };
        let mut want = id[..id.len() - 1].to_vec();
        if k as usize > dd.len() {
            return shape_err(format!("index tuples of {k} exceed data rank {}", dd.len()));
        }
        want.extend_from_slice(&dd[k as usize..]);
        if ud != want || upd.dtype != data.dtype {
            return shape_err(format!(
                "updates {} must be {}{want:?}",
                upd.shape, data.dtype
            ));
        }
        Ok(data.clone())
    }

    pub(crate) fn eval(&self, data: &Tensor, idx: &Tensor, upd: &Tensor) -> OpResult<Tensor> {
        let dd = &data.shape;
        let k = idx.shape[idx.shape.len() - 1] as usize;
        let ds = strides(dd);
        let slice: u64 = dd[k..].iter().product();
        let (mut y, iv, uv) = (data.to_f64_vec(), idx.to_i64_vec(), upd.to_f64_vec());
        for (q, tuple) in iv
            .chunks_exact(k.max(1))
            .enumerate()
            .take(uv.len() / slice.max(1) as usize)
        {
            let mut at = 0u64;
            for (a, &i) in tuple.iter().take(k).enumerate() {
                at += wrap(i, dd[a])? * ds[a];
            }
            for e in 0..slice {
                let dst = (at + e) as usize;
                y[dst] = self
                    .reduction
                    .apply(y[dst], uv[q * slice as usize + e as usize]);
            }
        }
        Ok(Tensor::from_f64_as(data.dtype, dd.clone(), &y))
    }
}

/// ScatterElements along `axis`: `updates[i]` goes to `i` with coordinate `axis`
/// replaced by `indices[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScatterElements {
    pub axis: usize,
    pub reduction: ScatterReduction,
}

impl ScatterElements {
    pub(crate) fn infer(
        &self,
        data: &TensorType,
        idx: &TensorType,
        upd: &TensorType,
    ) -> OpResult<TensorType> {
        check_indices(idx)?;
        let (dd, id, ud) = (dims(data)?, dims(idx)?, dims(upd)?);
        if self.axis >= dd.len() || id.len() != dd.len() || id != ud || upd.dtype != data.dtype {
            return shape_err(format!(
                "data {dd:?}, indices {id:?} and updates {ud:?} do not match (axis {})",
                self.axis
            ));
        }
        if id.iter().zip(&dd).any(|(i, d)| i > d) {
            return shape_err(format!("indices {id:?} exceed data {dd:?}"));
        }
        Ok(data.clone())
    }

    pub(crate) fn eval(&self, data: &Tensor, idx: &Tensor, upd: &Tensor) -> OpResult<Tensor> {
        let (dd, id) = (&data.shape, &idx.shape);
        let (ds, is) = (strides(dd), strides(id));
        let (mut y, iv, uv) = (data.to_f64_vec(), idx.to_i64_vec(), upd.to_f64_vec());
        for (flat, (&i, &u)) in iv.iter().zip(&uv).enumerate() {
            let mut at = 0u64;
            for a in 0..id.len() {
                let c = (flat as u64 / is[a]) % id[a];
                let c = if a == self.axis { wrap(i, dd[a])? } else { c };
                at += c * ds[a];
            }
            y[at as usize] = self.reduction.apply(y[at as usize], u);
        }
        Ok(Tensor::from_f64_as(data.dtype, dd.clone(), &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[u64], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v)
    }

    #[test]
    fn gather_nd_picks_tuples_and_slices() {
        let data = f(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        let idx = Tensor::from_i64(vec![2, 1], &[1, 0]);
        let g = GatherNd { batch_dims: 0 };
        let out = g
            .infer(
                &TensorType::new(DType::F32, &[2, 2]),
                &TensorType::new(DType::I64, &[2, 1]),
            )
            .unwrap();
        assert_eq!(out.dims().unwrap(), vec![2, 2]);
        let y = g.eval(&data, &idx, &out).unwrap();
        assert_eq!(y.to_f32_vec(), vec![2.0, 3.0, 0.0, 1.0]);
    }

    #[test]
    fn scatters_apply_updates_in_order() {
        let data = f(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let idx = Tensor::from_i64(vec![3, 1], &[1, -1, 1]);
        let upd = f(&[3], &[10.0, 20.0, 30.0]);
        let s = ScatterNd {
            reduction: ScatterReduction::Add,
        };
        assert_eq!(
            s.eval(&data, &idx, &upd).unwrap().to_f32_vec(),
            vec![1.0, 42.0, 3.0, 24.0]
        );
        let e = ScatterElements {
            axis: 0,
            reduction: ScatterReduction::None,
        };
        let idx = Tensor::from_i64(vec![3], &[1, -1, 1]);
        assert_eq!(
            e.eval(&data, &idx, &upd).unwrap().to_f32_vec(),
            vec![1.0, 30.0, 3.0, 20.0]
        );
    }
}
