//! Text form of kernel IR, for `neoc inspect --kernels`, debugging and tests.

use crate::expr::{BinaryOp, ByteSign, CmpOp, Expr, UnaryOp};
use crate::kernel::{Access, Kernel, LoopKind, Module, Stmt};
use std::fmt::{self, Write};

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in &self.kernels {
            writeln!(f, "{k}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel {}(", self.name)?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let access = match p.access {
                Access::Read => "in",
                Access::Write => "out",
                Access::ReadWrite => "inout",
            };
            write!(f, "%b{i} {access} {}[{}] \"{}\"", p.elem, p.len, p.name)?;
        }
        f.write_str(")")?;
        if let Some(g) = self.gpu {
            write!(f, " grid {} block {}", g.grid, g.block)?;
        }
        f.write_str(" {\n")?;
        for (i, l) in self.locals.iter().enumerate() {
            writeln!(f, "  local %l{i} {}[{}] \"{}\"", l.elem, l.len, l.name)?;
        }
        let mut s = String::new();
        block(&self.body, 1, &mut s)?;
        f.write_str(&s)?;
        f.write_str("}\n")
    }
}

fn block(stmts: &[Stmt], depth: usize, out: &mut String) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for s in stmts {
        match s {
            Stmt::For {
                var,
                lo,
                hi,
                kind,
                body,
            } => {
                let mark = match kind {
                    LoopKind::Serial => "",
                    LoopKind::Parallel => " parallel",
                    LoopKind::Vectorize => " vectorize",
                    LoopKind::Unroll => " unroll",
                };
                writeln!(out, "{pad}for {var} in {}..{}{mark} {{", e(lo), e(hi))?;
                block(body, depth + 1, out)?;
                writeln!(out, "{pad}}}")?;
            }
            Stmt::Assign { var, value } => writeln!(out, "{pad}{var} = {}", e(value))?,
            Stmt::Store { buf, index, value } => {
                writeln!(out, "{pad}{buf}[{}] = {}", e(index), e(value))?
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                writeln!(out, "{pad}if {} {{", e(cond))?;
                block(then, depth + 1, out)?;
                if !otherwise.is_empty() {
                    writeln!(out, "{pad}}} else {{")?;
                    block(otherwise, depth + 1, out)?;
                }
                writeln!(out, "{pad}}}")?;
            }
            Stmt::Barrier => writeln!(out, "{pad}barrier")?,
        }
    }
    Ok(())
}

fn e(x: &Expr) -> String {
    match x {
        Expr::FConst(v, t) => format!("{v:?}{t}"),
        Expr::IConst(v, _) => format!("{v}"),
        Expr::BConst(b) => format!("{b}"),
        Expr::Var(v) => format!("{v}"),
        Expr::Load { buf, index } => format!("{buf}[{}]", e(index)),
        Expr::VLoad { buf, index, lanes } => format!("{buf}[{} +{lanes}]", e(index)),
        Expr::Splat { arg, lanes } => format!("splat{lanes}({})", e(arg)),
        Expr::LaneReduce { op, arg } => {
            format!("reduce_{}({})", format!("{op:?}").to_lowercase(), e(arg))
        }
        Expr::Unary { op, arg } => {
            let name = match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Abs => "abs",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Erf => "erf",
                UnaryOp::Sin => "sin",
                UnaryOp::Cos => "cos",
                UnaryOp::Atan => "atan",
                UnaryOp::Floor => "floor",
                UnaryOp::Ceil => "ceil",
                UnaryOp::Round => "round",
                UnaryOp::Not => "not",
            };
            format!("{name}({})", e(arg))
        }
        Expr::Binary { op, lhs, rhs } => {
            let sym = match op {
                BinaryOp::Add => "+",
                BinaryOp::Sub => "-",
                BinaryOp::Mul => "*",
                BinaryOp::Div => "/",
                BinaryOp::Rem => "%",
                BinaryOp::And => "&",
                BinaryOp::Or => "|",
                BinaryOp::Xor => "^",
                BinaryOp::Shl => "<<",
                BinaryOp::Shr => ">>",
                BinaryOp::Min => return format!("min({}, {})", e(lhs), e(rhs)),
                BinaryOp::Max => return format!("max({}, {})", e(lhs), e(rhs)),
                BinaryOp::Pow => return format!("pow({}, {})", e(lhs), e(rhs)),
            };
            format!("({} {sym} {})", e(lhs), e(rhs))
        }
        Expr::Cmp { op, lhs, rhs } => {
            let sym = match op {
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
            };
            format!("({} {sym} {})", e(lhs), e(rhs))
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => format!("select({}, {}, {})", e(cond), e(then), e(otherwise)),
        Expr::Cast { to, arg } => format!("{to}({})", e(arg)),
        Expr::Bitcast { to, arg } => format!("bitcast<{to}>({})", e(arg)),
        Expr::Fma { a, b, c } => format!("fma({}, {}, {})", e(a), e(b), e(c)),
        Expr::DotBytes { acc, a, b, a_sign } => {
            let name = match a_sign {
                ByteSign::Unsigned => "dot_bytes",
                ByteSign::Signed => "dot_bytes_i8",
            };
            format!("{name}({}, {}, {})", e(acc), e(a), e(b))
        }
        Expr::ThreadIdx => "thread_idx".into(),
        Expr::BlockIdx => "block_idx".into(),
        Expr::ShuffleXor { value, lane_mask } => format!("shuffle_xor({}, {lane_mask})", e(value)),
        Expr::Mma { a, b, c, input } => format!("mma_{}({a}, {b}, {c})", input.name()),
    }
}

/// Prints one kernel to a string (same as `Display`).
pub fn to_text(k: &Kernel) -> String {
    let mut s = String::new();
    let _ = write!(s, "{k}");
    s
}
