//! N-d grouped convolution (ONNX `Conv`): `x[N, C, ...] * w[M, C/group, k...] + b[M]`.

use super::{expect_rank, Window};
use crate::error::{shape_err, OpResult};
use crate::ops::Conv;
use crate::shape::TensorType;
use crate::tensor::Tensor;

/// Evaluates a convolution; `inputs` are `x, w[, bias]`. Padding reads as zero.
pub fn conv(c: &Conv, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
    let (Some(Some(x)), Some(Some(w))) = (inputs.first(), inputs.get(1)) else {
        return shape_err("Conv needs x and w");
    };
    let bias = inputs.get(2).copied().flatten();
    let od = out.dims()?;
    let k = c.kernel.len();
    expect_rank("input", &x.shape, k + 2)?;
    expect_rank("weight", &w.shape, k + 2)?;
    expect_rank("output", &od, k + 2)?;
    let (n, ci, m) = (
        x.shape[0] as usize,
        x.shape[1] as usize,
        w.shape[0] as usize,
    );
    let g = c.group.max(1) as usize;
    let (cg, mg) = (ci / g, m / g);
    if cg * g != ci || mg * g != m || w.shape[1] as usize != cg || od[1] as usize != m {
        return shape_err(format!(
            "Conv shapes do not agree: x {:?}, w {:?}, group {g}",
            x.shape, w.shape
        ));
    }
    let win = Window::new(
        &x.shape[2..],
        &od[2..],
        &c.kernel,
        &c.strides,
        &c.pads,
        &c.dilations,
    )?;
    let in_plane: usize = x.shape[2..].iter().product::<u64>() as usize;
    let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
    let bv = bias.map(|b| b.to_f64_vec());
    let mut y = vec![0.0; n * m * win.out_positions];
    for b in 0..n {
        for oc in 0..m {
            let grp = oc / mg;
            let y_plane = &mut y[(b * m + oc) * win.out_positions..][..win.out_positions];
            for (o, yo) in y_plane.iter_mut().enumerate() {
                let mut acc = bv.as_ref().map_or(0.0, |bv| bv[oc]);
                for icg in 0..cg {
                    let x_plane = &xv[(b * ci + grp * cg + icg) * in_plane..][..in_plane];
                    let w_taps = &wv[(oc * cg + icg) * win.taps..][..win.taps];
                    for (off, wt) in win.taps_of(o).iter().zip(w_taps) {
                        if let Some(off) = off {
                            acc += x_plane[*off] * wt;
                        }
                    }
                }
                *yo = acc;
            }
        }
    }
    Ok(Tensor::from_f64_as(out.dtype, od, &y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn conv_1d_with_pads_stride_dilation() {
        // x = [1, 2, 3, 4, 5], w = [1, 10], pads 1/0, stride 2, dilation 2.
        let c = Conv {
            kernel: vec![2],
            strides: vec![2],
            pads: vec![1, 0],
            dilations: vec![2],
            group: 1,
        };
        let x = Tensor::from_f32(vec![1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let w = Tensor::from_f32(vec![1, 1, 2], &[1.0, 10.0]);
        let b = Tensor::from_f32(vec![1], &[0.5]);
        let out = crate::Op::Conv(c.clone())
            .infer(&[
                Some(&TensorType::new(DType::F32, &[1, 1, 5])),
                Some(&TensorType::new(DType::F32, &[1, 1, 2])),
                Some(&TensorType::new(DType::F32, &[1])),
            ])
            .unwrap();
        let y = conv(&c, &[Some(&x), Some(&w), Some(&b)], &out[0]).unwrap();
        // padded: [0,1,2,3,4,5]; windows at 0,2: (0 + 10*2), (2 + 10*4)
        assert_eq!(y.shape, vec![1, 1, 2]);
        assert_eq!(y.to_f32_vec(), vec![20.5, 42.5]);
    }

    #[test]
    fn depthwise_conv_keeps_channels_apart() {
        let c = Conv {
            kernel: vec![1, 1],
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 2,
        };
        let x = Tensor::from_f32(vec![1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = Tensor::from_f32(vec![2, 1, 1, 1], &[10.0, 100.0]);
        let out = TensorType::new(DType::F32, &[1, 2, 1, 2]);
        let y = conv(&c, &[Some(&x), Some(&w)], &out).unwrap();
        assert_eq!(y.to_f32_vec(), vec![10.0, 20.0, 300.0, 400.0]);
    }
}
