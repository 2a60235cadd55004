//! GridSample: samples `x[N, C, D...]` at the normalized coordinates of
//! `grid[N, O..., k]` (`k` = number of spatial dims, innermost coordinate first: x for
//! width, then y, then z), giving `y[N, C, O...]`.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__GridSample.html> (N-d from opset 20;
//! modes `bilinear`/`bicubic` of opsets 16–19 are `linear`/`cubic`). Per output point
//! and spatial dim: the coordinate is unnormalized (`align_corners`: −1 and 1 are the
//! centres of the corner pixels, else their outer edges); `nearest` rounds it half to
//! even; a coordinate outside the border is clamped (`border`) or reflected
//! (`reflection`) into it; then the 1, 2 or 4 taps per dim are read, each index again
//! under the padding rule (`zeros`: outside reads 0). Cubic weights are Keys' with
//! `a = −0.75`. This follows onnx's reference implementation step by step.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::{strides, Shape, TensorType};
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GridMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GridPadding {
    Zeros,
    Border,
    Reflection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GridSample {
    pub mode: GridMode,
    pub padding: GridPadding,
    pub align_corners: bool,
}

/// GridSample's cubic coefficient (Keys' `a`, as onnx's reference uses).
const CUBIC_A: f64 = -0.75;

/// Reflects `x` into `[lo, hi]` off the nearer border, as many times as needed.
pub fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if x < lo {
        let d = lo - x;
        let n = (d / range).trunc();
        let r = d - n * range;
        if n % 2.0 == 0.0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let d = x - hi;
        let n = (d / range).trunc();
        let r = d - n * range;
        if n % 2.0 == 0.0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

impl GridSample {
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            GridMode::Nearest => "nearest",
            GridMode::Linear => "linear",
            GridMode::Cubic => "cubic",
        }
    }

    pub fn padding_name(&self) -> &'static str {
        match self.padding {
            GridPadding::Zeros => "zeros",
            GridPadding::Border => "border",
            GridPadding::Reflection => "reflection",
        }
    }

    pub(crate) fn attrs(&self) -> String {
        format!(
            "mode={} padding={} align_corners={}",
            self.mode_name(),
            self.padding_name(),
            self.align_corners
        )
    }

    /// `[lo, hi]` of the valid coordinate range along an axis of `size`.
    pub fn borders(&self, size: u64) -> (f64, f64) {
        if self.align_corners {
            (0.0, size as f64 - 1.0)
        } else {
            (-0.5, size as f64 - 0.5)
        }
    }

    /// The unnormalized coordinate of normalized `g` along an axis of `size`.
    pub fn unnormalize(&self, g: f64, size: u64) -> f64 {
        let s = size as f64;
        if self.align_corners {
            (g + 1.0) / 2.0 * (s - 1.0)
        } else {
            ((g + 1.0) * s - 1.0) / 2.0
        }
    }

    pub(crate) fn infer(&self, x: &TensorType, grid: &TensorType) -> OpResult<TensorType> {
        let (xd, gd) = (dims(x)?, dims(grid)?);
        let k = xd.len().saturating_sub(2);
        if k == 0 || gd.len() != k + 2 || gd[0] != xd[0] || gd[k + 1] != k as u64 {
            return shape_err(format!(
                "x {xd:?} and grid {gd:?} must be [N, C, D1..Dk] and [N, O1..Ok, k]"
            ));
        }
        if !x.dtype.is_float() || grid.dtype != x.dtype {
            return shape_err(format!(
                "x and grid must be float tensors of one type, got {} and {}",
                x.dtype, grid.dtype
            ));
        }
        let mut out = vec![xd[0], xd[1]];
        out.extend_from_slice(&gd[1..=k]);
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }

    /// The index actually read for tap index `i` along an axis of `size` (`None`: a
    /// zero of the padding).
    pub fn tap(&self, i: i64, size: u64) -> Option<u64> {
        let n = size as i64;
        match self.padding {
            GridPadding::Zeros => (0..n).contains(&i).then_some(i as u64),
            GridPadding::Border => Some(i.clamp(0, n - 1) as u64),
            GridPadding::Reflection => {
                let (lo, hi) = self.borders(size);
                Some((reflect(i as f64, lo, hi).trunc() as i64).clamp(0, n - 1) as u64)
            }
        }
    }

    /// The coordinate used for sampling along an axis of `size`.
    pub fn coordinate(&self, g: f64, size: u64) -> f64 {
        let mut x = self.unnormalize(g, size);
        if self.mode == GridMode::Nearest {
            x = x.round_ties_even();
        }
        let (lo, hi) = self.borders(size);
        if x < lo || x > hi {
            x = match self.padding {
                GridPadding::Border => x.clamp(0.0, size as f64 - 1.0),
                GridPadding::Reflection => reflect(x, lo, hi),
                GridPadding::Zeros => x,
            };
        }
        x
    }

    pub(crate) fn eval(&self, x: &Tensor, grid: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let xd = &x.shape;
        let k = xd.len() - 2;
        let sp = &xd[2..];
        let xs = strides(sp);
        let plane: u64 = sp.iter().product();
        let points: u64 = od[2..].iter().product();
        let (xv, gv) = (x.to_f64_vec(), grid.to_f64_vec());
        let mut y = Vec::with_capacity(od.iter().product::<u64>() as usize);
        for n in 0..xd[0] {
            for c in 0..xd[1] {
                let base = ((n * xd[1] + c) * plane) as usize;
                for p in 0..points {
                    let g = &gv[((n * points + p) as usize) * k..][..k];
                    // Grid coordinates are innermost-first: reverse to dim order.
                    let coords: Vec<f64> = (0..k)
                        .map(|d| self.coordinate(g[k - 1 - d], sp[d]))
                        .collect();
                    // Per dim: (first tap index, weights).
                    let taps: Vec<(i64, Vec<f64>)> = coords
                        .iter()
                        .map(|&c| match self.mode {
                            GridMode::Nearest => (c as i64, vec![1.0]),
                            GridMode::Linear => {
                                let f = c.floor();
                                (f as i64, vec![1.0 - (c - f), c - f])
                            }
                            GridMode::Cubic => {
                                let f = c.floor();
                                (f as i64 - 1, super::resize::cubic(c - f, CUBIC_A).to_vec())
                            }
                        })
                        .collect();
                    let count: usize = taps.iter().map(|t| t.1.len()).product();
                    let mut acc = 0.0;
                    for t in 0..count {
                        let mut rest = t;
                        let mut w = 1.0;
                        let mut at = Some(0u64);
                        for d in (0..k).rev() {
                            let (first, ws) = &taps[d];
                            let j = rest % ws.len();
                            rest /= ws.len();
                            w *= ws[j];
                            at = match (at, self.tap(first + j as i64, sp[d])) {
                                (Some(a), Some(i)) => Some(a + i * xs[d]),
                                _ => None,
                            };
                        }
                        if let Some(a) = at {
                            acc += w * xv[base + a as usize];
                        }
                    }
                    y.push(acc);
                }
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, od, &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_folds_back_and_forth() {
        assert_eq!(reflect(-1.0, 0.0, 3.0), 1.0);
        assert_eq!(reflect(4.0, 0.0, 3.0), 2.0);
        assert_eq!(reflect(7.0, 0.0, 3.0), 1.0);
        assert_eq!(reflect(1.5, 0.0, 3.0), 1.5);
    }
}
