//! Matrix products: ONNX `Gemm` and numpy-semantics `MatMul`.

use super::expect_rank;
use crate::error::{shape_err, OpResult};
use crate::ops::elementwise::broadcast_index;
use crate::ops::Gemm;
use crate::shape::TensorType;
use crate::tensor::Tensor;

/// `alpha * op(A) @ op(B) + beta * C`; `inputs` are `a, b[, c]`, and `C` broadcasts
/// unidirectionally to `[M, N]`.
pub fn gemm(g: &Gemm, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
    let (Some(Some(a)), Some(Some(b))) = (inputs.first(), inputs.get(1)) else {
        return shape_err("Gemm needs A and B");
    };
    let c = inputs.get(2).copied().flatten();
    let od = out.dims()?;
    expect_rank("A", &a.shape, 2)?;
    expect_rank("B", &b.shape, 2)?;
    expect_rank("output", &od, 2)?;
    let (m, n) = (od[0] as usize, od[1] as usize);
    let k = if g.trans_a { a.shape[0] } else { a.shape[1] } as usize;
    // Element (i, j) of op(X) for a row-major X of `cols` columns.
    let at = |trans: bool, cols: usize, i: usize, j: usize| {
        if trans {
            j * cols + i
        } else {
            i * cols + j
        }
    };
    let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
    let (acols, bcols) = (a.shape[1] as usize, b.shape[1] as usize);
    if av.len() != m * k || bv.len() != k * n {
        return shape_err(format!(
            "Gemm shapes do not agree: A {:?}, B {:?}, output {od:?}",
            a.shape, b.shape
        ));
    }
    let cv = c.map(|c| (c.to_f64_vec(), broadcast_index(&c.shape, &od)));
    let (alpha, beta) = (f64::from(g.alpha), f64::from(g.beta));
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0;
            for l in 0..k {
                acc += av[at(g.trans_a, acols, i, l)] * bv[at(g.trans_b, bcols, l, j)];
            }
            let mut v = alpha * acc;
            if let Some((cv, ci)) = &cv {
                v += beta * cv[ci[i * n + j]];
            }
            y.push(v);
        }
    }
    Ok(Tensor::from_f64_as(out.dtype, od, &y))
}

/// Numpy `matmul`: a 1-D `a` is a row vector and a 1-D `b` a column vector (the added
/// dim is dropped from the result); leading (batch) dims broadcast.
pub fn matmul(a: &Tensor, b: &Tensor, out: &TensorType) -> OpResult<Tensor> {
    let od = out.dims()?;
    let a2: Vec<u64> = match a.shape.len() {
        0 => return shape_err("MatMul operands must have rank >= 1"),
        1 => vec![1, a.shape[0]],
        _ => a.shape.clone(),
    };
    let b2: Vec<u64> = match b.shape.len() {
        0 => return shape_err("MatMul operands must have rank >= 1"),
        1 => vec![b.shape[0], 1],
        _ => b.shape.clone(),
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, n) = (
        a2[ra - 2] as usize,
        a2[ra - 1] as usize,
        b2[rb - 1] as usize,
    );
    if b2[rb - 2] as usize != k {
        return shape_err(format!(
            "MatMul inner dims differ: {:?} @ {:?}",
            a.shape, b.shape
        ));
    }
    let batch = crate::shape::broadcast_shapes(&[&a2[..ra - 2], &b2[..rb - 2]])?;
    let batches: usize = batch.iter().product::<u64>() as usize;
    if od.iter().product::<u64>() as usize != batches * m * n {
        return shape_err(format!(
            "MatMul output {od:?} does not match {:?} @ {:?}",
            a.shape, b.shape
        ));
    }
    let ia = broadcast_index(&a2[..ra - 2], &batch);
    let ib = broadcast_index(&b2[..rb - 2], &batch);
    let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
    let mut y = Vec::with_capacity(batches * m * n);
    for bi in 0..batches {
        let ap = &av[ia[bi] * m * k..][..m * k];
        let bp = &bv[ib[bi] * k * n..][..k * n];
        for i in 0..m {
            for j in 0..n {
                y.push((0..k).map(|l| ap[i * k + l] * bp[l * n + j]).sum::<f64>());
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
    fn gemm_transposes_and_broadcasts_c() {
        let g = Gemm {
            alpha: 2.0,
            beta: 0.5,
            trans_a: true,
            trans_b: true,
        };
        // A^T = [[1, 2]], B^T = [[1], [1]] * [3, 4]: A = [[1], [2]], B = [[3, 4]].
        let a = Tensor::from_f32(vec![2, 1], &[1.0, 2.0]);
        let b = Tensor::from_f32(vec![1, 2], &[3.0, 4.0]);
        let c = Tensor::from_f32(vec![1], &[10.0]);
        let out = TensorType::new(DType::F32, &[1, 1]);
        let y = gemm(&g, &[Some(&a), Some(&b), Some(&c)], &out).unwrap();
        assert_eq!(y.to_f32_vec(), vec![2.0 * 11.0 + 5.0]);
    }

    #[test]
    fn matmul_broadcasts_batches_and_promotes_vectors() {
        let a = Tensor::from_f32(vec![2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = Tensor::from_f32(vec![2], &[10.0, 1.0]);
        let out = TensorType::new(DType::F32, &[2, 1]);
        assert_eq!(matmul(&a, &b, &out).unwrap().to_f32_vec(), vec![12.0, 34.0]);
        let b = Tensor::from_f32(vec![2, 2], &[1.0, 0.0, 0.0, 2.0]);
        let out = TensorType::new(DType::F32, &[2, 1, 2]);
        assert_eq!(
            matmul(&a, &b, &out).unwrap().to_f32_vec(),
            vec![1.0, 4.0, 3.0, 8.0]
        );
    }
}
