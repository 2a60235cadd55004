//! The text form of a graph: what `neoc inspect --ir` shows, what pass file tests are
//! written in, and what [`crate::parse::parse_graph`] reads back.
//!
//! ```text
//! graph main(%0: f32[1,3,8,8] "x") -> (%4) {
//!   %1 = const f32[4,3,3,3] "w" [0.1, -0.25, ...every value...]
//!   %2 = const f32[4] "b" splat 0.0
//!   %3 = Conv{kernel=[3, 3] strides=[1, 1] pads=[1, 1, 1, 1] dilations=[1, 1] group=1}(%0, %1, %2) : f32[1,4,8,8] "y" @"conv1"
//!   %4 = Relu(%3) : f32[1,4,8,8] "relu1"
//! }
//! ```
//!
//! `{}` ([`fmt::Display`]) prints the complete, exact form: every constant value, floats
//! with the shortest digits that read back to the same bits. `{:#}` prints the same with
//! constants of more than [`SUMMARY_ELEMENTS`] elements elided (`[1.0, 2.0, ... 9404
//! more]`), for people; the parser refuses elided constants.
//!
//! Values are numbered canonically ([`Numbering`]): graph inputs first, then the
//! constants in order of first use, then node outputs in [`Graph::topo_order`]. Because
//! the parser adds nodes in printed order, `print(parse(print(g))) == print(g)` byte for
//! byte, and [`Graph::structurally_equal`] compares graphs under this numbering.
//! The grammar is in `docs/ir.md`.

use crate::dtype::DType;
use crate::graph::{Graph, NodeId, ValueDef, ValueId};
use crate::shape::{Dim, TensorType};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt;

/// Constants with more elements than this are elided by the summary form (`{:#}`).
pub const SUMMARY_ELEMENTS: usize = 16;

/// The canonical numbering of a graph's live values: inputs, then constants in first-use
/// order (node operands in topological order, then graph outputs), then node outputs in
/// topological order. Values nothing refers to (unused constants, outputs of removed
/// nodes) get no number.
#[derive(Debug, Clone)]
pub struct Numbering {
    /// Nodes in printing (topological) order.
    pub nodes: Vec<NodeId>,
    /// Constants in first-use order.
    pub consts: Vec<ValueId>,
    ids: HashMap<ValueId, usize>,
}

impl Numbering {
    pub fn of(g: &Graph) -> Numbering {
        let nodes = g.topo_order();
        let mut ids = HashMap::new();
        for &v in g.inputs() {
            let n = ids.len();
            ids.entry(v).or_insert(n);
        }
        let mut consts = Vec::new();
        let operands = nodes
            .iter()
            .flat_map(|n| g.node(*n).inputs.iter().flatten().copied())
            .chain(g.outputs().iter().copied());
        for v in operands {
            if g.const_value(v).is_some() && !ids.contains_key(&v) {
                ids.insert(v, ids.len());
                consts.push(v);
            }
        }
        for n in &nodes {
            for &v in &g.node(*n).outputs {
                let k = ids.len();
                ids.entry(v).or_insert(k);
            }
        }
        Numbering { nodes, consts, ids }
    }

    /// The canonical number of `v`; `None` for a value that is not live.
    pub fn id(&self, v: ValueId) -> Option<usize> {
        self.ids.get(&v).copied()
    }

    /// `%N`, or `%?R` (R the raw id) for a value that is not live, which only a broken
    /// graph refers to and the parser rejects.
    fn name(&self, v: ValueId) -> String {
        match self.id(v) {
            Some(n) => format!("%{n}"),
            None => format!("%?{}", v.0),
        }
    }
}

/// How much of the constants to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    /// Elide constants with more elements than this (`None`: print every value; only
    /// that form parses).
    pub elide_constants_over: Option<usize>,
}

impl PrintOptions {
    /// Every value: the form that round-trips.
    pub const EXACT: PrintOptions = PrintOptions {
        elide_constants_over: None,
    };
    /// Large constants elided, for people.
    pub const SUMMARY: PrintOptions = PrintOptions {
        elide_constants_over: Some(SUMMARY_ELEMENTS),
    };
}

/// A graph with print options; see [`Graph::display_with`].
#[derive(Debug, Clone, Copy)]
pub struct DisplayGraph<'a> {
    graph: &'a Graph,
    opts: PrintOptions,
}

impl Graph {
    /// The text form with the given options (`{}` on a graph is
    /// `display_with(PrintOptions::EXACT)`, `{:#}` is `display_with(PrintOptions::SUMMARY)`).
    pub fn display_with(&self, opts: PrintOptions) -> DisplayGraph<'_> {
        DisplayGraph { graph: self, opts }
    }

    /// True when the two graphs print the same: same name, inputs, live constants (names
    /// and bytes), nodes (names, ops, operands, output names and types) in canonical order
    /// and outputs, up to renumbering of values. Unused constants and removed nodes'
    /// values do not count.
    pub fn structurally_equal(&self, other: &Graph) -> bool {
        let (na, nb) = (Numbering::of(self), Numbering::of(other));
        let same_value = |a: ValueId, b: ValueId| {
            let (va, vb) = (self.value(a), other.value(b));
            va.name == vb.name && va.ty == vb.ty
        };
        let same_ref = |a: &ValueId, b: &ValueId| na.id(*a).is_some() && na.id(*a) == nb.id(*b);
        self.name == other.name
            && self.inputs().len() == other.inputs().len()
            && self
                .inputs()
                .iter()
                .zip(other.inputs())
                .all(|(a, b)| same_value(*a, *b))
            && na.consts.len() == nb.consts.len()
            && na
                .consts
                .iter()
                .zip(&nb.consts)
                .all(|(a, b)| same_value(*a, *b) && self.const_value(*a) == other.const_value(*b))
            && na.nodes.len() == nb.nodes.len()
            && na.nodes.iter().zip(&nb.nodes).all(|(a, b)| {
                let (x, y) = (self.node(*a), other.node(*b));
                x.name == y.name
                    && x.op == y.op
                    && x.inputs.len() == y.inputs.len()
                    && x.inputs.iter().zip(&y.inputs).all(|(p, q)| match (p, q) {
                        (None, None) => true,
                        (Some(p), Some(q)) => same_ref(p, q),
                        _ => false,
                    })
                    && x.outputs.len() == y.outputs.len()
                    && x.outputs
                        .iter()
                        .zip(&y.outputs)
                        .all(|(p, q)| same_value(*p, *q))
            })
            && self.outputs().len() == other.outputs().len()
            && self
                .outputs()
                .iter()
                .zip(other.outputs())
                .all(|(a, b)| same_ref(a, b))
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts = if f.alternate() {
            PrintOptions::SUMMARY
        } else {
            PrintOptions::EXACT
        };
        fmt::Display::fmt(&self.display_with(opts), f)
    }
}

impl fmt::Display for DisplayGraph<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.graph;
        let num = Numbering::of(g);
        f.write_str("graph ")?;
        write_name(f, &g.name)?;
        f.write_str("(")?;
        for (i, v) in g.inputs().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let val = g.value(*v);
            write!(f, "{}: ", num.name(*v))?;
            write_type(f, &val.ty)?;
            write!(f, " {:?}", val.name)?;
        }
        f.write_str(") -> (")?;
        for (i, v) in g.outputs().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&num.name(*v))?;
        }
        f.write_str(") {\n")?;
        for &v in &num.consts {
            let val = g.value(v);
            if let ValueDef::Const(t) = &val.def {
                write!(f, "  {} = const ", num.name(v))?;
                write_type(f, &val.ty)?;
                write!(f, " {:?} ", val.name)?;
                write_tensor(f, t, self.opts.elide_constants_over)?;
                f.write_str("\n")?;
            }
        }
        for &n in &num.nodes {
            let node = g.node(n);
            f.write_str("  ")?;
            for (i, v) in node.outputs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(&num.name(*v))?;
            }
            write!(f, " = {}(", node.op)?;
            for (i, v) in node.inputs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match v {
                    Some(v) => f.write_str(&num.name(*v))?,
                    None => f.write_str("_")?,
                }
            }
            f.write_str(") :")?;
            for (i, v) in node.outputs.iter().enumerate() {
                f.write_str(if i > 0 { ", " } else { " " })?;
                let val = g.value(*v);
                write_type(f, &val.ty)?;
                write!(f, " {:?}", val.name)?;
            }
            let first = node.outputs.first().map(|v| g.value(*v).name.as_str());
            if first != Some(node.name.as_str()) {
                write!(f, " @{:?}", node.name)?;
            }
            f.write_str("\n")?;
        }
        f.write_str("}\n")
    }
}

/// True for names printed bare: `[A-Za-z_][A-Za-z0-9_.]*`; others are quoted.
pub(crate) fn is_bare_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn write_name(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if is_bare_name(s) {
        f.write_str(s)
    } else {
        write!(f, "{s:?}")
    }
}

/// `f32[1,3,batch]`: as [`TensorType`]'s `Display`, but a symbol that is not a bare name
/// is quoted so that it parses.
fn write_type(f: &mut fmt::Formatter<'_>, t: &TensorType) -> fmt::Result {
    write!(f, "{}[", t.dtype)?;
    for (i, d) in t.shape.0.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        match d {
            Dim::Fixed(n) => write!(f, "{n}")?,
            Dim::Sym(s) => write_name(f, s)?,
        }
    }
    f.write_str("]")
}

/// Writes a constant's data: `splat V` when it has two or more elements, all with the
/// same bytes; otherwise `[v0, v1, ...]` in row-major order (elided past `limit`).
/// See [`write_element`] for the element syntax.
fn write_tensor(f: &mut fmt::Formatter<'_>, t: &Tensor, limit: Option<usize>) -> fmt::Result {
    let es = t.dtype.size_bytes();
    let bytes = t.bytes();
    let n = bytes.len() / es.max(1);
    if n >= 2 && bytes.chunks_exact(es).all(|c| c == &bytes[..es]) {
        f.write_str("splat ")?;
        return write_element(f, t.dtype, &bytes[..es]);
    }
    let shown = limit.map_or(n, |l| n.min(l));
    f.write_str("[")?;
    for (i, c) in bytes.chunks_exact(es).take(shown).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_element(f, t.dtype, c)?;
    }
    if shown < n {
        write!(f, ", ... {} more", n - shown)?;
    }
    f.write_str("]")
}

/// One element, exactly: integers in decimal; `bool` as `true`/`false` (any other byte
/// as its number); floats with Rust's shortest round-trip digits (`{:?}`: `0.1`, `1e-7`,
/// `-0.0`, `inf`, `-inf`), `f16`/`bf16` through `f32` (exact); the canonical quiet NaN
/// of the type as `NaN` and any other NaN as `NaN(0xBITS)`.
pub(crate) fn write_element(f: &mut fmt::Formatter<'_>, dtype: DType, b: &[u8]) -> fmt::Result {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    let nan = |f: &mut fmt::Formatter<'_>, bits: u64, canonical: u64, hexw: usize| {
        if bits == canonical {
            f.write_str("NaN")
        } else {
            write!(f, "NaN(0x{bits:0hexw$x})")
        }
    };
    match dtype {
        DType::F32 => {
            let v = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            if v.is_nan() {
                nan(f, u64::from(v.to_bits()), u64::from(f32::NAN.to_bits()), 8)
            } else {
                write!(f, "{v:?}")
            }
        }
        DType::F64 => {
            let v = f64::from_le_bytes(w);
            if v.is_nan() {
                nan(f, v.to_bits(), f64::NAN.to_bits(), 16)
            } else {
                write!(f, "{v:?}")
            }
        }
        DType::F16 => {
            let v = half::f16::from_le_bytes([w[0], w[1]]);
            if v.is_nan() {
                nan(
                    f,
                    u64::from(v.to_bits()),
                    u64::from(half::f16::NAN.to_bits()),
                    4,
                )
            } else {
                write!(f, "{:?}", v.to_f32())
            }
        }
        DType::BF16 => {
            let v = half::bf16::from_le_bytes([w[0], w[1]]);
            if v.is_nan() {
                nan(
                    f,
                    u64::from(v.to_bits()),
                    u64::from(half::bf16::NAN.to_bits()),
                    4,
                )
            } else {
                write!(f, "{:?}", v.to_f32())
            }
        }
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
            let Some(format) = dtype.minifloat() else {
                return write!(f, "{}", w[0]);
            };
            let v = crate::minifloat::decode(format, w[0]);
            if v.is_nan() {
                nan(f, u64::from(w[0]), u64::from(format.nan_code(0)), 2)
            } else {
                write!(f, "{v:?}")
            }
        }
        DType::I8 | DType::I4 => write!(f, "{}", w[0] as i8),
        DType::U8 | DType::U4 => write!(f, "{}", w[0]),
        DType::I16 => write!(f, "{}", i16::from_le_bytes([w[0], w[1]])),
        DType::U16 => write!(f, "{}", u16::from_le_bytes([w[0], w[1]])),
        DType::I32 => write!(f, "{}", i32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        DType::U32 => write!(f, "{}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        DType::I64 => write!(f, "{}", i64::from_le_bytes(w)),
        DType::U64 => write!(f, "{}", u64::from_le_bytes(w)),
        DType::Bool => match w[0] {
            0 => f.write_str("false"),
            1 => f.write_str("true"),
            x => write!(f, "{x}"),
        },
    }
}
