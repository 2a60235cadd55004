//! Windowed and global pooling (ONNX `MaxPool`, `AveragePool`, `GlobalMaxPool`,
//! `GlobalAveragePool`).
//!
//! Padding never wins a max. An average divides by the taps inside the real input, or,
//! with `count_include_pad`, by the taps inside input plus pads; taps past the end
//! padding (reachable only with `ceil_mode`) never count, as in onnxruntime.

use super::{expect_rank, Window};
use crate::error::{shape_err, OpResult};
use crate::ops::{GlobalPool, Pool, PoolKind};
use crate::shape::TensorType;
use crate::tensor::Tensor;

/// Evaluates a windowed pooling; the output size (and so `ceil_mode`) comes from `out`.
pub fn pool(p: &Pool, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
    let od = out.dims()?;
    let k = p.kernel.len();
    expect_rank("input", &x.shape, k + 2)?;
    expect_rank("output", &od, k + 2)?;
    if od[..2] != x.shape[..2] {
        return shape_err(format!(
            "pooling output {od:?} does not match input {:?}",
            x.shape
        ));
    }
    let win = Window::new(
        &x.shape[2..],
        &od[2..],
        &p.kernel,
        &p.strides,
        &p.pads,
        &p.dilations,
    )?;
    let planes = (x.shape[0] * x.shape[1]) as usize;
    let in_plane: usize = x.shape[2..].iter().product::<u64>() as usize;
    let xv = x.to_f64_vec();
    let mut y = Vec::with_capacity(planes * win.out_positions);
    for plane in 0..planes {
        let xp = &xv[plane * in_plane..][..in_plane];
        for o in 0..win.out_positions {
            let vals = win.taps_of(o).iter().flatten().map(|&off| xp[off]);
            let v = match p.kind {
                PoolKind::Max => vals.fold(f64::NEG_INFINITY, max_nan),
                PoolKind::Avg { count_include_pad } => {
                    let (sum, count) = vals.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
                    let div = if count_include_pad {
                        win.padded_taps[o]
                    } else {
                        count
                    };
                    sum / div.max(1) as f64
                }
            };
            y.push(v);
        }
    }
    Ok(Tensor::from_f64_as(out.dtype, od, &y))
}

/// Evaluates a global pooling: one value per `(batch, channel)` plane.
pub fn global_pool(g: &GlobalPool, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
    let od = out.dims()?;
    if x.shape.len() < 3 {
        return shape_err(format!("input shape {:?} has no spatial dims", x.shape));
    }
    let planes = (x.shape[0] * x.shape[1]) as usize;
    let in_plane: usize = x.shape[2..].iter().product::<u64>() as usize;
    let xv = x.to_f64_vec();
    let y: Vec<f64> = (0..planes)
        .map(|plane| {
            let xp = &xv[plane * in_plane..][..in_plane];
            match g.kind {
                PoolKind::Max => xp.iter().copied().fold(f64::NEG_INFINITY, max_nan),
                PoolKind::Avg { .. } => xp.iter().sum::<f64>() / in_plane.max(1) as f64,
            }
        })
        .collect();
    Ok(Tensor::from_f64_as(out.dtype, od, &y))
}

/// NaN-propagating maximum.
fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn avg(count_include_pad: bool, ceil_mode: bool) -> Pool {
        Pool {
            kind: PoolKind::Avg { count_include_pad },
            kernel: vec![3],
            strides: vec![2],
            pads: vec![1, 1],
            dilations: vec![1],
            ceil_mode,
        }
    }

    #[test]
    fn average_counts_pads_only_when_asked() {
        let x = Tensor::from_f32(vec![1, 1, 4], &[3.0, 6.0, 9.0, 12.0]);
        // padded [0,3,6,9,12,0]: windows at 0 and 2 (floor mode).
        let out = TensorType::new(DType::F32, &[1, 1, 2]);
        let y = pool(&avg(false, false), &x, &out).unwrap().to_f32_vec();
        assert_eq!(y, vec![4.5, 9.0]);
        let y = pool(&avg(true, false), &x, &out).unwrap().to_f32_vec();
        assert_eq!(y, vec![3.0, 9.0]);
    }

    #[test]
    fn max_ignores_padding() {
        let p = Pool {
            kind: PoolKind::Max,
            ..avg(false, false)
        };
        let x = Tensor::from_f32(vec![1, 1, 4], &[-3.0, -6.0, -9.0, -12.0]);
        let out = TensorType::new(DType::F32, &[1, 1, 2]);
        let y = pool(&p, &x, &out).unwrap().to_f32_vec();
        assert_eq!(y, vec![-3.0, -6.0]);
    }

    #[test]
    fn global_average_and_max() {
        let x = Tensor::from_f32(vec![1, 2, 2], &[1.0, 3.0, -1.0, -5.0]);
        let out = TensorType::new(DType::F32, &[1, 2, 1]);
        let g = GlobalPool {
            kind: PoolKind::Avg {
                count_include_pad: false,
            },
        };
        assert_eq!(global_pool(&g, &x, &out).unwrap().to_f32_vec(), [2.0, -3.0]);
        let g = GlobalPool {
            kind: PoolKind::Max,
        };
        assert_eq!(global_pool(&g, &x, &out).unwrap().to_f32_vec(), [3.0, -1.0]);
    }
}
