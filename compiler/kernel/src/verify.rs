//! The kernel IR verifier: every lowering's output passes it before code generation.

use crate::expr::{BinaryOp, Expr, UnaryOp};
use crate::kernel::{Kernel, ScalarType, Stmt};

/// A malformed kernel. Always an internal bug in a lowering, never bad user input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("kernel `{kernel}` is malformed: {message}")]
pub struct VerifyError {
    pub kernel: String,
    pub message: String,
}

/// Checks buffer and variable references and expression types.
pub fn verify_kernel(k: &Kernel) -> Result<(), VerifyError> {
    let err = |m: String| VerifyError {
        kernel: k.name.clone(),
        message: m,
    };
    if k.name.is_empty()
        || !k
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(err(format!(
            "symbol name `{}` is not a C identifier",
            k.name
        )));
    }
    verify_block(k, &k.body).map_err(err)?;
    crate::gpu::check_block_rules(k).map_err(err)
}

fn verify_block(k: &Kernel, block: &[Stmt]) -> Result<(), String> {
    for s in block {
        match s {
            Stmt::For {
                var, lo, hi, body, ..
            } => {
                let v = k.var(*var).ok_or(format!("unknown loop variable {var}"))?;
                if v.ty != ScalarType::I64 {
                    return Err(format!("loop variable {var} is {} not i64", v.ty));
                }
                expect(k, lo, ScalarType::I64)?;
                expect(k, hi, ScalarType::I64)?;
                scalar(k, lo)?;
                scalar(k, hi)?;
                verify_block(k, body)?;
            }
            Stmt::Assign { var, value } => {
                let v = k.var(*var).ok_or(format!("unknown variable {var}"))?;
                expect(k, value, v.ty)?;
                let n = lanes(k, value)?;
                if n != v.lanes {
                    return Err(format!(
                        "{var} has {} lanes, assigned a value of {n}",
                        v.lanes
                    ));
                }
            }
            Stmt::Store { buf, index, value } => {
                let (elem, _) = k.buffer(*buf).ok_or(format!("unknown buffer {buf}"))?;
                expect(k, index, ScalarType::I64)?;
                expect(k, value, elem)?;
                scalar(k, index)?;
                lanes(k, value)?;
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                expect(k, cond, ScalarType::Bool)?;
                scalar(k, cond)?;
                verify_block(k, then)?;
                verify_block(k, otherwise)?;
            }
            // Where barriers may stand: `gpu::check_block_rules`.
            Stmt::Barrier => {}
        }
    }
    Ok(())
}

fn expect(k: &Kernel, e: &Expr, ty: ScalarType) -> Result<(), String> {
    let got = check(k, e)?;
    if got != ty {
        return Err(format!("expected {ty}, found {got} in {e:?}"));
    }
    Ok(())
}

/// Type-checks `e` and returns its type.
fn check(k: &Kernel, e: &Expr) -> Result<ScalarType, String> {
    match e {
        Expr::FConst(_, t) if t.is_float() => Ok(*t),
        Expr::FConst(_, t) => Err(format!("float constant of type {t}")),
        Expr::IConst(_, t) if t.is_int() => Ok(*t),
        Expr::IConst(_, t) => Err(format!("integer constant of type {t}")),
        Expr::BConst(_) => Ok(ScalarType::Bool),
        Expr::Var(v) => Ok(k.var(*v).ok_or(format!("unknown variable {v}"))?.ty),
        Expr::Load { buf, index } | Expr::VLoad { buf, index, .. } => {
            let (elem, _) = k.buffer(*buf).ok_or(format!("unknown buffer {buf}"))?;
            expect(k, index, ScalarType::I64)?;
            Ok(elem)
        }
        Expr::ThreadIdx | Expr::BlockIdx => Ok(ScalarType::I64),
        Expr::Mma { a, b, c, .. } => {
            for (v, want) in [(a, 8), (b, 4), (c, 4)] {
                let var = k.var(*v).ok_or(format!("unknown variable {v}"))?;
                if var.ty != ScalarType::F32 || var.lanes != want {
                    return Err(format!("mma operand {v} is not f32 x {want}"));
                }
            }
            Ok(ScalarType::F32)
        }
        Expr::ShuffleXor { value, lane_mask } => {
            let t = check(k, value)?;
            if !matches!(t, ScalarType::F32 | ScalarType::I32) {
                return Err(format!("shuffle of {t} (f32 or i32 only)"));
            }
            if *lane_mask == 0 || *lane_mask >= 32 {
                return Err(format!("shuffle lane mask {lane_mask} (1..32)"));
            }
            Ok(t)
        }
        Expr::Splat { arg, .. } | Expr::LaneReduce { arg, .. } => check(k, arg),
        Expr::Unary { op, arg } => {
            let t = check(k, arg)?;
            let ok = match op {
                UnaryOp::Neg | UnaryOp::Abs => t.is_float() || t.is_signed(),
                UnaryOp::Not => t == ScalarType::Bool || t.is_int(),
                _ => t.is_float(),
            };
            if ok {
                Ok(t)
            } else {
                Err(format!("{op:?} on {t}"))
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let t = check(k, lhs)?;
            expect(k, rhs, t)?;
            let ok = match op {
                BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => t == ScalarType::Bool || t.is_int(),
                BinaryOp::Shl | BinaryOp::Shr => t.is_int(),
                BinaryOp::Pow => t.is_float(),
                _ => t != ScalarType::Bool,
            };
            if ok {
                Ok(t)
            } else {
                Err(format!("{op:?} on {t}"))
            }
        }
        Expr::Cmp { lhs, rhs, .. } => {
            let t = check(k, lhs)?;
            expect(k, rhs, t)?;
            Ok(ScalarType::Bool)
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            expect(k, cond, ScalarType::Bool)?;
            let t = check(k, then)?;
            expect(k, otherwise, t)?;
            Ok(t)
        }
        Expr::Cast { to, arg } => {
            check(k, arg)?;
            Ok(*to)
        }
        Expr::Bitcast { to, arg } => {
            let from = check(k, arg)?;
            if from.size_bytes() != to.size_bytes() || from == ScalarType::Bool {
                return Err(format!("bitcast from {from} to {to}"));
            }
            Ok(*to)
        }
        Expr::Fma { a, b, c } => {
            let t = check(k, a)?;
            if !t.is_float() {
                return Err(format!("fma on {t}"));
            }
            expect(k, b, t)?;
            expect(k, c, t)?;
            Ok(t)
        }
        Expr::DotBytes { acc, a, b, .. } => {
            for x in [acc, a, b] {
                expect(k, x, ScalarType::I32)?;
            }
            Ok(ScalarType::I32)
        }
    }
}

/// Checks that `e` is a scalar.
fn scalar(k: &Kernel, e: &Expr) -> Result<(), String> {
    match lanes(k, e)? {
        1 => Ok(()),
        n => Err(format!("expected a scalar, found {n} lanes in {e:?}")),
    }
}

/// Checks the vector rules (see the `expr` module docs) and returns the lane count.
fn lanes(k: &Kernel, e: &Expr) -> Result<u32, String> {
    let same = |parts: &[&Expr]| -> Result<u32, String> {
        let mut n = None;
        for p in parts {
            let l = lanes(k, p)?;
            if *n.get_or_insert(l) != l {
                return Err(format!("operands with different lane counts in {e:?}"));
            }
        }
        Ok(n.unwrap_or(1))
    };
    let n = match e {
        Expr::FConst(..) | Expr::IConst(..) | Expr::BConst(_) => 1,
        Expr::ThreadIdx | Expr::BlockIdx => 1,
        Expr::Mma { .. } => 4,
        Expr::ShuffleXor { value, .. } => {
            scalar(k, value)?;
            1
        }
        Expr::Var(v) => k.var(*v).map_or(1, |v| v.lanes),
        Expr::Load { index, .. } => {
            scalar(k, index)?;
            1
        }
        Expr::VLoad { index, lanes, .. } | Expr::Splat { arg: index, lanes } => {
            scalar(k, index)?;
            *lanes
        }
        Expr::Unary { op, arg } => {
            let n = lanes(k, arg)?;
            if n > 1 && *op != UnaryOp::Neg {
                return Err(format!("{op:?} on a vector"));
            }
            n
        }
        Expr::Binary { op, lhs, rhs } => {
            let n = same(&[lhs, rhs])?;
            let vector_op = matches!(
                op,
                BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Min
                    | BinaryOp::Max
                    // Integer bit operations (bf16 storage, `narrow.rs`).
                    | BinaryOp::And
                    | BinaryOp::Shl
                    | BinaryOp::Shr
            );
            if n > 1 && !vector_op {
                return Err(format!("{op:?} on a vector"));
            }
            n
        }
        Expr::Fma { a, b, c } => same(&[a, b, c])?,
        Expr::DotBytes { acc, a, b, .. } => same(&[acc, a, b])?,
        Expr::LaneReduce { op, arg } => {
            let n = lanes(k, arg)?;
            if !matches!(op, BinaryOp::Add | BinaryOp::Min | BinaryOp::Max) {
                return Err(format!("lane reduction by {op:?}"));
            }
            if n < 2 || !n.is_power_of_two() {
                return Err(format!(
                    "lane reduction of {n} lanes (needs a power of two ≥ 2)"
                ));
            }
            1
        }
        Expr::Cmp { lhs, rhs, .. } => scalar(k, lhs).and(scalar(k, rhs)).map(|_| 1)?,
        // Lane-wise on vectors too (`narrow.rs` widens and narrows vector loads/stores).
        Expr::Cast { arg, .. } | Expr::Bitcast { arg, .. } => lanes(k, arg)?,
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            scalar(k, cond)?;
            scalar(k, then)?;
            scalar(k, otherwise)?;
            1
        }
    };
    if n == 0 {
        return Err(format!("zero lanes in {e:?}"));
    }
    if n > 1 {
        let t = check(k, e)?;
        // Integer vectors: i32 words of the int8 GEMM (loads, broadcasts, variables
        // and byte dot products only).
        let int_vector = t == ScalarType::I32
            && matches!(
                e,
                Expr::Var(_) | Expr::VLoad { .. } | Expr::Splat { .. } | Expr::DotBytes { .. }
            );
        // u16/u32 vectors: the bits of bf16 storage (`narrow.rs`).
        let bits_vector = matches!(t, ScalarType::U16 | ScalarType::U32)
            && matches!(
                e,
                Expr::VLoad { .. }
                    | Expr::Splat { .. }
                    | Expr::Cast { .. }
                    | Expr::Bitcast { .. }
                    | Expr::Binary { .. }
            );
        // The int8 kernels' requantizing epilogue in registers: i32 arithmetic, casts
        // to and from f32, u8/i8 residual loads and narrowed results.
        let int8_epilogue = matches!(t, ScalarType::I32 | ScalarType::U8 | ScalarType::I8)
            && matches!(
                e,
                Expr::VLoad { .. }
                    | Expr::Splat { .. }
                    | Expr::Cast { .. }
                    | Expr::Bitcast { .. }
                    | Expr::Binary { .. }
            );
        if !t.is_float() && !int_vector && !bits_vector && !int8_epilogue {
            return Err(format!("a vector of {t} in {e:?}; vectors are float-only"));
        }
    }
    Ok(n)
}

#[cfg(test)]
mod vector_tests {
    use super::verify_kernel;
    use crate::{Access, BinaryOp, Expr, KernelBuilder, ScalarType};

    fn kernel(build: impl FnOnce(&mut KernelBuilder, crate::BufId)) -> Result<(), String> {
        let mut b = KernelBuilder::new("k");
        let x = b.param("x", ScalarType::F32, 64, Access::ReadWrite);
        build(&mut b, x);
        verify_kernel(&b.finish()).map_err(|e| e.message)
    }

    #[test]
    fn vector_rules_are_enforced() {
        assert!(kernel(|b, x| {
            let v = b.vector_var("v", ScalarType::F32, 16);
            b.assign(v, Expr::vload(x, Expr::i64(0), 16));
            b.store(
                x,
                Expr::i64(16),
                Expr::fma(Expr::var(v), Expr::var(v), Expr::var(v)),
            );
        })
        .is_ok());
        let lanes = kernel(|b, x| {
            let v = b.vector_var("v", ScalarType::F32, 8);
            b.assign(v, Expr::vload(x, Expr::i64(0), 16));
        });
        assert!(lanes.unwrap_err().contains("lanes"));
        let mixed = kernel(|b, x| {
            b.store(
                x,
                Expr::i64(0),
                Expr::vload(x, Expr::i64(0), 16) + Expr::f32(1.0),
            );
        });
        assert!(mixed.unwrap_err().contains("different lane counts"));
        let exp = kernel(|b, x| b.store(x, Expr::i64(0), Expr::vload(x, Expr::i64(0), 4).exp()));
        assert!(exp.unwrap_err().contains("on a vector"));
        let odd = kernel(|b, x| {
            let r = Expr::lane_reduce(BinaryOp::Add, Expr::vload(x, Expr::i64(0), 3));
            b.store(x, Expr::i64(0), r);
        });
        assert!(odd.unwrap_err().contains("power of two"));
        let index = kernel(|b, x| {
            let i = Expr::splat(Expr::i64(0), 4);
            b.store(x, Expr::i64(0), Expr::load(x, i));
        });
        assert!(index.is_err());
    }
}
