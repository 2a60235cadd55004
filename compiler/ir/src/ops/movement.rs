//! Data movement: Reshape, Transpose, Concat, Gather, Slice, Shape and Cast.
//!
//! Every frontend op that only renames dimensions (Flatten, Squeeze, Unsqueeze, Reshape
//! with `0`/`-1`) imports as [`Reshape`] with a fully resolved static target shape; see
//! [`resolve_reshape`]. Slice starts/ends are resolved and clamped by the frontend.

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{normalize_axis, strides, Shape as IrShape, TensorType};
use crate::tensor::Tensor;

/// Same elements, new static shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reshape {
    pub shape: Vec<u64>,
}

impl Reshape {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let n: u64 = dims(x)?.iter().product();
        let Some(m) = crate::shape::checked_elements(&self.shape) else {
            return shape_err(format!("reshape target {:?} is too large", self.shape));
        };
        if n != m {
            return shape_err(format!(
                "cannot reshape {} ({n} elements) to {:?} ({m} elements)",
                x.shape, self.shape
            ));
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: IrShape::fixed(&self.shape),
        })
    }
}

/// Resolves an ONNX Reshape request: `0` copies the input dim (unless `allow_zero`),
/// `-1` is inferred from the element count.
pub fn resolve_reshape(input: &[u64], requested: &[i64], allow_zero: bool) -> OpResult<Vec<u64>> {
    let Some(total) = crate::shape::checked_elements(input) else {
        return shape_err(format!("input shape {input:?} is too large"));
    };
    let mut out = Vec::with_capacity(requested.len());
    let mut infer_at = None;
    for (i, &r) in requested.iter().enumerate() {
        match r {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allow_zero => match input.get(i) {
                Some(&d) => out.push(d),
                None => {
                    return shape_err(format!(
                        "reshape dim {i} is 0 but the input has rank {}",
                        input.len()
                    ))
                }
            },
            r if r >= 0 => out.push(r as u64),
            _ => return shape_err(format!("invalid reshape target {requested:?}")),
        }
    }
    if crate::shape::checked_elements(&out).is_none() {
        return shape_err(format!("reshape target {requested:?} is too large"));
    }
    if let Some(i) = infer_at {
        let known: u64 = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return shape_err(format!(
                "cannot reshape {input:?} to {requested:?}: element count {total} does not divide"
            ));
        }
        out[i] = total / known;
    }
    if out.iter().product::<u64>() != total {
        return shape_err(format!(
            "cannot reshape {input:?} ({total} elements) to {requested:?}"
        ));
    }
    Ok(out)
}

/// Permutes dimensions: output dim `i` is input dim `perm[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Transpose {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        let mut seen = vec![false; xd.len()];
        if self.perm.len() != xd.len() {
            return Err(OpError::Attribute(format!(
                "perm {:?} does not match rank {}",
                self.perm,
                xd.len()
            )));
        }
        for &p in &self.perm {
            if p >= xd.len() || seen[p] {
                return Err(OpError::Attribute(format!(
                    "perm {:?} is not a permutation",
                    self.perm
                )));
            }
            seen[p] = true;
        }
        let out: Vec<u64> = self.perm.iter().map(|&p| xd[p]).collect();
        Ok(TensorType {
            dtype: x.dtype,
            shape: IrShape::fixed(&out),
        })
    }

    pub(crate) fn eval(&self, x: &Tensor) -> OpResult<Tensor> {
        let out_dims: Vec<u64> = self.perm.iter().map(|&p| x.shape[p]).collect();
        let in_strides = strides(&x.shape);
        let n = x.num_elements();
        let out_strides = strides(&out_dims);
        let map: Vec<usize> = (0..n)
            .map(|flat| {
                let mut src = 0;
                for (i, &p) in self.perm.iter().enumerate() {
                    let c = (flat / out_strides[i]) % out_dims[i];
                    src += c * in_strides[p];
                }
                src as usize
            })
            .collect();
        gather_elements(x, &map, out_dims)
    }
}

/// Joins inputs along `axis` (non-negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    pub axis: usize,
}

impl Concat {
    pub(crate) fn infer(&self, inputs: &[&TensorType]) -> OpResult<TensorType> {
        let first = dims(inputs[0])?;
        normalize_axis(self.axis as i64, first.len())?;
        let mut out = first.clone();
        out[self.axis] = 0;
        for t in inputs {
            let d = dims(t)?;
            if t.dtype != inputs[0].dtype {
                return shape_err(format!(
                    "inputs have types {} and {}",
                    inputs[0].dtype, t.dtype
                ));
            }
            if d.len() != first.len()
                || d.iter()
                    .zip(&first)
                    .enumerate()
                    .any(|(i, (a, b))| i != self.axis && a != b)
            {
                return shape_err(format!(
                    "input {} does not match {} outside axis {}",
                    t.shape, inputs[0].shape, self.axis
                ));
            }
            out[self.axis] += d[self.axis];
        }
        Ok(TensorType {
            dtype: inputs[0].dtype,
            shape: IrShape::fixed(&out),
        })
    }

    pub(crate) fn eval(&self, inputs: &[&Tensor], out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let outer: u64 = od[..self.axis].iter().product();
        let mut bytes = Vec::new();
        let es = out.dtype.size_bytes() as u64;
        for o in 0..outer {
            for t in inputs {
                let inner: u64 = t.shape[self.axis..].iter().product::<u64>() * es;
                let start = (o * inner) as usize;
                bytes.extend_from_slice(&t.bytes()[start..start + inner as usize]);
            }
        }
        Tensor::from_bytes(out.dtype, od, bytes.into())
    }
}

/// `data` indexed along `axis` by an integer `indices` tensor (negative indices count
/// from the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gather {
    pub axis: usize,
}

impl Gather {
    pub(crate) fn infer(&self, data: &TensorType, idx: &TensorType) -> OpResult<TensorType> {
        let dd = dims(data)?;
        normalize_axis(self.axis as i64, dd.len())?;
        if !matches!(idx.dtype, DType::I64 | DType::I32) {
            return shape_err(format!("indices must be int32 or int64, got {}", idx.dtype));
        }
        let mut out = dd[..self.axis].to_vec();
        out.extend(dims(idx)?);
        out.extend(&dd[self.axis + 1..]);
        Ok(TensorType {
            dtype: data.dtype,
            shape: IrShape::fixed(&out),
        })
    }

    pub(crate) fn eval(&self, data: &Tensor, idx: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let axis_len = data.shape[self.axis] as i64;
        let outer: u64 = data.shape[..self.axis].iter().product();
        let inner: u64 = data.shape[self.axis + 1..].iter().product();
        let mut map = Vec::new();
        for o in 0..outer {
            for &i in &idx.to_i64_vec() {
                let i = if i < 0 { i + axis_len } else { i };
                if i < 0 || i >= axis_len {
                    return shape_err(format!(
                        "index {i} is out of range for axis of size {axis_len}"
                    ));
                }
                for k in 0..inner {
                    map.push(((o * axis_len as u64 + i as u64) * inner + k) as usize);
                }
            }
        }
        gather_elements(data, &map, od)
    }
}

/// GatherElements along `axis`: the output has the indices' shape, and element `i` is
/// the data element at `i` with coordinate `axis` replaced by `indices[i]` (negative
/// indices count from the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GatherElements {
    pub axis: usize,
}

impl GatherElements {
    pub(crate) fn infer(&self, data: &TensorType, idx: &TensorType) -> OpResult<TensorType> {
        let (dd, id) = (dims(data)?, dims(idx)?);
        normalize_axis(self.axis as i64, dd.len())?;
        if !matches!(idx.dtype, DType::I64 | DType::I32) {
            return shape_err(format!("indices must be int32 or int64, got {}", idx.dtype));
        }
        if dd.len() != id.len() {
            return shape_err(format!("data {dd:?} and indices {id:?} differ in rank"));
        }
        if dd
            .iter()
            .zip(&id)
            .enumerate()
            .any(|(a, (&d, &i))| a != self.axis && i > d)
        {
            return shape_err(format!("indices {id:?} exceed data {dd:?} off the axis"));
        }
        Ok(TensorType {
            dtype: data.dtype,
            shape: IrShape::fixed(&id),
        })
    }

    pub(crate) fn eval(&self, data: &Tensor, idx: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let ds = crate::shape::strides(&data.shape);
        let axis_len = data.shape[self.axis] as i64;
        let mut map = Vec::with_capacity(od.iter().product::<u64>() as usize);
        let mut coord = vec![0u64; od.len()];
        for &i in &idx.to_i64_vec() {
            let i = if i < 0 { i + axis_len } else { i };
            if i < 0 || i >= axis_len {
                return shape_err(format!(
                    "index {i} is out of range for axis of size {axis_len}"
                ));
            }
            let mut at = 0u64;
            for (a, &c) in coord.iter().enumerate() {
                at += if a == self.axis { i as u64 } else { c } * ds[a];
            }
            map.push(at as usize);
            for a in (0..coord.len()).rev() {
                coord[a] += 1;
                if coord[a] < od[a] {
                    break;
                }
                coord[a] = 0;
            }
        }
        gather_elements(data, &map, od)
    }
}

/// One sliced axis: elements `start, start+step, ...` strictly before `end`.
/// `start`/`end` are already clamped to the axis (for negative steps `end` may be -1,
/// meaning "through index 0").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SliceAxis {
    pub axis: usize,
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl SliceAxis {
    pub fn len(&self) -> u64 {
        if self.step > 0 && self.end > self.start {
            ((self.end - self.start + self.step - 1) / self.step) as u64
        } else if self.step < 0 && self.start > self.end {
            ((self.start - self.end - self.step - 1) / -self.step) as u64
        } else {
            0
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Strided slice over some axes; other axes are kept whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slice {
    pub axes: Vec<SliceAxis>,
}

impl Slice {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let mut d = dims(x)?;
        for a in &self.axes {
            if a.axis >= d.len() || a.step == 0 {
                return Err(OpError::Attribute(format!(
                    "invalid slice {a:?} for {}",
                    x.shape
                )));
            }
            d[a.axis] = a.len();
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: IrShape::fixed(&d),
        })
    }

    /// Source flat index for each output element.
    pub fn source_indices(&self, in_dims: &[u64], out_dims: &[u64]) -> Vec<usize> {
        let ins = strides(in_dims);
        let outs = strides(out_dims);
        let n: u64 = out_dims.iter().product();
        (0..n)
            .map(|flat| {
                let mut src = 0i64;
                for d in 0..in_dims.len() {
                    let c = ((flat / outs[d]) % out_dims[d]) as i64;
                    let coord = match self.axes.iter().find(|a| a.axis == d) {
                        Some(a) => a.start + c * a.step,
                        None => c,
                    };
                    src += coord * ins[d] as i64;
                }
                src as usize
            })
            .collect()
    }

    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let map = self.source_indices(&x.shape, &od);
        gather_elements(x, &map, od)
    }
}

/// The input's shape as an `i64` vector, `start..end` of its dims (already clamped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub start: usize,
    pub end: usize,
}

impl Shape {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        if self.start > self.end || self.end > x.rank() {
            return Err(OpError::Attribute(format!(
                "start {} / end {} out of range for rank {}",
                self.start,
                self.end,
                x.rank()
            )));
        }
        Ok(TensorType::new(
            DType::I64,
            &[(self.end - self.start) as u64],
        ))
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let v: Vec<i64> = x.shape[self.start..self.end]
            .iter()
            .map(|&d| d as i64)
            .collect();
        Tensor::from_i64(vec![v.len() as u64], &v)
    }
}

/// Element type conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cast {
    pub to: DType,
}

/// A tensor whose element `i` is `src` element `map[i]`.
fn gather_elements(src: &Tensor, map: &[usize], shape: Vec<u64>) -> OpResult<Tensor> {
    let es = src.dtype.size_bytes();
    let b = src.bytes();
    let mut out = Vec::with_capacity(map.len() * es);
    for &i in map {
        out.extend_from_slice(&b[i * es..(i + 1) * es]);
    }
    Tensor::from_bytes(src.dtype, shape, out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_resolves_zero_and_minus_one() {
        assert_eq!(
            resolve_reshape(&[2, 3, 4], &[0, -1], false).unwrap(),
            vec![2, 12]
        );
        assert!(resolve_reshape(&[2, 3, 4], &[5, -1], false).is_err());
    }

    #[test]
    fn negative_step_slice_len() {
        let a = SliceAxis {
            axis: 0,
            start: 4,
            end: -1,
            step: -2,
        };
        assert_eq!(a.len(), 3); // 4, 2, 0
    }
}
