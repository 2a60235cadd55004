//! What a dotted name means when TorchScript code calls it: aten operators
//! (`torch.conv2d`, `ops.aten.conv2d`) through the shared table, TorchScript's prims
//! (`ops.prim.NumToTensor`, `ops.prim.dtype`, ...), Python builtins (`int`, `len`,
//! `getattr`, `range`, `annotate`), script functions (`__torch__.f`), and the scalar
//! arithmetic shape computations use (ints and floats, with Python's semantics).

use super::interp::{Interp, SVal};
use crate::build;
use crate::error::Result;
use crate::ops;
use crate::tensors;
use crate::value::Val;
use neoc_ir::{DType, Tensor};

/// The prims the interpreter implements (`ops.prim.<name>`).
const PRIMS: [&str; 11] = [
    "NumToTensor",
    "dtype",
    "device",
    "unchecked_cast",
    "RaiseException",
    "min",
    "max",
    "layout",
    "TupleIndex",
    "shape",
    "data",
];

/// `torch.<name>` calls scripted code makes on lists, strings and numbers (shape
/// checks, messages); they are evaluated here, not by the aten table.
const SCALAR_ONLY: [&str; 11] = [
    "len",
    "__is__",
    "__isnot__",
    "__not__",
    "format",
    "floordiv",
    "list",
    "__getitem__",
    "__contains__",
    "__range_length",
    "__derive_index",
];

/// Whether calling `path` is a supported operator: `Some(false)` for an operator
/// neoc lacks, `None` for a name that is not an operator (a builtin, a variable).
pub(crate) fn is_supported(path: &str) -> Option<bool> {
    if path == "torch.device" || path == "torch.warn" {
        return Some(true);
    }
    if let Some(rest) = path.strip_prefix("torch.") {
        return Some(
            !rest.contains('.') && (ops::lookup(rest).is_some() || SCALAR_ONLY.contains(&rest)),
        );
    }
    if let Some(rest) = path.strip_prefix("ops.aten.") {
        return Some(ops::lookup(rest).is_some());
    }
    if let Some(rest) = path.strip_prefix("ops.prim.") {
        return Some(PRIMS.contains(&rest));
    }
    if path.starts_with("ops.") {
        return Some(false);
    }
    None
}

fn plain(it: &Interp<'_>, v: SVal) -> Result<Val> {
    match v {
        SVal::V(v) => Ok(v),
        SVal::Path(p) => Ok(Val::Str(p)),
        SVal::Module { path, .. } => Err(it.code_err(format!(
            "module `{path}` is passed where a value is expected"
        ))),
    }
}

/// Calls `path` with `args` and `kwargs`.
pub(crate) fn call(
    it: &mut Interp<'_>,
    path: &str,
    args: Vec<SVal>,
    kwargs: Vec<(String, SVal)>,
) -> Result<SVal> {
    if path.starts_with("__torch__.") {
        return it.call_function(path, args, kwargs);
    }
    if path == "torch.device" {
        return match args.first() {
            Some(SVal::V(Val::Str(s))) => Ok(SVal::V(Val::Device(s.clone()))),
            _ => Ok(SVal::V(Val::Device("cpu".into()))),
        };
    }
    if path == "torch.format" {
        // Error messages of scripted checks: `"{} != {}".format(a, b)`.
        let mut parts = args.into_iter();
        let mut out = match parts.next() {
            Some(SVal::V(Val::Str(s))) => s,
            _ => String::new(),
        };
        for a in parts {
            let shown = match a {
                SVal::V(Val::Int(i)) => i.to_string(),
                SVal::V(Val::Float(f)) => f.to_string(),
                SVal::V(Val::Str(s)) => s,
                other => format!("{other:?}"),
            };
            out = out.replacen("{}", &shown, 1);
        }
        return Ok(SVal::V(Val::Str(out)));
    }
    if path == "torch.warn" {
        return Ok(SVal::V(Val::None));
    }
    if let Some(name) = path
        .strip_prefix("torch.")
        .or_else(|| path.strip_prefix("ops.aten."))
    {
        return aten(it, name, args, kwargs);
    }
    if let Some(name) = path.strip_prefix("ops.prim.") {
        return prim(it, name, args);
    }
    let first = args.first().cloned();
    match path {
        "annotate" => Ok(args.into_iter().nth(1).unwrap_or(SVal::V(Val::None))),
        "unchecked_cast" => Ok(args.into_iter().last().unwrap_or(SVal::V(Val::None))),
        "uninitialized" => Ok(SVal::V(Val::None)),
        "int" | "float" | "bool" => {
            let v = plain(it, first.unwrap_or(SVal::V(Val::Int(0))))?;
            let x = scalar_of(it, &v).ok_or_else(|| {
                it.code_err(format!("{path}() of a value that is not known at import"))
            })?;
            Ok(SVal::V(match path {
                "int" => Val::Int(x.trunc() as i64),
                "float" => Val::Float(x),
                _ => Val::Bool(x != 0.0),
            }))
        }
        "len" => match first {
            Some(SVal::V(Val::List(l))) => Ok(SVal::V(Val::Int(l.len() as i64))),
            Some(SVal::V(Val::Tensor(t))) => {
                let d = it.graph.value(t).ty.shape.as_fixed().unwrap_or_default();
                Ok(SVal::V(Val::Int(d.first().copied().unwrap_or(0) as i64)))
            }
            _ => Err(it.code_err("len() of something that is not a list or tensor")),
        },
        "range" => {
            let n: Vec<i64> = args
                .iter()
                .map(|a| match a {
                    SVal::V(Val::Int(i)) => Ok(*i),
                    _ => Err(it.code_err("range() of a value that is not a constant int")),
                })
                .collect::<Result<_>>()?;
            let (start, end, step) = match n[..] {
                [e] => (0, e, 1),
                [s, e] => (s, e, 1),
                [s, e, st] if st != 0 => (s, e, st),
                _ => return Err(it.code_err("range() needs 1 to 3 arguments")),
            };
            let count = if step > 0 {
                end.saturating_sub(start).max(0) / step
            } else {
                start.saturating_sub(end).max(0) / step.saturating_neg()
            };
            if count > 1_000_000 {
                return Err(it.code_err("range() is too long to unroll"));
            }
            let items = (0..count)
                .map(|i| Val::Int(start.wrapping_add(i.wrapping_mul(step))))
                .collect();
            Ok(SVal::V(Val::List(items)))
        }
        "getattr" => match (first, args.get(1)) {
            (Some(m @ SVal::Module { .. }), Some(SVal::V(Val::Str(name)))) => {
                let SVal::Module { obj, path } = &m else {
                    return Err(it.code_err("getattr of something that is not a module"));
                };
                it.module_attr(obj, path, name)
            }
            _ => Err(it.code_err("getattr() of something that is not a module")),
        },
        "warnings.warn" | "print" | "torch.warn" => Ok(SVal::V(Val::None)),
        p if p.starts_with("math.") => {
            let v = plain(it, first.unwrap_or(SVal::V(Val::None)))?;
            let x = scalar_of(it, &v)
                .ok_or_else(|| it.code_err(format!("{p}() of a value that is not known")))?;
            let y = match &p[5..] {
                "sqrt" => x.sqrt(),
                "exp" => x.exp(),
                "log" => x.ln(),
                "floor" => return Ok(SVal::V(Val::Int(x.floor() as i64))),
                "ceil" => return Ok(SVal::V(Val::Int(x.ceil() as i64))),
                other => return Err(it.code_err(format!("math.{other} is not supported"))),
            };
            Ok(SVal::V(Val::Float(y)))
        }
        other => Err(it.code_err(format!("`{other}` is not a supported function"))),
    }
}

/// A number known at import: an int/float/bool or a one-element constant tensor.
fn scalar_of(it: &Interp<'_>, v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        Val::Bool(b) => Some(f64::from(u8::from(*b))),
        Val::Tensor(t) => {
            let c = it.graph.const_value(*t)?;
            (c.num_elements() == 1).then(|| c.to_f64_vec()[0])
        }
        _ => None,
    }
}

fn aten(
    it: &mut Interp<'_>,
    name: &str,
    args: Vec<SVal>,
    kwargs: Vec<(String, SVal)>,
) -> Result<SVal> {
    let pos: Vec<Val> = args
        .into_iter()
        .map(|a| plain(it, a))
        .collect::<Result<_>>()?;
    let named: Vec<(String, Val)> = kwargs
        .into_iter()
        .map(|(n, a)| Ok((n, plain(it, a)?)))
        .collect::<Result<_>>()?;
    let has_tensor = pos.iter().chain(named.iter().map(|(_, v)| v)).any(|v| {
        matches!(v, Val::Tensor(_))
            || matches!(v, Val::List(l) if l.iter().any(|x| matches!(x, Val::Tensor(_))))
    });
    if !has_tensor {
        if let Some(v) = scalar_op(it, name, &pos)? {
            return Ok(SVal::V(v));
        }
    }
    let node = it.node_name();
    let file = it.file().to_string();
    let res = build::call_aten(&mut it.graph, &file, &node, name, &pos, &named)?;
    if let Some((_, true)) = ops::lookup(name) {
        if let (Some(Val::Tensor(old)), Some(Val::Tensor(new))) = (pos.first(), res.first()) {
            it.rebind(*old, *new);
        }
    }
    Ok(SVal::V(match res.len() {
        0 => Val::None,
        1 => res.into_iter().next().unwrap_or(Val::None),
        _ => Val::List(res),
    }))
}

fn prim(it: &mut Interp<'_>, name: &str, args: Vec<SVal>) -> Result<SVal> {
    let first = args.first().cloned().unwrap_or(SVal::V(Val::None));
    match name {
        "NumToTensor" => {
            let v = plain(it, first)?;
            let t = match v {
                Val::Int(i) => Tensor::from_i64(vec![], &[i]),
                Val::Float(f) => Tensor::from_f64_as(DType::F64, vec![], &[f]),
                Val::Bool(b) => Tensor::from_f64_as(DType::Bool, vec![], &[f64::from(u8::from(b))]),
                Val::Tensor(t) => return Ok(SVal::V(Val::Tensor(t))),
                other => return Err(it.code_err(format!("NumToTensor of {}", other.kind()))),
            };
            let name = it.node_name();
            Ok(SVal::V(Val::Tensor(it.graph.add_const(name, t))))
        }
        "dtype" => match first {
            SVal::V(Val::Tensor(t)) => {
                let d = it.graph.value(t).ty.dtype;
                let code = tensors::c10_code(d)
                    .ok_or_else(|| it.code_err(format!("dtype {d} has no torch code")))?;
                Ok(SVal::V(Val::Int(code)))
            }
            _ => Err(it.code_err("prim::dtype of something that is not a tensor")),
        },
        "device" => Ok(SVal::V(Val::Device("cpu".into()))),
        "layout" => Ok(SVal::V(Val::Int(0))),
        "unchecked_cast" | "data" => Ok(first),
        "shape" => match first {
            SVal::V(Val::Tensor(t)) => {
                let d = it.graph.value(t).ty.shape.as_fixed().unwrap_or_default();
                Ok(SVal::V(Val::List(
                    d.iter().map(|&n| Val::Int(n as i64)).collect(),
                )))
            }
            _ => Err(it.code_err("prim::shape of something that is not a tensor")),
        },
        "TupleIndex" => match (first, args.get(1)) {
            (SVal::V(Val::List(l)), Some(SVal::V(Val::Int(i)))) => usize::try_from(*i)
                .ok()
                .and_then(|i| l.get(i).cloned())
                .map(SVal::V)
                .ok_or_else(|| it.code_err("TupleIndex out of range")),
            _ => Err(it.code_err("TupleIndex of something that is not a tuple")),
        },
        "min" | "max" => {
            let vals: Vec<Val> = match (args.len(), first) {
                (1, SVal::V(Val::List(l))) => l,
                _ => args
                    .into_iter()
                    .map(|a| plain(it, a))
                    .collect::<Result<_>>()?,
            };
            let nums: Option<Vec<f64>> = vals.iter().map(|v| scalar_of(it, v)).collect();
            let nums = nums.ok_or_else(|| {
                it.code_err(format!("prim::{name} of values not known at import"))
            })?;
            let all_int = vals.iter().all(|v| matches!(v, Val::Int(_)));
            let pick = if name == "min" {
                nums.iter().copied().fold(f64::INFINITY, f64::min)
            } else {
                nums.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            };
            Ok(SVal::V(if all_int {
                Val::Int(pick as i64)
            } else {
                Val::Float(pick)
            }))
        }
        "RaiseException" => Err(it.code_err("the model raises an exception here for these inputs")),
        other => Err(crate::error::PytorchError::UnsupportedOps {
            file: it.file().to_string(),
            ops: vec![crate::error::UnsupportedOp {
                op: format!("ops.prim.{other}"),
                nodes: vec![it.node_name()],
            }],
        }),
    }
}

/// Python arithmetic on two numbers.
fn arith(op: &str, a: &Val, b: &Val) -> Option<Val> {
    let int = |v: &Val| match v {
        Val::Int(i) => Some(*i),
        Val::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    let flt = |v: &Val| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Bool(b) => Some(f64::from(u8::from(*b))),
        Val::Float(f) => Some(*f),
        _ => None,
    };
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        return Some(match op {
            "add" => Val::Int(x.wrapping_add(y)),
            "sub" => Val::Int(x.wrapping_sub(y)),
            "mul" => Val::Int(x.wrapping_mul(y)),
            "div" => Val::Float(x as f64 / y as f64),
            "floordiv" | "floor_divide" => {
                let q = x.checked_div_euclid(y)?;
                let r = x.checked_rem_euclid(y)?;
                Val::Int(q - i64::from(y < 0 && r != 0))
            }
            "remainder" => {
                let r = x.checked_rem(y)?;
                Val::Int(if r != 0 && ((r < 0) != (y < 0)) {
                    r + y
                } else {
                    r
                })
            }
            "pow" if y >= 0 => Val::Int(x.wrapping_pow(y.min(64) as u32)),
            "eq" => Val::Bool(x == y),
            "ne" => Val::Bool(x != y),
            "lt" => Val::Bool(x < y),
            "gt" => Val::Bool(x > y),
            "le" => Val::Bool(x <= y),
            "ge" => Val::Bool(x >= y),
            "min" => Val::Int(x.min(y)),
            "max" => Val::Int(x.max(y)),
            "__and__" => Val::Int(x & y),
            "__or__" => Val::Int(x | y),
            _ => return None,
        });
    }
    let (x, y) = (flt(a)?, flt(b)?);
    Some(match op {
        "add" => Val::Float(x + y),
        "sub" => Val::Float(x - y),
        "mul" => Val::Float(x * y),
        "div" => Val::Float(x / y),
        "floordiv" | "floor_divide" => Val::Float((x / y).floor()),
        "remainder" => Val::Float(x - (x / y).floor() * y),
        "pow" => Val::Float(x.powf(y)),
        "eq" => Val::Bool(x == y),
        "ne" => Val::Bool(x != y),
        "lt" => Val::Bool(x < y),
        "gt" => Val::Bool(x > y),
        "le" => Val::Bool(x <= y),
        "ge" => Val::Bool(x >= y),
        "min" => Val::Float(x.min(y)),
        "max" => Val::Float(x.max(y)),
        _ => return None,
    })
}

/// An aten op applied to numbers (scripted shape arithmetic), or `None` when the call
/// is not one.
fn scalar_op(it: &Interp<'_>, name: &str, args: &[Val]) -> Result<Option<Val>> {
    Ok(match (name, args) {
        ("__is__", [a, b]) => Some(Val::Bool(*a == Val::None && *b == Val::None)),
        ("__isnot__", [a, b]) => Some(Val::Bool(!(*a == Val::None && *b == Val::None))),
        ("__not__", [a]) => scalar_of(it, a).map(|x| Val::Bool(x == 0.0)),
        ("neg", [Val::Int(i)]) => Some(Val::Int(i.wrapping_neg())),
        ("neg", [Val::Float(f)]) => Some(Val::Float(-f)),
        ("floor", [Val::Float(f)]) => Some(Val::Int(f.floor() as i64)),
        ("ceil", [Val::Float(f)]) => Some(Val::Int(f.ceil() as i64)),
        // Lists, strings and None compare by value (`torch.ne(x.size(), [2, 3])`).
        ("eq" | "ne", [a, b])
            if [a, b]
                .iter()
                .any(|v| matches!(v, Val::List(_) | Val::Str(_) | Val::None)) =>
        {
            Some(Val::Bool((a == b) == (name == "eq")))
        }
        ("len", [Val::List(l)]) => Some(Val::Int(l.len() as i64)),
        ("list", [Val::List(l)]) => Some(Val::List(l.clone())),
        ("__getitem__", [Val::List(l), Val::Int(i)]) => {
            let j = if *i < 0 { i + l.len() as i64 } else { *i };
            usize::try_from(j).ok().and_then(|j| l.get(j).cloned())
        }
        ("__contains__", [Val::List(l), x]) => Some(Val::Bool(l.contains(x))),
        ("__range_length", [Val::Int(lo), Val::Int(hi), Val::Int(st)]) if *st != 0 => {
            let n = if *st > 0 {
                hi.saturating_sub(*lo).max(0)
            } else {
                lo.saturating_sub(*hi).max(0)
            };
            let s = st.saturating_abs();
            Some(Val::Int(n.saturating_add(s - 1) / s))
        }
        ("__derive_index", [Val::Int(i), Val::Int(start), Val::Int(st)]) => {
            Some(Val::Int(start.wrapping_add(i.wrapping_mul(*st))))
        }
        (op, [a, b]) => arith(op, a, b),
        _ => None,
    })
}

/// A unary operator of the code (`-x`, `not x`, `~x`).
pub(crate) fn unary(it: &mut Interp<'_>, op: &str, v: SVal) -> Result<SVal> {
    match (op, &v) {
        ("not", _) => Ok(SVal::V(Val::Bool(!it.truth(&v)?))),
        ("+", _) => Ok(v),
        ("-", SVal::V(Val::Int(i))) => Ok(SVal::V(Val::Int(i.wrapping_neg()))),
        ("-", SVal::V(Val::Float(f))) => Ok(SVal::V(Val::Float(-f))),
        ("-", SVal::V(Val::Tensor(_))) => aten(it, "neg", vec![v], Vec::new()),
        ("~", SVal::V(Val::Int(i))) => Ok(SVal::V(Val::Int(!i))),
        ("~", SVal::V(Val::Bool(b))) => Ok(SVal::V(Val::Bool(!b))),
        ("~", SVal::V(Val::Tensor(_))) => aten(it, "logical_not", vec![v], Vec::new()),
        _ => Err(it.code_err(format!("unary `{op}` of an unsupported value"))),
    }
}

/// A binary operator of the code, on numbers or (through aten) tensors.
pub(crate) fn binary(it: &mut Interp<'_>, op: &str, l: SVal, r: SVal) -> Result<SVal> {
    match op {
        "is" | "is not" => {
            let same = match (&l, &r) {
                (SVal::V(Val::None), SVal::V(Val::None)) => true,
                (SVal::V(Val::None), _) | (_, SVal::V(Val::None)) => false,
                _ => l == r,
            };
            return Ok(SVal::V(Val::Bool(same == (op == "is"))));
        }
        "in" | "not in" => {
            let found = match &r {
                SVal::V(Val::List(items)) => matches!(&l, SVal::V(v) if items.contains(v)),
                _ => return Err(it.code_err("`in` on something that is not a list")),
            };
            return Ok(SVal::V(Val::Bool(found == (op == "in"))));
        }
        _ => {}
    }
    let name = match op {
        "+" => "add",
        "-" => "sub",
        "*" => "mul",
        "/" => "div",
        "//" => "floor_divide",
        "%" => "remainder",
        "**" => "pow",
        "@" => "matmul",
        "==" => "eq",
        "!=" => "ne",
        "<" => "lt",
        "<=" => "le",
        ">" => "gt",
        ">=" => "ge",
        "&" => "logical_and",
        "|" => "logical_or",
        "^" => "logical_xor",
        other => return Err(it.code_err(format!("operator `{other}` is not supported"))),
    };
    if let (SVal::V(a), SVal::V(b)) = (&l, &r) {
        if !matches!(a, Val::Tensor(_)) && !matches!(b, Val::Tensor(_)) {
            if let Some(v) = arith(name, a, b) {
                return Ok(SVal::V(v));
            }
            if let ("add", Val::List(x), Val::List(y)) = (name, a, b) {
                return Ok(SVal::V(Val::List([x.clone(), y.clone()].concat())));
            }
        }
    }
    aten(it, name, vec![l, r], Vec::new())
}
