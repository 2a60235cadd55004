//! Window functions and the mel filter bank: HannWindow, HammingWindow, BlackmanWindow
//! and MelWeightMatrix (opset 17), computed at import as constants.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__HannWindow.html>,
//! <https://onnx.ai/onnx/operators/onnx__HammingWindow.html>,
//! <https://onnx.ai/onnx/operators/onnx__BlackmanWindow.html>,
//! <https://onnx.ai/onnx/operators/onnx__MelWeightMatrix.html>. Their outputs depend only
//! on scalar inputs (a size, bin counts, frequencies), which must be constants; the
//! values are computed in f64 and stored as `output_datatype` (default float), so the
//! graph gets a constant instead of a chain of Range/Cos nodes.
//! - The windows are `a0 − a1·cos(2πn/N) + a2·cos(4πn/N)` for `n` in `0..size`, with
//!   `N = size` when `periodic` (the default) and `size − 1` otherwise: Hann
//!   `(½, ½, 0)`, Hamming `(25/46, 21/46, 0)`, Blackman `(0.42, 0.5, 0.08)`. A symmetric
//!   window of one sample (`N = 0`) is `[1]`, its limit (as numpy's `hanning(1)`).
//! - MelWeightMatrix follows the spec's reference: `num_mel_bins + 2` points evenly
//!   spaced in mel (`2595·log10(1 + f/700)`) between the edges, mapped back to hertz and
//!   to DFT bins `floor((dft_length + 1)·f / sample_rate)`; filter `i` rises linearly from
//!   bin `i` to bin `i + 1` and falls to bin `i + 2`. The output is
//!   `[dft_length / 2 + 1, num_mel_bins]`; a bin outside that range is an error.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::{DType, IrError, Tensor};
use std::f64::consts::PI;

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "HannWindow",
        17,
        22,
        hann,
        "size constant; a constant computed at import",
    ),
    spec(
        "HammingWindow",
        17,
        22,
        hamming,
        "size constant; a constant computed at import",
    ),
    spec(
        "BlackmanWindow",
        17,
        22,
        blackman,
        "size constant; a constant computed at import",
    ),
    spec(
        "MelWeightMatrix",
        17,
        22,
        mel_weight_matrix,
        "inputs constant; a constant computed at import",
    ),
];

/// The element type named by the `output_datatype` attribute (default float).
fn output_dtype(c: &NodeCtx<'_>) -> Result<DType, IrError> {
    let code = c.attrs.int("output_datatype", 1)?;
    i32::try_from(code)
        .ok()
        .and_then(crate::reader::dtype_of)
        .filter(|d| *d != DType::Bool)
        .ok_or_else(|| c.attr_error(format!("output_datatype {code} is not supported")))
}

/// Scalar input `i`, which the op requires, as an integer.
fn int_input(c: &NodeCtx<'_>, i: usize, what: &str) -> Result<i64, IrError> {
    match c.const_ints(i, what)? {
        Some(v) if v.len() == 1 => Ok(v[0]),
        Some(v) => Err(c.shape_error(format!(
            "{what} (input {i}) must be a scalar, got {} values",
            v.len()
        ))),
        None => Err(c.shape_error(format!("input {i} ({what}) is required"))),
    }
}

/// Scalar input `i`, which the op requires, as a number.
fn num_input(c: &NodeCtx<'_>, i: usize, what: &str) -> Result<f64, IrError> {
    c.const_scalar(i, what)?
        .ok_or_else(|| c.shape_error(format!("input {i} ({what}) is required")))
}

/// The generalised cosine window `a0 − a1·cos(2πn/N) + a2·cos(4πn/N)`.
fn cosine_window(c: &mut NodeCtx<'_>, (a0, a1, a2): (f64, f64, f64)) -> Built {
    let size = int_input(c, 0, "size")?;
    let size = u64::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| c.shape_error(format!("size must be positive, got {size}")))?;
    let dtype = output_dtype(c)?;
    c.built_elements(&[size], 8)?;
    let periodic = c.attrs.flag("periodic", true)?;
    let n_total = if periodic { size } else { size - 1 };
    let values: Vec<f64> = (0..size)
        .map(|n| {
            if n_total == 0 {
                return 1.0;
            }
            let t = 2.0 * PI * n as f64 / n_total as f64;
            a0 - a1 * t.cos() + a2 * (2.0 * t).cos()
        })
        .collect();
    let t = Tensor::from_f64_as(dtype, vec![size], &values);
    let name = c.output_name(0);
    Ok(vec![c.graph.add_const(name, t)])
}

fn hann(c: &mut NodeCtx<'_>) -> Built {
    cosine_window(c, (0.5, 0.5, 0.0))
}

fn hamming(c: &mut NodeCtx<'_>) -> Built {
    cosine_window(c, (25.0 / 46.0, 21.0 / 46.0, 0.0))
}

fn blackman(c: &mut NodeCtx<'_>) -> Built {
    cosine_window(c, (0.42, 0.5, 0.08))
}

fn mel_weight_matrix(c: &mut NodeCtx<'_>) -> Built {
    let mel_bins = int_input(c, 0, "num_mel_bins")?;
    let dft_length = int_input(c, 1, "dft_length")?;
    let sample_rate = int_input(c, 2, "sample_rate")?;
    let low = num_input(c, 3, "lower_edge_hertz")?;
    let high = num_input(c, 4, "upper_edge_hertz")?;
    let dtype = output_dtype(c)?;
    if mel_bins < 1 || dft_length < 1 || sample_rate < 1 {
        return Err(c.shape_error(format!(
            "num_mel_bins {mel_bins}, dft_length {dft_length} and sample_rate {sample_rate} \
             must be positive"
        )));
    }
    let (mel_bins, spec_bins) = (mel_bins as u64, dft_length as u64 / 2 + 1);
    let n = c.built_elements(&[spec_bins, mel_bins], 8)? as usize;
    let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
    let (low_mel, high_mel) = (mel(low), mel(high));
    let step = (high_mel - low_mel) / (mel_bins + 2) as f64;
    let bins: Vec<f64> = (0..mel_bins + 2)
        .map(|k| {
            let hz = 700.0 * (10f64.powf((k as f64 * step + low_mel) / 2595.0) - 1.0);
            ((dft_length as f64 + 1.0) * hz / sample_rate as f64).floor()
        })
        .collect();
    if let Some(b) = bins
        .iter()
        .find(|&&b| !(0.0..spec_bins as f64).contains(&b))
    {
        return Err(c.shape_error(format!(
            "the band edges map to DFT bin {b}, outside 0..{spec_bins}; check \
             lower_edge_hertz {low} and upper_edge_hertz {high} against sample_rate \
             {sample_rate}"
        )));
    }
    // Every bin is in 0..spec_bins now, so these casts and indices are in range.
    let bins: Vec<usize> = bins.iter().map(|&b| b as usize).collect();
    let cols = mel_bins as usize;
    let mut out = vec![0.0f64; n];
    for (i, w) in bins.windows(3).enumerate() {
        let (left, center, right) = (w[0], w[1], w[2]);
        if center == left {
            out[center * cols + i] = 1.0;
        } else {
            for j in left..=center {
                out[j * cols + i] = (j - left) as f64 / (center - left) as f64;
            }
        }
        if right > center {
            for j in center..right {
                out[j * cols + i] = (right - j) as f64 / (right - center) as f64;
            }
        }
    }
    let t = Tensor::from_f64_as(dtype, vec![spec_bins, mel_bins], &out);
    let name = c.output_name(0);
    Ok(vec![c.graph.add_const(name, t)])
}
