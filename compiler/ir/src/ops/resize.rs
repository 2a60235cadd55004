//! Resize: nearest, (bi)linear and (bi)cubic interpolation over any axes.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Resize.html> (opsets 11–19). The frontend
//! resolves scales/sizes/axes/keep-aspect-ratio into the full-rank output `sizes`, the
//! per-axis `scales` the coordinate transform uses, and the `roi`; everything here then
//! follows the ONNX reference implementation axis by axis: the result is separable, so
//! every axis gets a table of (input index, weight) taps per output index
//! ([`Resize::axis_table`]) and an output element is `Σ Π_axis weight · x[indices]`.
//! Kernels take the tables as compile-time constants.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::TensorType;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResizeMode {
    Nearest(NearestMode),
    Linear,
    /// `a` is `cubic_coeff_a`.
    Cubic {
        a: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

impl NearestMode {
    pub const ALL: [NearestMode; 4] = [
        NearestMode::RoundPreferFloor,
        NearestMode::RoundPreferCeil,
        NearestMode::Floor,
        NearestMode::Ceil,
    ];
    /// The ONNX attribute value.
    pub fn name(self) -> &'static str {
        match self {
            NearestMode::RoundPreferFloor => "round_prefer_floor",
            NearestMode::RoundPreferCeil => "round_prefer_ceil",
            NearestMode::Floor => "floor",
            NearestMode::Ceil => "ceil",
        }
    }
    pub fn from_name(s: &str) -> Option<NearestMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl CoordMode {
    pub const ALL: [CoordMode; 6] = [
        CoordMode::HalfPixel,
        CoordMode::HalfPixelSymmetric,
        CoordMode::PytorchHalfPixel,
        CoordMode::AlignCorners,
        CoordMode::Asymmetric,
        CoordMode::TfCropAndResize,
    ];
    /// The ONNX attribute value.
    pub fn name(self) -> &'static str {
        match self {
            CoordMode::HalfPixel => "half_pixel",
            CoordMode::HalfPixelSymmetric => "half_pixel_symmetric",
            CoordMode::PytorchHalfPixel => "pytorch_half_pixel",
            CoordMode::AlignCorners => "align_corners",
            CoordMode::Asymmetric => "asymmetric",
            CoordMode::TfCropAndResize => "tf_crop_and_resize",
        }
    }
    pub fn from_name(s: &str) -> Option<CoordMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// The output shape (full rank).
    pub sizes: Vec<u64>,
    /// Per-axis scale factor of the coordinate transform (1 for untouched axes), in f64
    /// like the ONNX reference (a scale computed from sizes, e.g. 7/3, must not round).
    pub scales: Vec<f64>,
    /// `[starts..., ends...]` (full rank, normalised coordinates); only used by
    /// `TfCropAndResize`, empty otherwise.
    pub roi: Vec<f32>,
    pub mode: ResizeMode,
    pub coord: CoordMode,
    /// Widen linear/cubic filters when downsampling.
    pub antialias: bool,
    /// Zero (and renormalise away) taps outside the input.
    pub exclude_outside: bool,
    /// The value of outputs that map outside the input under `TfCropAndResize`.
    pub extrapolation: f32,
}

/// The taps of one axis: for output index `o`, input indices `index[o*taps..][..taps]`
/// (already clamped into the input) with `weight`s; `valid[o]` is false where the
/// output takes the extrapolation value.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisTable {
    pub taps: usize,
    pub index: Vec<i64>,
    pub weight: Vec<f64>,
    pub valid: Vec<bool>,
}

impl AxisTable {
    /// True when output `o` is exactly input `o` (an untouched axis).
    pub fn is_identity(&self) -> bool {
        self.valid.iter().all(|&v| v)
            && (0..self.valid.len()).all(|o| {
                let t = &self.index[o * self.taps..(o + 1) * self.taps];
                let w = &self.weight[o * self.taps..(o + 1) * self.taps];
                t.iter()
                    .zip(w)
                    .all(|(&i, &wt)| wt == 0.0 || (wt == 1.0 && i == o as i64))
            })
    }
}

/// Keys' cubic convolution weights of the taps at offsets −1, 0, 1, 2 for a point
/// `ratio` (in [0, 1)) past the first of the middle two.
pub(crate) fn cubic(ratio: f64, a: f64) -> [f64; 4] {
    let r = ratio;
    let s = 1.0 - r;
    [
        ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
        ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
        ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0,
        ((a * (s + 1.0) - 5.0 * a) * (s + 1.0) + 8.0 * a) * (s + 1.0) - 4.0 * a,
    ]
}

impl Resize {
    /// The text-IR attributes (parsed back by `parse::ops`).
    pub fn attrs(&self) -> String {
        let mode = match self.mode {
            ResizeMode::Nearest(m) => format!("mode=nearest nearest={}", m.name()),
            ResizeMode::Linear => "mode=linear".to_string(),
            ResizeMode::Cubic { a } => format!("mode=cubic cubic_a={a:?}"),
        };
        let roi = if self.roi.is_empty() {
            String::new()
        } else {
            format!(" roi={:?}", self.roi)
        };
        format!(
            "sizes={:?} scales={:?}{roi} {mode} coord={} antialias={} exclude_outside={} extrapolation={:?}",
            self.sizes,
            self.scales,
            self.coord.name(),
            self.antialias,
            self.exclude_outside,
            self.extrapolation
        )
    }

    /// Coefficients for `ratio` in (0, 1] (the reference's `get_coeffs`), in tap order
    /// from the leftmost neighbour.
    fn coeffs(&self, ratio: f64, scale: f64) -> Vec<f64> {
        let antialias = self.antialias && scale < 1.0;
        match self.mode {
            ResizeMode::Nearest(m) => {
                if ratio == ratio.trunc() {
                    return vec![0.0, 1.0];
                }
                let right = match m {
                    NearestMode::RoundPreferFloor => ratio > 0.5,
                    NearestMode::RoundPreferCeil => ratio >= 0.5,
                    NearestMode::Floor => false,
                    NearestMode::Ceil => true,
                };
                vec![f64::from(u8::from(!right)), f64::from(u8::from(right))]
            }
            ResizeMode::Linear if antialias => {
                let start = (-1.0 / scale).floor() as i64 + 1;
                let n = 2 - 2 * start;
                let c: Vec<f64> = (start..start + n)
                    .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                    .collect();
                let sum: f64 = c.iter().sum();
                c.into_iter().map(|v| v / sum).collect()
            }
            ResizeMode::Linear => vec![1.0 - ratio, ratio],
            ResizeMode::Cubic { a } if antialias => {
                let a = f64::from(a);
                let f = |x: f64| {
                    let x = x.abs();
                    let (x2, x3) = (x * x, x * x * x);
                    if x <= 1.0 {
                        (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
                    } else if x < 2.0 {
                        a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
                    } else {
                        0.0
                    }
                };
                let start = (-2.0 / scale).floor() as i64 + 1;
                let c: Vec<f64> = (start..2 - start)
                    .map(|i| f(scale * (i as f64 - ratio)))
                    .collect();
                let sum: f64 = c.iter().sum();
                c.into_iter().map(|v| v / sum).collect()
            }
            ResizeMode::Cubic { a } => cubic(ratio, f64::from(a)).to_vec(),
        }
    }

    /// Output coordinate `x` mapped into the input, or `None` for extrapolation.
    fn source(&self, axis: usize, x: f64, in_len: u64) -> Option<f64> {
        let scale = self.scales[axis];
        let (input, out_int) = (in_len as f64, self.sizes[axis] as f64);
        let output = scale * input; // the reference's float output width
        Some(match self.coord {
            CoordMode::AlignCorners if output == 1.0 => 0.0,
            CoordMode::AlignCorners => x * (input - 1.0) / (output - 1.0),
            CoordMode::Asymmetric => x / scale,
            CoordMode::TfCropAndResize => {
                let rank = self.sizes.len();
                let (start, end) = (f64::from(self.roi[axis]), f64::from(self.roi[rank + axis]));
                let mut o = if output == 1.0 {
                    (end - start) * (input - 1.0) / 2.0
                } else {
                    x * (end - start) * (input - 1.0) / (output - 1.0)
                };
                o += start * (input - 1.0);
                if o < 0.0 || o > input - 1.0 {
                    return None;
                }
                o
            }
            CoordMode::PytorchHalfPixel if output == 1.0 => -0.5,
            CoordMode::PytorchHalfPixel | CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                let adjustment = out_int / output;
                let offset = input / 2.0 * (1.0 - adjustment);
                offset + (x + 0.5) / scale - 0.5
            }
        })
    }

    /// The tap table of `axis` for an input of length `in_len`.
    pub fn axis_table(&self, axis: usize, in_len: u64) -> AxisTable {
        let out = self.sizes[axis] as usize;
        let scale = self.scales[axis];
        let mut rows: Vec<(Vec<i64>, Vec<f64>, bool)> = Vec::with_capacity(out);
        for o in 0..out {
            let Some(x) = self.source(axis, o as f64, in_len) else {
                rows.push((vec![0], vec![0.0], false));
                continue;
            };
            let base = x.floor();
            let ratio = if x == base { 1.0 } else { x - base };
            let mut c = self.coeffs(ratio, scale);
            let n = c.len() as i64;
            // The n nearest indices, preferring smaller ones: left neighbour is
            // ceil(x) - 1, i.e. floor(x) except at integers.
            let left = if x == base {
                base as i64 - 1
            } else {
                base as i64
            };
            let first = left - n / 2 + 1;
            let raw: Vec<i64> = (first..first + n).collect();
            if self.exclude_outside {
                for (w, &i) in c.iter_mut().zip(&raw) {
                    if i < 0 || i >= in_len as i64 {
                        *w = 0.0;
                    }
                }
                let sum: f64 = c.iter().sum();
                if sum != 0.0 {
                    c.iter_mut().for_each(|w| *w /= sum);
                }
            }
            let clamped = raw.iter().map(|&i| i.clamp(0, in_len as i64 - 1)).collect();
            rows.push((clamped, c, true));
        }
        let taps = rows.iter().map(|r| r.0.len()).max().unwrap_or(1).max(1);
        let mut t = AxisTable {
            taps,
            index: Vec::with_capacity(out * taps),
            weight: Vec::with_capacity(out * taps),
            valid: Vec::with_capacity(out),
        };
        for (idx, w, valid) in rows {
            let pad = taps - idx.len();
            t.index
                .extend(idx.iter().copied().chain(std::iter::repeat_n(0, pad)));
            t.weight
                .extend(w.iter().copied().chain(std::iter::repeat_n(0.0, pad)));
            t.valid.push(valid);
        }
        t
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if self.sizes.len() != xd.len() || self.scales.len() != xd.len() {
            return shape_err(format!(
                "sizes {:?} / scales {:?} do not match rank {}",
                self.sizes,
                self.scales,
                xd.len()
            ));
        }
        if self.coord == CoordMode::TfCropAndResize && self.roi.len() != 2 * xd.len() {
            return shape_err(format!("roi {:?} needs 2 × rank values", self.roi));
        }
        if !x.dtype.is_float() {
            return shape_err(format!(
                "Resize is implemented for float types, not {}",
                x.dtype
            ));
        }
        if xd.iter().zip(&self.sizes).any(|(&i, &o)| i == 0 && o > 0) {
            return shape_err("cannot resize an empty axis to a non-empty one");
        }
        Ok(TensorType::new(x.dtype, &self.sizes))
    }

    /// Reference evaluation (f64), through the same tables as the kernels.
    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let xd = x.shape.clone();
        let xv = x.to_f64_vec();
        let tables: Vec<AxisTable> = xd
            .iter()
            .enumerate()
            .map(|(a, &n)| self.axis_table(a, n))
            .collect();
        let in_strides = crate::shape::strides(&xd);
        let total: u64 = self.sizes.iter().product();
        let mut y = Vec::with_capacity(total as usize);
        let mut coord = vec![0usize; xd.len()];
        for _ in 0..total {
            let v = if coord.iter().zip(&tables).all(|(&o, t)| t.valid[o]) {
                // Σ over every tap combination (zero weights included, so a NaN input
                // propagates as in the kernels and the ONNX reference).
                let mut sum = 0.0;
                let mut tap = vec![0usize; xd.len()];
                loop {
                    let (mut w, mut at) = (1.0, 0u64);
                    for (a, t) in tables.iter().enumerate() {
                        let k = coord[a] * t.taps + tap[a];
                        w *= t.weight[k];
                        at += t.index[k] as u64 * in_strides[a];
                    }
                    sum += w * xv[at as usize];
                    if !advance(&mut tap, |a| tables[a].taps) {
                        break;
                    }
                }
                sum
            } else {
                f64::from(self.extrapolation)
            };
            y.push(v);
            advance(&mut coord, |a| self.sizes[a] as usize);
        }
        Ok(Tensor::from_f64_as(out.dtype, self.sizes.clone(), &y))
    }
}

/// Steps the multi-index `idx` (last axis fastest) within `limit(axis)`; false once it
/// wraps back to all zeros.
fn advance(idx: &mut [usize], limit: impl Fn(usize) -> usize) -> bool {
    for a in (0..idx.len()).rev() {
        idx[a] += 1;
        if idx[a] < limit(a) {
            return true;
        }
        idx[a] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(mode: ResizeMode, coord: CoordMode, out: u64, scale: f64) -> Resize {
        Resize {
            sizes: vec![out],
            scales: vec![scale],
            roi: vec![],
            mode,
            coord,
            antialias: false,
            exclude_outside: false,
            extrapolation: 0.0,
        }
    }

    #[test]
    fn linear_half_pixel_upsample_by_two() {
        // numpy/onnx: [1, 2] -> [1, 1.25, 1.75, 2]
        let r = resize(ResizeMode::Linear, CoordMode::HalfPixel, 4, 2.0);
        let x = Tensor::from_f32(vec![2], &[1.0, 2.0]);
        let y = r
            .eval(&x, &TensorType::new(crate::DType::F32, &[4]))
            .unwrap();
        assert_eq!(y.to_f64_vec(), vec![1.0, 1.25, 1.75, 2.0]);
    }

    #[test]
    fn untouched_axis_is_identity_and_cubic_weights_sum_to_one() {
        let r = resize(ResizeMode::Cubic { a: -0.75 }, CoordMode::HalfPixel, 5, 1.0);
        assert!(r.axis_table(0, 5).is_identity());
        let r = resize(
            ResizeMode::Cubic { a: -0.5 },
            CoordMode::AlignCorners,
            7,
            7.0 / 3.0,
        );
        let t = r.axis_table(0, 3);
        for o in 0..7 {
            let s: f64 = t.weight[o * t.taps..(o + 1) * t.taps].iter().sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
    }
}
