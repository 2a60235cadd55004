//! Operators: `Name{key=value ...}` attribute blocks, the ops built from them (one arm
//! per op family, with ONNX defaults), and elementwise programs.

use super::lexer::Tok;
use super::{PResult, Parser};
use crate::dtype::DType;
use crate::ops::{
    ArgReduce, BatchNorm, BinaryOp, Cast, Concat, Conv, ElemInstr, ElemProgram, Expand, Fused,
    Gather, Gemm, GlobalPool, LayerNorm, Lrn, Op, Pad, PadMode, Pool, PoolKind, Reduce, ReduceKind,
    Reshape, Resize, Shape, Slice, SliceAxis, Softmax, Transpose, UnaryOp,
};

#[derive(Debug, Clone)]
pub(super) enum AttrVal<'a> {
    Scalar(&'a str, usize),
    List(Vec<AttrVal<'a>>, usize),
}

impl AttrVal<'_> {
    fn pos(&self) -> usize {
        match self {
            AttrVal::Scalar(_, p) | AttrVal::List(_, p) => *p,
        }
    }
}

/// The `key=value` attributes of one op, consumed by the op's builder; whatever is left
/// over is an unknown attribute.
#[derive(Debug)]
pub(super) struct Attrs<'a> {
    op: &'a str,
    /// Offset of the op name, for "missing attribute" errors.
    pos: usize,
    entries: Vec<(&'a str, usize, AttrVal<'a>)>,
}

impl<'a> Parser<'a> {
    /// `Name`, `Name{key=value ...}`, `Elementwise{[program]}` or
    /// `Fused{anchor_inputs=N Anchor{...} -> [program]}`.
    pub(super) fn op(&mut self) -> PResult<Op> {
        let (name, at) = self.ident("an operator")?;
        match name {
            "Elementwise" => {
                self.expect('{')?;
                let p = self.program()?;
                self.expect('}')?;
                return Ok(Op::Elementwise(p));
            }
            "Fused" => {
                self.expect('{')?;
                self.keyword("anchor_inputs")?;
                self.expect('=')?;
                let anchor_inputs = self.number("the anchor's input count")?;
                let anchor = self.op()?;
                self.expect_arrow()?;
                let epilogue = self.program()?;
                self.expect('}')?;
                return Ok(Op::Fused(Fused {
                    anchor: Box::new(anchor),
                    anchor_inputs,
                    epilogue,
                }));
            }
            _ => {}
        }
        let mut attrs = self.attrs(name, at)?;
        let op = self.build_op(&mut attrs)?;
        self.finish(attrs)?;
        Ok(op)
    }

    /// An optional `{key=value ...}` block.
    pub(super) fn attrs(&mut self, op: &'a str, pos: usize) -> PResult<Attrs<'a>> {
        let mut attrs = Attrs {
            op,
            pos,
            entries: Vec::new(),
        };
        if !self.eat('{')? {
            return Ok(attrs);
        }
        while !self.eat('}')? {
            let (key, at) = self.ident("an attribute name or `}`")?;
            if attrs.entries.iter().any(|e| e.0 == key) {
                return Err(self.err_at(at, format!("attribute `{key}` is given twice")));
            }
            self.expect('=')?;
            let v = self.attr_value()?;
            attrs.entries.push((key, at, v));
        }
        Ok(attrs)
    }

    pub(super) fn attr_value(&mut self) -> PResult<AttrVal<'a>> {
        match self.peek()? {
            (Tok::Num(s) | Tok::Ident(s), at) => {
                self.bump()?;
                Ok(AttrVal::Scalar(s, at))
            }
            (Tok::Punct('['), at) => {
                self.bump()?;
                let mut items = Vec::new();
                if !self.eat(']')? {
                    loop {
                        items.push(self.attr_value()?);
                        if self.eat(']')? {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(AttrVal::List(items, at))
            }
            _ => self.expected("an attribute value"),
        }
    }

    pub(super) fn finish(&self, attrs: Attrs<'_>) -> PResult<()> {
        match attrs.entries.first() {
            Some((key, at, _)) => {
                Err(self.err_at(*at, format!("unknown attribute `{key}` for {}", attrs.op)))
            }
            None => Ok(()),
        }
    }

    /// Removes attribute `key` and converts it; `None` when absent.
    pub(super) fn take<T>(
        &self,
        attrs: &mut Attrs<'a>,
        key: &str,
        conv: impl Fn(&Self, &AttrVal<'a>) -> PResult<T>,
    ) -> PResult<Option<T>> {
        match attrs.entries.iter().position(|e| e.0 == key) {
            Some(i) => {
                let (_, _, v) = attrs.entries.remove(i);
                conv(self, &v).map(Some)
            }
            None => Ok(None),
        }
    }

    pub(super) fn required<T>(
        &self,
        attrs: &mut Attrs<'a>,
        key: &str,
        conv: impl Fn(&Self, &AttrVal<'a>) -> PResult<T>,
    ) -> PResult<T> {
        match self.take(attrs, key, conv)? {
            Some(v) => Ok(v),
            None => Err(self.err_at(attrs.pos, format!("{} needs attribute `{key}`", attrs.op))),
        }
    }

    pub(super) fn scalar<T: std::str::FromStr>(&self, v: &AttrVal<'_>, what: &str) -> PResult<T> {
        match v {
            AttrVal::Scalar(s, at) => s
                .parse()
                .map_err(|_| self.err_at(*at, format!("expected {what}, found `{s}`"))),
            AttrVal::List(_, at) => Err(self.err_at(*at, format!("expected {what}, found a list"))),
        }
    }

    pub(super) fn list<T: std::str::FromStr>(
        &self,
        v: &AttrVal<'_>,
        what: &str,
    ) -> PResult<Vec<T>> {
        match v {
            AttrVal::List(items, _) => items.iter().map(|i| self.scalar(i, what)).collect(),
            AttrVal::Scalar(s, at) => Err(self.err_at(
                *at,
                format!("expected a list of {what} (`[...]`), found `{s}`"),
            )),
        }
    }

    pub(super) fn u64s(&self, v: &AttrVal<'_>) -> PResult<Vec<u64>> {
        self.list(v, "non-negative integers")
    }
    pub(super) fn i64s(&self, v: &AttrVal<'_>) -> PResult<Vec<i64>> {
        self.list(v, "integers")
    }
    pub(super) fn usizes(&self, v: &AttrVal<'_>) -> PResult<Vec<usize>> {
        self.list(v, "non-negative integers")
    }
    pub(super) fn uint<T: std::str::FromStr>(&self, v: &AttrVal<'_>) -> PResult<T> {
        self.scalar(v, "a non-negative integer")
    }
    pub(super) fn float(&self, v: &AttrVal<'_>) -> PResult<f32> {
        self.scalar(v, "a number")
    }
    pub(super) fn boolean(&self, v: &AttrVal<'_>) -> PResult<bool> {
        self.scalar(v, "`true` or `false`")
    }
    pub(super) fn pad_mode(&self, v: &AttrVal<'_>) -> PResult<PadMode> {
        let mode = match v {
            AttrVal::Scalar(s, _) => PadMode::from_name(s),
            AttrVal::List(..) => None,
        };
        mode.ok_or_else(|| {
            self.err_at(
                v.pos(),
                "expected a pad mode (`constant`, `reflect`, `edge`, `wrap`)",
            )
        })
    }
    pub(super) fn dtype(&self, v: &AttrVal<'_>) -> PResult<DType> {
        let name = match v {
            AttrVal::Scalar(s, _) => DType::from_name(s),
            AttrVal::List(..) => None,
        };
        name.ok_or_else(|| self.err_at(v.pos(), "expected an element type (`f32`, `i64`, ...)"))
    }

    /// The op named `attrs.op` from its attributes (ONNX defaults where ONNX has them).
    /// A new operator gets an arm here and its attributes in `Op`'s `Display`.
    pub(super) fn build_op(&self, a: &mut Attrs<'a>) -> PResult<Op> {
        if let Some(u) = self.unary(a)? {
            return Ok(Op::Unary(u));
        }
        if let Some(b) = binary(a.op) {
            return Ok(Op::Binary(b));
        }
        let op = match a.op {
            "Conv" | "BlockedConv" | "QConv" => {
                let kernel = self.required(a, "kernel", Self::u64s)?;
                let k = kernel.len();
                let conv = Conv {
                    strides: self.take(a, "strides", Self::u64s)?.unwrap_or(vec![1; k]),
                    pads: self.take(a, "pads", Self::u64s)?.unwrap_or(vec![0; 2 * k]),
                    dilations: self.take(a, "dilations", Self::u64s)?.unwrap_or(vec![1; k]),
                    group: self.take(a, "group", Self::uint)?.unwrap_or(1),
                    kernel,
                };
                if a.op == "Conv" {
                    Op::Conv(conv)
                } else if a.op == "QConv" {
                    Op::QConv(crate::ops::QConv {
                        conv,
                        x_zero: self.required(a, "x_zero", |p, v| p.scalar(v, "an integer"))?,
                        out: self.required(a, "out", Self::dtype)?,
                        y_zero: self
                            .take(a, "y_zero", |p, v| p.scalar(v, "an integer"))?
                            .unwrap_or(0),
                        y_min: self
                            .take(a, "y_min", |p, v| p.scalar(v, "an integer"))?
                            .unwrap_or(0),
                        y_max: self
                            .take(a, "y_max", |p, v| p.scalar(v, "an integer"))?
                            .unwrap_or(0),
                        res_zero: self
                            .take(a, "res_zero", |p, v| p.scalar(v, "an integer"))?
                            .unwrap_or(0),
                        res_scale: self.take(a, "res_scale", Self::float)?.unwrap_or(0.0),
                    })
                } else {
                    Op::BlockedConv(crate::ops::BlockedConv {
                        conv,
                        block: self.required(a, "block", Self::uint)?,
                    })
                }
            }
            "GridSample" => {
                use crate::ops::{GridMode, GridPadding};
                let pos = a.pos;
                let word = |p: &Self, v: &AttrVal<'a>| p.scalar::<String>(v, "a name");
                let mode = match self.required(a, "mode", word)?.as_str() {
                    "nearest" => GridMode::Nearest,
                    "linear" => GridMode::Linear,
                    "cubic" => GridMode::Cubic,
                    m => return Err(self.err_at(pos, format!("unknown grid mode `{m}`"))),
                };
                let padding = match self.required(a, "padding", word)?.as_str() {
                    "zeros" => GridPadding::Zeros,
                    "border" => GridPadding::Border,
                    "reflection" => GridPadding::Reflection,
                    m => return Err(self.err_at(pos, format!("unknown grid padding `{m}`"))),
                };
                Op::GridSample(crate::ops::GridSample {
                    mode,
                    padding,
                    align_corners: self.required(a, "align_corners", Self::boolean)?,
                })
            }
            "TopK" => Op::TopK(crate::ops::TopK {
                axis: self.required(a, "axis", Self::uint)?,
                k: self.required(a, "k", Self::uint)?,
                largest: self.required(a, "largest", Self::boolean)?,
            }),
            "GatherND" => Op::GatherNd(crate::ops::GatherNd {
                batch_dims: self.take(a, "batch_dims", Self::uint)?.unwrap_or(0),
            }),
            "ScatterND" | "ScatterElements" => {
                let pos = a.pos;
                let word = |p: &Self, v: &AttrVal<'a>| p.scalar::<String>(v, "a name");
                let name = self.required(a, "reduction", word)?;
                let Some(reduction) = crate::ops::ScatterReduction::from_name(&name) else {
                    return Err(self.err_at(pos, format!("unknown scatter reduction `{name}`")));
                };
                if a.op == "ScatterND" {
                    Op::ScatterNd(crate::ops::ScatterNd { reduction })
                } else {
                    Op::ScatterElements(crate::ops::ScatterElements {
                        axis: self.required(a, "axis", Self::uint)?,
                        reduction,
                    })
                }
            }
            "ConvTranspose" => {
                let kernel = self.required(a, "kernel", Self::u64s)?;
                let k = kernel.len();
                Op::ConvTranspose(crate::ops::ConvTranspose {
                    strides: self.take(a, "strides", Self::u64s)?.unwrap_or(vec![1; k]),
                    pads: self.take(a, "pads", Self::i64s)?.unwrap_or(vec![0; 2 * k]),
                    dilations: self.take(a, "dilations", Self::u64s)?.unwrap_or(vec![1; k]),
                    output_padding: self
                        .take(a, "output_padding", Self::u64s)?
                        .unwrap_or(vec![0; k]),
                    group: self.take(a, "group", Self::uint)?.unwrap_or(1),
                    kernel,
                })
            }
            "ToBlocked" | "FromBlocked" => {
                let b = crate::ops::Blocking {
                    block: self.required(a, "block", Self::uint)?,
                };
                if a.op == "ToBlocked" {
                    Op::ToBlocked(b)
                } else {
                    Op::FromBlocked(b)
                }
            }
            "MaxPool" | "AveragePool" => {
                let kind = if a.op == "MaxPool" {
                    PoolKind::Max
                } else {
                    PoolKind::Avg {
                        count_include_pad: self
                            .take(a, "count_include_pad", Self::boolean)?
                            .unwrap_or(false),
                    }
                };
                let kernel = self.required(a, "kernel", Self::u64s)?;
                let k = kernel.len();
                Op::Pool(Pool {
                    kind,
                    strides: self.take(a, "strides", Self::u64s)?.unwrap_or(vec![1; k]),
                    pads: self.take(a, "pads", Self::u64s)?.unwrap_or(vec![0; 2 * k]),
                    dilations: self.take(a, "dilations", Self::u64s)?.unwrap_or(vec![1; k]),
                    ceil_mode: self.take(a, "ceil_mode", Self::boolean)?.unwrap_or(false),
                    kernel,
                })
            }
            "GlobalMaxPool" => Op::GlobalPool(GlobalPool {
                kind: PoolKind::Max,
            }),
            "GlobalAveragePool" => Op::GlobalPool(GlobalPool {
                kind: PoolKind::Avg {
                    count_include_pad: self
                        .take(a, "count_include_pad", Self::boolean)?
                        .unwrap_or(false),
                },
            }),
            "Gemm" => Op::Gemm(Gemm {
                alpha: self.take(a, "alpha", Self::float)?.unwrap_or(1.0),
                beta: self.take(a, "beta", Self::float)?.unwrap_or(1.0),
                trans_a: self.take(a, "trans_a", Self::boolean)?.unwrap_or(false),
                trans_b: self.take(a, "trans_b", Self::boolean)?.unwrap_or(false),
            }),
            "MatMul" => Op::MatMul,
            "DynamicQuantizeLinear" => Op::DynamicQuantize,
            "BatchNormalization" => Op::BatchNorm(BatchNorm {
                epsilon: self.take(a, "epsilon", Self::float)?.unwrap_or(1e-5),
            }),
            "Softmax" | "LogSoftmax" => Op::Softmax(Softmax {
                log: a.op == "LogSoftmax",
                axis: self.required(a, "axis", Self::uint)?,
            }),
            "Reshape" => Op::Reshape(Reshape {
                shape: self.required(a, "shape", Self::u64s)?,
            }),
            "Transpose" => Op::Transpose(Transpose {
                perm: self.required(a, "perm", Self::usizes)?,
            }),
            "Concat" => Op::Concat(Concat {
                axis: self.required(a, "axis", Self::uint)?,
            }),
            "Gather" => Op::Gather(Gather {
                axis: self.required(a, "axis", Self::uint)?,
            }),
            "CumSum" => Op::CumSum(crate::ops::CumSum {
                axis: self.required(a, "axis", Self::uint)?,
                exclusive: self.required(a, "exclusive", Self::boolean)?,
                reverse: self.required(a, "reverse", Self::boolean)?,
            }),
            "GatherElements" => Op::GatherElements(crate::ops::GatherElements {
                axis: self.required(a, "axis", Self::uint)?,
            }),
            "Slice" => {
                let axes = self.required(a, "axes", Self::usizes)?;
                let starts = self.required(a, "starts", Self::i64s)?;
                let ends = self.required(a, "ends", Self::i64s)?;
                let steps = self
                    .take(a, "steps", Self::i64s)?
                    .unwrap_or(vec![1; axes.len()]);
                if starts.len() != axes.len()
                    || ends.len() != axes.len()
                    || steps.len() != axes.len()
                {
                    return Err(
                        self.err_at(a.pos, "Slice needs as many starts, ends and steps as axes")
                    );
                }
                Op::Slice(Slice {
                    axes: (0..axes.len())
                        .map(|i| SliceAxis {
                            axis: axes[i],
                            start: starts[i],
                            end: ends[i],
                            step: steps[i],
                        })
                        .collect(),
                })
            }
            "Shape" => Op::Shape(Shape {
                start: self.take(a, "start", Self::uint)?.unwrap_or(0),
                end: self.required(a, "end", Self::uint)?,
            }),
            "Cast" => Op::Cast(Cast {
                to: self.required(a, "to", Self::dtype)?,
            }),
            "Identity" => Op::Identity,
            "Pad" => Op::Pad(Pad {
                pads: self.required(a, "pads", Self::i64s)?,
                mode: self
                    .take(a, "mode", Self::pad_mode)?
                    .unwrap_or(PadMode::Constant),
                value: self.take(a, "value", Self::float)?.unwrap_or(0.0),
            }),
            "Where" => Op::Where,
            "Expand" => Op::Expand(Expand {
                shape: self.required(a, "shape", Self::u64s)?,
            }),
            "Resize" => {
                use crate::ops::resize::{CoordMode, NearestMode, ResizeMode};
                let name = |p: &Self, v: &AttrVal<'a>| p.scalar::<String>(v, "a name");
                let floats = |p: &Self, v: &AttrVal<'a>| p.list::<f32>(v, "numbers");
                let doubles = |p: &Self, v: &AttrVal<'a>| p.list::<f64>(v, "numbers");
                let pos = a.pos;
                let mode = self.required(a, "mode", name)?;
                let mode = match mode.as_str() {
                    "linear" => ResizeMode::Linear,
                    "cubic" => ResizeMode::Cubic {
                        a: self.required(a, "cubic_a", Self::float)?,
                    },
                    "nearest" => {
                        let m = self.required(a, "nearest", name)?;
                        ResizeMode::Nearest(NearestMode::from_name(&m).ok_or_else(|| {
                            self.err_at(pos, format!("unknown nearest mode `{m}`"))
                        })?)
                    }
                    other => return Err(self.err_at(pos, format!("unknown resize mode `{other}`"))),
                };
                let coord = self.required(a, "coord", name)?;
                Op::Resize(Resize {
                    sizes: self.required(a, "sizes", Self::u64s)?,
                    scales: self.required(a, "scales", doubles)?,
                    roi: self.take(a, "roi", floats)?.unwrap_or_default(),
                    mode,
                    coord: CoordMode::from_name(&coord).ok_or_else(|| {
                        self.err_at(pos, format!("unknown coordinate mode `{coord}`"))
                    })?,
                    antialias: self.required(a, "antialias", Self::boolean)?,
                    exclude_outside: self.required(a, "exclude_outside", Self::boolean)?,
                    extrapolation: self.required(a, "extrapolation", Self::float)?,
                })
            }
            "LRN" => Op::Lrn(Lrn {
                size: self.required::<u64>(a, "size", Self::uint)?,
                alpha: self.required(a, "alpha", Self::float)?,
                beta: self.required(a, "beta", Self::float)?,
                bias: self.required(a, "bias", Self::float)?,
            }),
            "LayerNormalization" => Op::LayerNorm(LayerNorm {
                axis: self.required(a, "axis", Self::uint)?,
                epsilon: self.take(a, "epsilon", Self::float)?.unwrap_or(1e-5),
            }),
            "ArgMax" | "ArgMin" => Op::ArgReduce(ArgReduce {
                max: a.op == "ArgMax",
                axis: self.required(a, "axis", Self::uint)?,
                keepdims: self.take(a, "keepdims", Self::boolean)?.unwrap_or(true),
                last: self.take(a, "last", Self::boolean)?.unwrap_or(false),
            }),
            other => match ReduceKind::from_name(other) {
                Some(kind) => Op::Reduce(Reduce {
                    kind,
                    axes: self.take(a, "axes", Self::usizes)?.unwrap_or_default(),
                    keepdims: self.take(a, "keepdims", Self::boolean)?.unwrap_or(true),
                }),
                None => return Err(self.err_at(a.pos, format!("unknown operator `{other}`"))),
            },
        };
        Ok(op)
    }

    /// The unary function named `a.op`, or `None` when it is not one.
    pub(super) fn unary(&self, a: &mut Attrs<'a>) -> PResult<Option<UnaryOp>> {
        let u = match a.op {
            "Relu" => UnaryOp::Relu,
            "LeakyRelu" => UnaryOp::LeakyRelu {
                alpha: self.take(a, "alpha", Self::float)?.unwrap_or(0.01),
            },
            "Sigmoid" => UnaryOp::Sigmoid,
            "HardSigmoid" => UnaryOp::HardSigmoid {
                alpha: self.take(a, "alpha", Self::float)?.unwrap_or(0.2),
                beta: self.take(a, "beta", Self::float)?.unwrap_or(0.5),
            },
            "HardSwish" => UnaryOp::HardSwish,
            "Elu" => UnaryOp::Elu {
                alpha: self.take(a, "alpha", Self::float)?.unwrap_or(1.0),
            },
            "Tanh" => UnaryOp::Tanh,
            "Clip" => UnaryOp::Clip {
                min: self
                    .take(a, "min", Self::float)?
                    .unwrap_or(f32::NEG_INFINITY),
                max: self.take(a, "max", Self::float)?.unwrap_or(f32::INFINITY),
            },
            "Exp" => UnaryOp::Exp,
            "Log" => UnaryOp::Log,
            "Sqrt" => UnaryOp::Sqrt,
            "Reciprocal" => UnaryOp::Reciprocal,
            "Abs" => UnaryOp::Abs,
            "Neg" => UnaryOp::Neg,
            "Erf" => UnaryOp::Erf,
            "Floor" => UnaryOp::Floor,
            "Ceil" => UnaryOp::Ceil,
            "Round" => UnaryOp::Round,
            "BitwiseNot" => UnaryOp::BitNot,
            name if crate::ops::elementwise::TrigFn::from_name(name).is_some() => UnaryOp::Trig(
                crate::ops::elementwise::TrigFn::from_name(name)
                    .unwrap_or(crate::ops::elementwise::TrigFn::Sin),
            ),
            "Softplus" => UnaryOp::Softplus,
            "Gelu" => UnaryOp::Gelu {
                tanh: self.take(a, "tanh", Self::boolean)?.unwrap_or(false),
            },
            _ => return Ok(None),
        };
        Ok(Some(u))
    }

    /// `[in0; 0.5; Mul($0, $1); Relu{...}($2)]`
    pub(super) fn program(&mut self) -> PResult<ElemProgram> {
        self.expect('[')?;
        let mut instrs = Vec::new();
        loop {
            let (t, at) = self.peek()?;
            let instr = match t {
                Tok::Num(_) | Tok::Ident("inf" | "-inf" | "NaN" | "-NaN") => {
                    ElemInstr::Const(self.number("a constant")?)
                }
                Tok::Ident(s) if s.starts_with("in") && s[2..].parse::<usize>().is_ok() => {
                    self.bump()?;
                    ElemInstr::Input(s[2..].parse().unwrap_or(0))
                }
                Tok::Ident(name) => {
                    self.bump()?;
                    if let Some(b) = binary(name) {
                        self.expect('(')?;
                        let x = self.operand()?;
                        self.expect(',')?;
                        let y = self.operand()?;
                        self.expect(')')?;
                        ElemInstr::Binary(b, x, y)
                    } else {
                        let mut attrs = self.attrs(name, at)?;
                        let Some(u) = self.unary(&mut attrs)? else {
                            return Err(self.err_at(
                                at,
                                format!("expected an elementwise function, found `{name}`"),
                            ));
                        };
                        self.finish(attrs)?;
                        self.expect('(')?;
                        let x = self.operand()?;
                        self.expect(')')?;
                        ElemInstr::Unary(u, x)
                    }
                }
                _ => return self.expected("an instruction (`inN`, a number or a function)"),
            };
            let n = instrs.len();
            let bad = match instr {
                ElemInstr::Unary(_, x) => x >= n,
                ElemInstr::Binary(_, x, y) => x >= n || y >= n,
                _ => false,
            };
            if bad {
                return Err(self.err_at(
                    at,
                    format!("instruction ${n} may only use earlier instructions"),
                ));
            }
            instrs.push(instr);
            if self.eat(']')? {
                break;
            }
            self.expect(';')?;
        }
        Ok(ElemProgram { instrs })
    }

    /// `$N`
    pub(super) fn operand(&mut self) -> PResult<usize> {
        self.expect('$')?;
        self.number("an instruction number")
    }
}

/// The binary function named `name`.
fn binary(name: &str) -> Option<BinaryOp> {
    BinaryOp::ALL.into_iter().find(|b| b.name() == name)
}
