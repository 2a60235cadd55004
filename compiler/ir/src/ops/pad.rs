//! Pad: grow (or, with negative pads, crop) every axis of a tensor.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Pad.html>. Opset 2–10 take `pads`, `value`
//! and `mode` as attributes; from 11 `pads` and `constant_value` are inputs, and from 18 an
//! `axes` input selects which axes `pads` covers; 19 added `wrap` mode. The ONNX frontend
//! resolves all of them (inputs must be constants) to one [`Pad`] with a begin and an end
//! pad for every axis.
//!
//! Meaning: output coordinate `o` of axis `i` reads input coordinate `s = o - pads[i]`.
//! Inside `[0, d)` that is the input element; outside it is, by [`PadMode`], the constant,
//! the nearest edge element, the mirror image (`-s`, or `2(d-1) - s` past the end), or the
//! element a whole number of periods away. A negative pad crops, and the other modes act
//! on what remains (as onnxruntime does: slice, then pad); for edge and reflect that is
//! the same as the formulas above because a reflection must stay inside the cropped axis,
//! which [`Pad::infer`] checks; wrap takes its period from the cropped axis.

use super::dims;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{checked_elements, strides, Shape, TensorType};
use crate::tensor::Tensor;
use std::fmt;

/// What padded positions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PadMode {
    /// The constant [`Pad::value`].
    Constant,
    /// The mirror image, not repeating the edge (`[1,2,3]` padded by 2: `3,2,[1,2,3],2,1`).
    Reflect,
    /// The edge element, repeated.
    Edge,
    /// Periodic continuation (`[1,2,3]` padded by 2: `2,3,[1,2,3],1,2`); opset 19+.
    Wrap,
}

impl PadMode {
    pub fn name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
            PadMode::Wrap => "wrap",
        }
    }

    pub fn from_name(s: &str) -> Option<PadMode> {
        [
            PadMode::Constant,
            PadMode::Reflect,
            PadMode::Edge,
            PadMode::Wrap,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

impl fmt::Display for PadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Pads every axis: `pads` holds the begin pads of all axes, then the end pads
/// (`2 * rank` entries); negative entries crop. `value` fills [`PadMode::Constant`]
/// positions (converted to the tensor's element type).
#[derive(Debug, Clone, PartialEq)]
pub struct Pad {
    pub pads: Vec<i64>,
    pub mode: PadMode,
    pub value: f32,
}

impl Pad {
    pub(crate) fn attrs(&self) -> String {
        format!(
            "pads={:?} mode={} value={:?}",
            self.pads, self.mode, self.value
        )
    }

    /// Begin and end pad of axis `i`.
    pub fn axis_pads(&self, i: usize) -> (i64, i64) {
        let r = self.pads.len() / 2;
        (self.pads[i], self.pads[r + i])
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if self.pads.len() != 2 * xd.len() {
            return Err(OpError::Attribute(format!(
                "pads {:?} must have 2 * rank = {} entries",
                self.pads,
                2 * xd.len()
            )));
        }
        let mut out = Vec::with_capacity(xd.len());
        for (i, &d) in xd.iter().enumerate() {
            let (b, e) = self.axis_pads(i);
            let d = d as i64;
            let n = d.checked_add(b).and_then(|n| n.checked_add(e));
            let Some(n) = n.filter(|&n| n >= 0) else {
                return shape_err(format!(
                    "pads {:?} crop axis {i} of size {d} below zero",
                    self.pads
                ));
            };
            // The part of the input that survives cropping.
            let kept = d + b.min(0) + e.min(0);
            let grows = b > 0 || e > 0;
            match self.mode {
                PadMode::Constant => {}
                PadMode::Edge | PadMode::Wrap if grows && kept <= 0 => {
                    return shape_err(format!(
                        "{} padding of axis {i} needs at least one input element, the axis has none",
                        self.mode
                    ));
                }
                PadMode::Reflect if grows && (b.max(e) >= kept) => {
                    return shape_err(format!(
                        "reflect padding of axis {i} by {:?} needs pads smaller than the axis size {kept}",
                        (b, e)
                    ));
                }
                _ => {}
            }
            out.push(n as u64);
        }
        if checked_elements(&out).is_none() {
            return shape_err(format!("padded shape {out:?} is too large"));
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }

    /// The input coordinate that output coordinate `o` of axis `i` reads, or `None` for
    /// a constant-filled position. `d` is the input's size along the axis.
    pub fn source(&self, i: usize, o: i64, d: i64) -> Option<i64> {
        let (b, e) = self.axis_pads(i);
        let s = o - b;
        if (0..d).contains(&s) {
            return Some(s);
        }
        match self.mode {
            PadMode::Constant => None,
            PadMode::Edge => Some(s.clamp(0, d - 1)),
            PadMode::Reflect => Some(if s < 0 { -s } else { 2 * (d - 1) - s }),
            PadMode::Wrap => {
                let (lo, kept) = wrap_window(b, e, d);
                Some(lo + (s - lo).rem_euclid(kept))
            }
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let es = x.dtype.size_bytes();
        let fill = Tensor::from_f64_as(x.dtype, vec![], &[f64::from(self.value)]);
        let (xs, os) = (strides(&x.shape), strides(&od));
        let n: u64 = od.iter().product();
        let src = x.bytes();
        let mut bytes = Vec::with_capacity(n as usize * es);
        for flat in 0..n {
            let mut idx = Some(0u64);
            for (i, (&d, &st)) in x.shape.iter().zip(&xs).enumerate() {
                let o = ((flat / os[i]) % od[i]) as i64;
                idx = match (idx, self.source(i, o, d as i64)) {
                    (Some(acc), Some(s)) => Some(acc + s as u64 * st),
                    _ => None,
                };
            }
            match idx {
                Some(k) => {
                    let k = k as usize * es;
                    bytes.extend_from_slice(&src[k..k + es]);
                }
                None => bytes.extend_from_slice(fill.bytes()),
            }
        }
        Tensor::from_bytes(x.dtype, od, bytes.into())
    }
}

/// For wrap padding of an axis of size `d` with pads `(b, e)`: the first input coordinate
/// that survives cropping and the number that do (the period).
pub fn wrap_window(b: i64, e: i64, d: i64) -> (i64, i64) {
    let lo = (-b).max(0);
    let kept = (d + b.min(0) + e.min(0)).max(1);
    (lo, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn run(p: &Pad, shape: &[u64], v: &[f32]) -> (Vec<u64>, Vec<f32>) {
        let x = Tensor::from_f32(shape.to_vec(), v);
        let t = p.infer(&TensorType::new(DType::F32, shape)).unwrap();
        let y = p.eval(&x, &t).unwrap();
        (y.shape.clone(), y.to_f32_vec())
    }

    fn pad(pads: &[i64], mode: PadMode) -> Pad {
        Pad {
            pads: pads.to_vec(),
            mode,
            value: 9.0,
        }
    }

    #[test]
    fn modes_fill_as_numpy_pad() {
        let x = [1., 2., 3.];
        assert_eq!(
            run(&pad(&[2, 1], PadMode::Constant), &[3], &x),
            (vec![6], vec![9., 9., 1., 2., 3., 9.])
        );
        assert_eq!(
            run(&pad(&[2, 2], PadMode::Reflect), &[3], &x),
            (vec![7], vec![3., 2., 1., 2., 3., 2., 1.])
        );
        assert_eq!(
            run(&pad(&[2, 1], PadMode::Edge), &[3], &x),
            (vec![6], vec![1., 1., 1., 2., 3., 3.])
        );
        assert_eq!(
            run(&pad(&[2, 4], PadMode::Wrap), &[3], &x),
            (vec![9], vec![2., 3., 1., 2., 3., 1., 2., 3., 1.])
        );
        // Wrap after cropping one element at the front: the period is [2, 3].
        assert_eq!(
            run(&pad(&[-1, 3], PadMode::Wrap), &[3], &x),
            (vec![5], vec![2., 3., 2., 3., 2.])
        );
    }

    #[test]
    fn two_dims_and_negative_pads_crop() {
        // [[1,2,3],[4,5,6]]: crop one column at the front, pad one row at the end.
        let (s, v) = run(
            &pad(&[0, -1, 1, 0], PadMode::Constant),
            &[2, 3],
            &[1., 2., 3., 4., 5., 6.],
        );
        assert_eq!(s, vec![3, 2]);
        assert_eq!(v, vec![2., 3., 5., 6., 9., 9.]);
        // Crop the front, reflect at the end: slice [2,3,4] then reflect by 2.
        let (s, v) = run(&pad(&[-1, 2], PadMode::Reflect), &[4], &[1., 2., 3., 4.]);
        assert_eq!(s, vec![5]);
        assert_eq!(v, vec![2., 3., 4., 3., 2.]);
    }

    #[test]
    fn invalid_pads_are_refused() {
        let t = TensorType::new(DType::F32, &[3]);
        assert!(pad(&[1], PadMode::Constant).infer(&t).is_err());
        assert!(pad(&[-2, -2], PadMode::Constant).infer(&t).is_err());
        assert!(pad(&[3, 0], PadMode::Reflect).infer(&t).is_err());
        assert!(pad(&[2, 0], PadMode::Reflect).infer(&t).is_ok());
        let empty = TensorType::new(DType::F32, &[0]);
        assert!(pad(&[1, 0], PadMode::Edge).infer(&empty).is_err());
        assert!(pad(&[1, 0], PadMode::Constant).infer(&empty).is_ok());
    }
}
