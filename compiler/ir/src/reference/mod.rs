//! Reference kernels for the ops whose evaluation is more than a scalar function:
//! convolution, pooling, matrix products, batch normalisation and softmax.
//!
//! These are the test oracle (see [`crate::interp`]) and the constant folder's
//! evaluation of those ops ([`crate::Op::eval`] dispatches here). They are written for
//! clarity, not speed: every kernel widens its inputs to `f64`, accumulates in `f64` and
//! rounds once to the output dtype, so the reference is at least as accurate as any
//! `f32` kernel it checks. Shapes are taken from the tensors and the already inferred
//! output type; a kernel assumes the op's shape inference accepted its inputs and
//! returns a shape error (never panics) when they disagree anyway.

mod conv;
mod linalg;
mod normalization;
mod pool;

pub use conv::conv;
pub use linalg::{gemm, matmul};
pub use normalization::{batch_norm, softmax};
pub use pool::{global_pool, pool};

use crate::error::{shape_err, OpResult};

/// Static sliding-window geometry shared by convolution and pooling: for every output
/// spatial position and every kernel position, the flat input spatial offset it reads,
/// or `None` where the window covers padding.
pub(crate) struct Window {
    /// Number of output spatial positions.
    pub out_positions: usize,
    /// Number of kernel positions.
    pub taps: usize,
    /// `out_positions * taps` entries, output-position major.
    pub offsets: Vec<Option<usize>>,
    /// Per output position: window taps inside the input plus its padding (positions
    /// past the end padding, which `ceil_mode` windows may reach, are not counted).
    pub padded_taps: Vec<usize>,
}

impl Window {
    /// Builds the table for input spatial dims `input`, output spatial dims `output`,
    /// and the window attributes (`pads` holds begins then ends).
    pub fn new(
        input: &[u64],
        output: &[u64],
        kernel: &[u64],
        strides: &[u64],
        pads: &[u64],
        dilations: &[u64],
    ) -> OpResult<Window> {
        let k = kernel.len();
        if input.len() != k
            || output.len() != k
            || strides.len() != k
            || dilations.len() != k
            || pads.len() != 2 * k
        {
            return shape_err("window attributes do not match the spatial rank");
        }
        let out_positions: usize = output.iter().product::<u64>() as usize;
        let taps: usize = kernel.iter().product::<u64>() as usize;
        let in_strides = crate::shape::strides(input);
        let mut offsets = Vec::with_capacity(out_positions * taps);
        let mut padded_taps = Vec::with_capacity(out_positions);
        let mut oc = vec![0u64; k];
        let mut kc = vec![0u64; k];
        for o in 0..out_positions {
            unflatten(o as u64, output, &mut oc);
            let mut padded = 0;
            for t in 0..taps {
                unflatten(t as u64, kernel, &mut kc);
                let mut off = Some(0usize);
                let mut in_padded = true;
                for i in 0..k {
                    // Coordinate in the padded input, then in the real input.
                    let p = oc[i] * strides[i] + kc[i] * dilations[i];
                    if p >= input[i] + pads[i] + pads[k + i] {
                        in_padded = false;
                    }
                    match p.checked_sub(pads[i]).filter(|&c| c < input[i]) {
                        Some(c) => off = off.map(|o| o + (c * in_strides[i]) as usize),
                        None => off = None,
                    }
                }
                if in_padded {
                    padded += 1;
                }
                offsets.push(off);
            }
            padded_taps.push(padded);
        }
        Ok(Window {
            out_positions,
            taps,
            offsets,
            padded_taps,
        })
    }

    /// The input offsets read by output position `o`.
    pub fn taps_of(&self, o: usize) -> &[Option<usize>] {
        &self.offsets[o * self.taps..(o + 1) * self.taps]
    }
}

/// Writes the row-major coordinates of flat index `flat` within `dims` into `coords`.
fn unflatten(mut flat: u64, dims: &[u64], coords: &mut [u64]) {
    for i in (0..dims.len()).rev() {
        let d = dims[i].max(1);
        coords[i] = flat % d;
        flat /= d;
    }
}

/// Checks that a tensor has the expected rank, as a shape error naming `what`.
pub(crate) fn expect_rank(what: &str, shape: &[u64], rank: usize) -> OpResult<()> {
    if shape.len() != rank {
        return shape_err(format!("{what} has shape {shape:?}, expected rank {rank}"));
    }
    Ok(())
}
