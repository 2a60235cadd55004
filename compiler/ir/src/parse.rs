//! Reads the text form that [`crate::print`] writes back into a [`Graph`].
//!
//! The graph is rebuilt through the ordinary builder ([`Graph::add_input`],
//! [`Graph::add_const`], [`Graph::add_node_unfolded`]), so shape inference runs again and
//! each `: type` annotation is checked against the inferred type. Nodes are never folded:
//! the graph comes back exactly as written. Value names (`%7`, `%x`) are local to the text;
//! the parsed graph numbers values afresh, and prints with the canonical numbering.
//!
//! Attributes may be written in any order and most have their ONNX defaults, so that
//! hand-written test graphs stay short; the printer always writes all of them. The
//! grammar is in `docs/ir.md`. Every error names the line and column and what was
//! expected there.

use crate::dtype::DType;
use crate::graph::{Graph, ValueId};
use crate::ops::{
    ArgReduce, BatchNorm, BinaryOp, Cast, Concat, Conv, ElemInstr, ElemProgram, Expand, Fused,
    Gather, Gemm, GlobalPool, LayerNorm, Op, Pad, PadMode, Pool, PoolKind, Reduce, ReduceKind,
    Reshape, Shape, Slice, SliceAxis, Softmax, Transpose, UnaryOp,
};
use crate::shape::{checked_elements, Dim, Shape as IrShape, TensorType};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Bad input: text that is not a well-formed, well-typed graph. `line` and `column`
/// (both from 1; columns count characters) locate the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    /// What was expected and what was found, or why the construct is invalid.
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

/// Parses one graph (the whole of `text`, up to optional trailing whitespace and `//`
/// comments).
pub fn parse_graph(text: &str) -> Result<Graph, ParseError> {
    Parser::new(text).graph()
}

/// Largest constant a `splat` may expand to.
const MAX_CONST_BYTES: u64 = 1 << 32;

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_.]*`, or `-` followed by one (`-inf`).
    Ident(&'a str),
    /// A number: `-`? digit, then letters, digits, `_`, `.`, and a sign after an exponent.
    Num(&'a str),
    /// `%name`, without the `%`.
    Value(&'a str),
    Str(String),
    Punct(char),
    Arrow,
    Ellipsis,
    Eof,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Num(s) => format!("`{s}`"),
            Tok::Value(s) => format!("`%{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Arrow => "`->`".into(),
            Tok::Ellipsis => "`...`".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
type Spanned<'a> = (Tok<'a>, usize);

/// An attribute value: a scalar token or a bracketed list, with its offset.
#[derive(Debug, Clone)]
enum AttrVal<'a> {
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
struct Attrs<'a> {
    op: &'a str,
    /// Offset of the op name, for "missing attribute" errors.
    pos: usize,
    entries: Vec<(&'a str, usize, AttrVal<'a>)>,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<(Spanned<'a>, usize)>,
    values: HashMap<&'a str, ValueId>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            peeked: None,
            values: HashMap::new(),
        }
    }

    // ---- errors -------------------------------------------------------------------

    fn err_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ParseError {
            line,
            column: before[line_start..].chars().count() + 1,
            message: message.into(),
        }
    }

    fn expected<T>(&mut self, what: &str) -> PResult<T> {
        let (t, p) = self.peek()?;
        Err(self.err_at(p, format!("expected {what}, found {}", t.describe())))
    }

    // ---- lexing -------------------------------------------------------------------

    fn skip_space(&self, mut i: usize) -> usize {
        let b = self.src.as_bytes();
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if b[i..].starts_with(b"//") {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            } else {
                return i;
            }
        }
    }

    /// Lexes the token at or after `i`: (token, start, end).
    fn lex(&self, i: usize) -> PResult<(Tok<'a>, usize, usize)> {
        let src = self.src;
        let b = src.as_bytes();
        let start = self.skip_space(i);
        let Some(&c) = b.get(start) else {
            return Ok((Tok::Eof, start, start));
        };
        let word = |from: usize| {
            let mut j = from;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            j
        };
        let number = |from: usize| {
            let hex = b[from..].starts_with(b"0x");
            let mut j = from;
            while j < b.len() {
                let ok = b[j].is_ascii_alphanumeric()
                    || b[j] == b'_'
                    || b[j] == b'.'
                    || (!hex && (b[j] == b'+' || b[j] == b'-') && matches!(b[j - 1], b'e' | b'E'));
                if !ok {
                    break;
                }
                j += 1;
            }
            j
        };
        let next = b.get(start + 1).copied();
        let tok = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let e = word(start);
                (Tok::Ident(&src[start..e]), start, e)
            }
            b'0'..=b'9' => {
                let e = number(start);
                (Tok::Num(&src[start..e]), start, e)
            }
            b'-' => match next {
                Some(b'>') => (Tok::Arrow, start, start + 2),
                Some(d) if d.is_ascii_digit() => {
                    let e = number(start + 1);
                    (Tok::Num(&src[start..e]), start, e)
                }
                Some(d) if d.is_ascii_alphabetic() => {
                    let e = word(start + 1);
                    (Tok::Ident(&src[start..e]), start, e)
                }
                _ => return Err(self.err_at(start, "unexpected character `-`")),
            },
            b'%' => {
                let mut e = start + 1;
                while e < b.len()
                    && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'_' | b'.' | b'?'))
                {
                    e += 1;
                }
                if e == start + 1 {
                    return Err(self.err_at(start, "expected a value name after `%`"));
                }
                (Tok::Value(&src[start + 1..e]), start, e)
            }
            b'"' => {
                let (s, e) = self.string(start)?;
                (Tok::Str(s), start, e)
            }
            b'.' if b[start..].starts_with(b"...") => (Tok::Ellipsis, start, start + 3),
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b':' | b'=' | b';' | b'@' | b'$' => {
                (Tok::Punct(c as char), start, start + 1)
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(self.err_at(start, format!("unexpected character {ch:?}")));
            }
        };
        Ok(tok)
    }

    /// A string literal starting at `start` (the opening quote), with the escapes Rust's
    /// `{:?}` writes: `\" \\ \n \r \t \0 \' \u{HEX}`.
    fn string(&self, start: usize) -> PResult<(String, usize)> {
        let mut out = String::new();
        let mut it = self.src[start + 1..].char_indices();
        while let Some((i, c)) = it.next() {
            let at = start + 1 + i;
            match c {
                '"' => return Ok((out, at + 1)),
                '\\' => {
                    let Some((_, e)) = it.next() else { break };
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '\'' => out.push('\''),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        'u' => {
                            let rest = &self.src[at + 2..];
                            let ch = rest
                                .strip_prefix('{')
                                .and_then(|r| r.split_once('}'))
                                .and_then(|(h, _)| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(ch) = ch else {
                                return Err(self.err_at(at, "invalid `\\u{...}` escape"));
                            };
                            out.push(ch);
                            for (_, c) in it.by_ref() {
                                if c == '}' {
                                    break;
                                }
                            }
                        }
                        other => return Err(self.err_at(at, format!("unknown escape `\\{other}`"))),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err_at(start, "unterminated string"))
    }

    fn peek(&mut self) -> PResult<Spanned<'a>> {
        if let Some((t, _)) = &self.peeked {
            return Ok(t.clone());
        }
        let (t, s, e) = self.lex(self.pos)?;
        self.peeked = Some(((t.clone(), s), e));
        Ok((t, s))
    }

    fn bump(&mut self) -> PResult<Spanned<'a>> {
        let t = self.peek()?;
        if let Some((_, end)) = self.peeked.take() {
            self.pos = end;
        }
        Ok(t)
    }

    fn eat(&mut self, c: char) -> PResult<bool> {
        if self.peek()?.0 == Tok::Punct(c) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, c: char) -> PResult<usize> {
        match self.peek()? {
            (Tok::Punct(p), at) if p == c => {
                self.bump()?;
                Ok(at)
            }
            _ => self.expected(&format!("`{c}`")),
        }
    }

    fn expect_arrow(&mut self) -> PResult<()> {
        match self.peek()?.0 {
            Tok::Arrow => self.bump().map(|_| ()),
            _ => self.expected("`->`"),
        }
    }

    fn ident(&mut self, what: &str) -> PResult<(&'a str, usize)> {
        match self.peek()? {
            (Tok::Ident(s), at) => {
                self.bump()?;
                Ok((s, at))
            }
            _ => self.expected(what),
        }
    }

    fn keyword(&mut self, kw: &str) -> PResult<()> {
        match self.peek()?.0 {
            Tok::Ident(s) if s == kw => self.bump().map(|_| ()),
            _ => self.expected(&format!("`{kw}`")),
        }
    }

    fn string_lit(&mut self, what: &str) -> PResult<String> {
        match self.peek()? {
            (Tok::Str(s), _) => {
                self.bump()?;
                Ok(s)
            }
            _ => self.expected(what),
        }
    }

    /// A number (or `inf`/`NaN`-style identifier) parsed as `T`.
    fn number<T: std::str::FromStr>(&mut self, what: &str) -> PResult<T> {
        let (t, at) = self.peek()?;
        let text = match t {
            Tok::Num(s) | Tok::Ident(s) => s,
            _ => return self.expected(what),
        };
        match text.parse() {
            Ok(v) => {
                self.bump()?;
                Ok(v)
            }
            Err(_) => Err(self.err_at(at, format!("expected {what}, found `{text}`"))),
        }
    }

    // ---- graph --------------------------------------------------------------------

    fn graph(mut self) -> PResult<Graph> {
        self.keyword("graph")?;
        let name = match self.peek()?.0 {
            Tok::Ident(s) => {
                self.bump()?;
                s.to_string()
            }
            Tok::Str(s) => {
                self.bump()?;
                s
            }
            _ => return self.expected("the graph name"),
        };
        let mut g = Graph::new(name);
        self.expect('(')?;
        if !self.eat(')')? {
            loop {
                let (v, at) = self.value_def()?;
                self.expect(':')?;
                let ty = self.tensor_type()?;
                let name = self.string_lit("the input's name (a string)")?;
                let id = g.add_input(name, ty);
                self.define(v, at, id)?;
                if self.eat(')')? {
                    break;
                }
                self.expect(',')?;
            }
        }
        self.expect_arrow()?;
        self.expect('(')?;
        let mut outs = Vec::new();
        if !self.eat(')')? {
            loop {
                outs.push(self.value_ref_token()?);
                if self.eat(')')? {
                    break;
                }
                self.expect(',')?;
            }
        }
        self.expect('{')?;
        while !self.eat('}')? {
            self.statement(&mut g)?;
        }
        if self.peek()?.0 != Tok::Eof {
            return self.expected("end of input after the graph's `}`");
        }
        let outputs = outs
            .into_iter()
            .map(|(v, at)| self.lookup(v, at))
            .collect::<PResult<Vec<_>>>()?;
        g.set_outputs(outputs);
        Ok(g)
    }

    fn value_def(&mut self) -> PResult<(&'a str, usize)> {
        match self.peek()? {
            (Tok::Value(v), at) => {
                self.bump()?;
                Ok((v, at))
            }
            _ => self.expected("a value (`%N`)"),
        }
    }

    fn value_ref_token(&mut self) -> PResult<(&'a str, usize)> {
        self.value_def()
    }

    fn define(&mut self, v: &'a str, at: usize, id: ValueId) -> PResult<()> {
        if self.values.insert(v, id).is_some() {
            return Err(self.err_at(at, format!("value `%{v}` is defined twice")));
        }
        Ok(())
    }

    fn lookup(&self, v: &str, at: usize) -> PResult<ValueId> {
        if v.starts_with('?') {
            return Err(self.err_at(
                at,
                format!("`%{v}` is a reference to a value that was not live when printed"),
            ));
        }
        self.values
            .get(v)
            .copied()
            .ok_or_else(|| self.err_at(at, format!("use of undefined value `%{v}`")))
    }

    /// `f32[1,3,batch]`
    fn tensor_type(&mut self) -> PResult<TensorType> {
        let (name, at) = self.ident("an element type (`f32`, `i64`, ...)")?;
        let Some(dtype) = DType::from_name(name) else {
            return Err(self.err_at(
                at,
                format!("expected an element type (`f32`, `i64`, ...), found `{name}`"),
            ));
        };
        self.expect('[')?;
        let mut dims = Vec::new();
        if !self.eat(']')? {
            loop {
                let d = match self.peek()?.0 {
                    Tok::Num(_) => Dim::Fixed(self.number("a dimension")?),
                    Tok::Ident(s) => {
                        self.bump()?;
                        Dim::Sym(s.to_string())
                    }
                    Tok::Str(s) => {
                        self.bump()?;
                        Dim::Sym(s)
                    }
                    _ => return self.expected("a dimension (a number or a symbol)"),
                };
                dims.push(d);
                if self.eat(']')? {
                    break;
                }
                self.expect(',')?;
            }
        }
        Ok(TensorType {
            dtype,
            shape: IrShape(dims),
        })
    }

    /// `%a[, %b...] = const ...` or `%a[, %b...] = Op{...}(...) : types`.
    fn statement(&mut self, g: &mut Graph) -> PResult<()> {
        let mut lhs = vec![self.value_def()?];
        while self.eat(',')? {
            lhs.push(self.value_def()?);
        }
        self.expect('=')?;
        if let (Tok::Ident("const"), at) = self.peek()? {
            self.bump()?;
            if lhs.len() != 1 {
                return Err(self.err_at(at, "a constant defines exactly one value"));
            }
            let ty = self.tensor_type()?;
            let name = self.string_lit("the constant's name (a string)")?;
            let t = self.tensor_data(&ty)?;
            let id = g.add_const(name, t);
            return self.define(lhs[0].0, lhs[0].1, id);
        }
        let op_at = self.peek()?.1;
        let op = self.op()?;
        self.expect('(')?;
        let mut inputs = Vec::new();
        if !self.eat(')')? {
            loop {
                match self.peek()? {
                    (Tok::Ident("_"), _) => {
                        self.bump()?;
                        inputs.push(None);
                    }
                    (Tok::Value(v), at) => {
                        self.bump()?;
                        inputs.push(Some(self.lookup(v, at)?));
                    }
                    _ => return self.expected("an operand (`%N` or `_`)"),
                }
                if self.eat(')')? {
                    break;
                }
                self.expect(',')?;
            }
        }
        self.expect(':')?;
        let mut decls = Vec::new();
        for i in 0..lhs.len() {
            if i > 0 {
                self.expect(',')?;
            }
            let at = self.peek()?.1;
            let ty = self.tensor_type()?;
            let name = self.string_lit("the output's name (a string)")?;
            decls.push((ty, name, at));
        }
        let node_name = if self.eat('@')? {
            self.string_lit("the node's name (a string)")?
        } else {
            decls.first().map(|d| d.1.clone()).unwrap_or_default()
        };
        let names = decls.iter().map(|d| d.1.clone()).collect();
        let outs = g
            .add_node_unfolded(node_name, op, inputs, names)
            .map_err(|e| self.err_at(op_at, e.to_string()))?;
        if outs.len() != lhs.len() {
            return Err(self.err_at(
                lhs[0].1,
                format!(
                    "the operator defines {} values, the text names {}",
                    outs.len(),
                    lhs.len()
                ),
            ));
        }
        for ((v, (ty, _, at)), (name, name_at)) in outs.iter().zip(&decls).zip(&lhs) {
            let inferred = &g.value(*v).ty;
            if inferred != ty {
                return Err(self.err_at(
                    *at,
                    format!("type annotation {ty} differs from the inferred type {inferred}"),
                ));
            }
            self.define(name, *name_at, *v)?;
        }
        Ok(())
    }

    // ---- constants ----------------------------------------------------------------

    /// `[v0, v1, ...]` or `splat v`, for a constant of type `ty`.
    fn tensor_data(&mut self, ty: &TensorType) -> PResult<Tensor> {
        let at = self.peek()?.1;
        let Some(dims) = ty.shape.as_fixed() else {
            return Err(self.err_at(at, format!("constant type {ty} has symbolic dimensions")));
        };
        let Some(n) = checked_elements(&dims) else {
            return Err(self.err_at(at, format!("constant type {ty} is too large")));
        };
        let es = ty.dtype.size_bytes();
        let mut bytes = Vec::new();
        match self.peek()?.0 {
            Tok::Ident("splat") => {
                self.bump()?;
                if n * es as u64 > MAX_CONST_BYTES {
                    return Err(self.err_at(at, format!("constant type {ty} is too large")));
                }
                self.element(ty.dtype, &mut bytes)?;
                bytes = bytes.repeat(n as usize);
            }
            Tok::Punct('[') => {
                self.bump()?;
                if !self.eat(']')? {
                    loop {
                        if self.peek()?.0 == Tok::Ellipsis {
                            let p = self.peek()?.1;
                            return Err(self.err_at(
                                p,
                                "constant data is elided (`...`); only the exact form \
                                 (`{}`, not `{:#}`) parses",
                            ));
                        }
                        self.element(ty.dtype, &mut bytes)?;
                        if self.eat(']')? {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                let got = bytes.len() / es;
                if got as u64 != n {
                    return Err(self.err_at(
                        at,
                        format!("constant of type {ty} needs {n} values, found {got}"),
                    ));
                }
            }
            _ => return self.expected("constant data (`[...]` or `splat V`)"),
        }
        Tensor::from_bytes(ty.dtype, dims, bytes.into())
            .map_err(|e| self.err_at(at, format!("{e:?}")))
    }

    /// One element of type `dtype`, appended little-endian to `out`.
    fn element(&mut self, dtype: DType, out: &mut Vec<u8>) -> PResult<()> {
        let what = format!("a value of type {dtype}");
        if dtype.is_float() {
            if let (Tok::Ident("NaN"), _) = self.peek()? {
                self.bump()?;
                if self.eat('(')? {
                    let (t, at) = self.bump()?;
                    let bits = match t {
                        Tok::Num(s) => s
                            .strip_prefix("0x")
                            .and_then(|h| u64::from_str_radix(h, 16).ok()),
                        _ => None,
                    };
                    let Some(bits) = bits else {
                        return Err(self.err_at(at, "expected NaN bits (`0x7fc00001`)"));
                    };
                    self.expect(')')?;
                    let b = bits.to_le_bytes();
                    out.extend_from_slice(&b[..dtype.size_bytes()]);
                    return Ok(());
                }
                match dtype {
                    DType::F64 => out.extend(f64::NAN.to_le_bytes()),
                    DType::F16 => out.extend(half::f16::NAN.to_le_bytes()),
                    DType::BF16 => out.extend(half::bf16::NAN.to_le_bytes()),
                    _ => out.extend(f32::NAN.to_le_bytes()),
                }
                return Ok(());
            }
        }
        match dtype {
            DType::F32 => out.extend(self.number::<f32>(&what)?.to_le_bytes()),
            DType::F64 => out.extend(self.number::<f64>(&what)?.to_le_bytes()),
            DType::F16 => out.extend(half::f16::from_f32(self.number(&what)?).to_le_bytes()),
            DType::BF16 => out.extend(half::bf16::from_f32(self.number(&what)?).to_le_bytes()),
            DType::I8 => out.extend(self.number::<i8>(&what)?.to_le_bytes()),
            DType::U8 => out.extend(self.number::<u8>(&what)?.to_le_bytes()),
            DType::I16 => out.extend(self.number::<i16>(&what)?.to_le_bytes()),
            DType::U16 => out.extend(self.number::<u16>(&what)?.to_le_bytes()),
            DType::I32 => out.extend(self.number::<i32>(&what)?.to_le_bytes()),
            DType::U32 => out.extend(self.number::<u32>(&what)?.to_le_bytes()),
            DType::I64 => out.extend(self.number::<i64>(&what)?.to_le_bytes()),
            DType::U64 => out.extend(self.number::<u64>(&what)?.to_le_bytes()),
            DType::Bool => match self.peek()?.0 {
                Tok::Ident("true") => {
                    self.bump()?;
                    out.push(1);
                }
                Tok::Ident("false") => {
                    self.bump()?;
                    out.push(0);
                }
                _ => out.push(self.number::<u8>("`true`, `false` or a byte")?),
            },
        }
        Ok(())
    }

    // ---- operators ----------------------------------------------------------------

    /// `Name`, `Name{key=value ...}`, `Elementwise{[program]}` or
    /// `Fused{anchor_inputs=N Anchor{...} -> [program]}`.
    fn op(&mut self) -> PResult<Op> {
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
    fn attrs(&mut self, op: &'a str, pos: usize) -> PResult<Attrs<'a>> {
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

    fn attr_value(&mut self) -> PResult<AttrVal<'a>> {
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

    fn finish(&self, attrs: Attrs<'_>) -> PResult<()> {
        match attrs.entries.first() {
            Some((key, at, _)) => {
                Err(self.err_at(*at, format!("unknown attribute `{key}` for {}", attrs.op)))
            }
            None => Ok(()),
        }
    }

    /// Removes attribute `key` and converts it; `None` when absent.
    fn take<T>(
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

    fn required<T>(
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

    fn scalar<T: std::str::FromStr>(&self, v: &AttrVal<'_>, what: &str) -> PResult<T> {
        match v {
            AttrVal::Scalar(s, at) => s
                .parse()
                .map_err(|_| self.err_at(*at, format!("expected {what}, found `{s}`"))),
            AttrVal::List(_, at) => Err(self.err_at(*at, format!("expected {what}, found a list"))),
        }
    }

    fn list<T: std::str::FromStr>(&self, v: &AttrVal<'_>, what: &str) -> PResult<Vec<T>> {
        match v {
            AttrVal::List(items, _) => items.iter().map(|i| self.scalar(i, what)).collect(),
            AttrVal::Scalar(s, at) => Err(self.err_at(
                *at,
                format!("expected a list of {what} (`[...]`), found `{s}`"),
            )),
        }
    }

    fn u64s(&self, v: &AttrVal<'_>) -> PResult<Vec<u64>> {
        self.list(v, "non-negative integers")
    }
    fn i64s(&self, v: &AttrVal<'_>) -> PResult<Vec<i64>> {
        self.list(v, "integers")
    }
    fn usizes(&self, v: &AttrVal<'_>) -> PResult<Vec<usize>> {
        self.list(v, "non-negative integers")
    }
    fn uint<T: std::str::FromStr>(&self, v: &AttrVal<'_>) -> PResult<T> {
        self.scalar(v, "a non-negative integer")
    }
    fn float(&self, v: &AttrVal<'_>) -> PResult<f32> {
        self.scalar(v, "a number")
    }
    fn boolean(&self, v: &AttrVal<'_>) -> PResult<bool> {
        self.scalar(v, "`true` or `false`")
    }
    fn pad_mode(&self, v: &AttrVal<'_>) -> PResult<PadMode> {
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
    fn dtype(&self, v: &AttrVal<'_>) -> PResult<DType> {
        let name = match v {
            AttrVal::Scalar(s, _) => DType::from_name(s),
            AttrVal::List(..) => None,
        };
        name.ok_or_else(|| self.err_at(v.pos(), "expected an element type (`f32`, `i64`, ...)"))
    }

    /// The op named `attrs.op` from its attributes (ONNX defaults where ONNX has them).
    /// A new operator gets an arm here and its attributes in `Op`'s `Display`.
    fn build_op(&self, a: &mut Attrs<'a>) -> PResult<Op> {
        if let Some(u) = self.unary(a)? {
            return Ok(Op::Unary(u));
        }
        if let Some(b) = binary(a.op) {
            return Ok(Op::Binary(b));
        }
        let op = match a.op {
            "Conv" => {
                let kernel = self.required(a, "kernel", Self::u64s)?;
                let k = kernel.len();
                Op::Conv(Conv {
                    strides: self.take(a, "strides", Self::u64s)?.unwrap_or(vec![1; k]),
                    pads: self.take(a, "pads", Self::u64s)?.unwrap_or(vec![0; 2 * k]),
                    dilations: self.take(a, "dilations", Self::u64s)?.unwrap_or(vec![1; k]),
                    group: self.take(a, "group", Self::uint)?.unwrap_or(1),
                    kernel,
                })
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
            name if ReduceKind::from_name(name).is_some() => Op::Reduce(Reduce {
                kind: ReduceKind::from_name(name).unwrap_or(ReduceKind::Sum),
                axes: self.take(a, "axes", Self::usizes)?.unwrap_or_default(),
                keepdims: self.take(a, "keepdims", Self::boolean)?.unwrap_or(true),
            }),
            other => return Err(self.err_at(a.pos, format!("unknown operator `{other}`"))),
        };
        Ok(op)
    }

    /// The unary function named `a.op`, or `None` when it is not one.
    fn unary(&self, a: &mut Attrs<'a>) -> PResult<Option<UnaryOp>> {
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
            "Softplus" => UnaryOp::Softplus,
            "Gelu" => UnaryOp::Gelu {
                tanh: self.take(a, "tanh", Self::boolean)?.unwrap_or(false),
            },
            _ => return Ok(None),
        };
        Ok(Some(u))
    }

    /// `[in0; 0.5; Mul($0, $1); Relu{...}($2)]`
    fn program(&mut self) -> PResult<ElemProgram> {
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
    fn operand(&mut self) -> PResult<usize> {
        self.expect('$')?;
        self.number("an instruction number")
    }
}

/// The binary function named `name`.
fn binary(name: &str) -> Option<BinaryOp> {
    BinaryOp::ALL.into_iter().find(|b| b.name() == name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::print::PrintOptions;

    /// Prints, parses, prints again: the texts must be identical and the graphs
    /// structurally equal.
    fn roundtrip(g: &Graph) -> String {
        let text = g.to_string();
        let back = parse_graph(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.to_string(), text);
        assert!(
            g.structurally_equal(&back),
            "not structurally equal:\n{text}"
        );
        text
    }

    fn f32t(d: &[u64]) -> TensorType {
        TensorType::new(DType::F32, d)
    }

    fn node(g: &mut Graph, name: &str, op: Op, ins: &[ValueId]) -> ValueId {
        let ins = ins.iter().map(|v| Some(*v)).collect();
        g.add_node_unfolded(name, op, ins, vec![format!("{name}.out")])
            .unwrap_or_else(|e| panic!("{name}: {e}"))[0]
    }

    fn unaries() -> Vec<UnaryOp> {
        use UnaryOp::*;
        vec![
            Relu,
            LeakyRelu { alpha: 0.1 },
            Sigmoid,
            HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            HardSwish,
            Elu { alpha: 1.5 },
            Tanh,
            Clip {
                min: f32::NEG_INFINITY,
                max: 6.0,
            },
            Clip {
                min: 0.0,
                max: f32::INFINITY,
            },
            Exp,
            Log,
            Sqrt,
            Reciprocal,
            Abs,
            Neg,
            Erf,
            Floor,
            Ceil,
            Softplus,
            Gelu { tanh: false },
            Gelu { tanh: true },
            Round,
        ]
    }

    /// Fails to compile when a unary function is added, and the test below fails until
    /// `unaries` (and so the round-trip test) includes it.
    fn unary_index(u: &UnaryOp) -> usize {
        use UnaryOp::*;
        match u {
            Relu => 0,
            LeakyRelu { .. } => 1,
            Sigmoid => 2,
            HardSigmoid { .. } => 3,
            HardSwish => 4,
            Elu { .. } => 5,
            Tanh => 6,
            Clip { .. } => 7,
            Exp => 8,
            Log => 9,
            Sqrt => 10,
            Reciprocal => 11,
            Abs => 12,
            Neg => 13,
            Erf => 14,
            Floor => 15,
            Ceil => 16,
            Softplus => 17,
            Gelu { .. } => 18,
            Round => 19,
        }
    }
    const UNARY_COUNT: usize = 20;

    /// As [`unary_index`], for operators.
    fn op_index(op: &Op) -> usize {
        match op {
            Op::Unary(_) => 0,
            Op::Binary(_) => 1,
            Op::Conv(_) => 2,
            Op::Pool(_) => 3,
            Op::GlobalPool(_) => 4,
            Op::Gemm(_) => 5,
            Op::MatMul => 6,
            Op::BatchNorm(_) => 7,
            Op::Softmax(_) => 8,
            Op::Reshape(_) => 9,
            Op::Transpose(_) => 10,
            Op::Concat(_) => 11,
            Op::Gather(_) => 12,
            Op::Slice(_) => 13,
            Op::Shape(_) => 14,
            Op::Cast(_) => 15,
            Op::Identity => 16,
            Op::Pad(_) => 17,
            Op::Reduce(_) => 18,
            Op::Where => 19,
            Op::Expand(_) => 20,
            Op::LayerNorm(_) => 21,
            Op::Elementwise(_) => 22,
            Op::Fused(_) => 23,
            Op::ArgReduce(_) => 24,
        }
    }
    const OP_COUNT: usize = 25;

    /// One graph using every operator (and every attribute form) once.
    pub(crate) fn every_op() -> Graph {
        use BinaryOp::*;
        let mut g = Graph::new("every op");
        let x = g.add_input("x", f32t(&[1, 4, 8, 8]));
        let m = g.add_input("m", f32t(&[4, 6]));
        let ids = g.add_input("ids \"q\"", TensorType::new(DType::I64, &[2]));
        let sym = g.add_input(
            "s",
            TensorType {
                dtype: DType::F32,
                shape: IrShape(vec![
                    Dim::Sym("batch".into()),
                    Dim::Fixed(3),
                    Dim::Sym("seq len".into()),
                ]),
            },
        );
        let mut outs = vec![node(&mut g, "sym_relu", Op::Unary(UnaryOp::Relu), &[sym])];
        for (i, u) in unaries().into_iter().enumerate() {
            outs.push(node(&mut g, &format!("u{i}"), Op::Unary(u), &[x]));
        }
        for b in BinaryOp::ALL {
            outs.push(node(&mut g, b.name(), Op::Binary(b), &[x, x]));
        }
        let w = g.add_const(
            "w",
            Tensor::from_f32(
                vec![4, 2, 3, 3],
                &(0..72).map(|i| i as f32 * 0.1).collect::<Vec<_>>(),
            ),
        );
        let b = g.add_const("b", Tensor::from_f32(vec![4], &[0.0; 4]));
        let conv = Conv {
            kernel: vec![3, 3],
            strides: vec![2, 1],
            pads: vec![1, 0, 1, 2],
            dilations: vec![1, 2],
            group: 2,
        };
        outs.push(node(&mut g, "conv_b", Op::Conv(conv.clone()), &[x, w, b]));
        let c = g
            .add_node_unfolded(
                "conv",
                Op::Conv(conv.clone()),
                vec![Some(x), Some(w), None],
                vec![],
            )
            .unwrap_or_else(|e| panic!("{e}"))[0];
        outs.push(c);
        for (kind, ceil) in [
            (PoolKind::Max, true),
            (
                PoolKind::Avg {
                    count_include_pad: true,
                },
                false,
            ),
            (
                PoolKind::Avg {
                    count_include_pad: false,
                },
                true,
            ),
        ] {
            let p = Pool {
                kind,
                kernel: vec![3, 3],
                strides: vec![2, 2],
                pads: vec![1, 1, 1, 1],
                dilations: vec![1, 1],
                ceil_mode: ceil,
            };
            outs.push(node(&mut g, "pool", Op::Pool(p), &[x]));
        }
        for kind in [
            PoolKind::Max,
            PoolKind::Avg {
                count_include_pad: false,
            },
            PoolKind::Avg {
                count_include_pad: true,
            },
        ] {
            outs.push(node(
                &mut g,
                "gpool",
                Op::GlobalPool(GlobalPool { kind }),
                &[x],
            ));
        }
        let gemm = Gemm {
            alpha: 0.5,
            beta: 1e-7,
            trans_a: true,
            trans_b: false,
        };
        let cm = g.add_const(
            "c",
            Tensor::from_f32(vec![6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        outs.push(node(&mut g, "gemm", Op::Gemm(gemm), &[m, m, cm]));
        let gemm2 = Gemm {
            trans_a: false,
            trans_b: true,
            ..gemm
        };
        outs.push(node(&mut g, "gemm2", Op::Gemm(gemm2), &[m, m]));
        outs.push(node(&mut g, "matmul", Op::MatMul, &[x, x]));
        let stats: Vec<ValueId> = (0..4)
            .map(|i| {
                g.add_const(
                    format!("bn{i}"),
                    Tensor::from_f32(vec![4], &[1.0, 2.0, 0.5, 0.25]),
                )
            })
            .collect();
        outs.push(node(
            &mut g,
            "bn",
            Op::BatchNorm(BatchNorm { epsilon: 1e-3 }),
            &[x, stats[0], stats[1], stats[2], stats[3]],
        ));
        for log in [false, true] {
            outs.push(node(
                &mut g,
                "sm",
                Op::Softmax(Softmax { axis: 1, log }),
                &[x],
            ));
        }
        outs.push(node(
            &mut g,
            "reshape",
            Op::Reshape(Reshape { shape: vec![4, 64] }),
            &[x],
        ));
        outs.push(node(
            &mut g,
            "transpose",
            Op::Transpose(Transpose {
                perm: vec![0, 2, 3, 1],
            }),
            &[x],
        ));
        outs.push(node(
            &mut g,
            "concat",
            Op::Concat(Concat { axis: 1 }),
            &[x, x, x],
        ));
        outs.push(node(
            &mut g,
            "gather",
            Op::Gather(Gather { axis: 1 }),
            &[x, ids],
        ));
        let slice = Slice {
            axes: vec![
                SliceAxis {
                    axis: 1,
                    start: 0,
                    end: 2,
                    step: 1,
                },
                SliceAxis {
                    axis: 3,
                    start: 7,
                    end: -1,
                    step: -2,
                },
            ],
        };
        outs.push(node(&mut g, "slice", Op::Slice(slice), &[x]));
        outs.push(node(
            &mut g,
            "shape",
            Op::Shape(Shape { start: 1, end: 3 }),
            &[x],
        ));
        outs.push(node(
            &mut g,
            "cast",
            Op::Cast(Cast { to: DType::F16 }),
            &[x],
        ));
        outs.push(node(&mut g, "identity", Op::Identity, &[x]));
        for (mode, value) in [
            (PadMode::Constant, -1.5),
            (PadMode::Reflect, 0.0),
            (PadMode::Edge, 0.0),
            (PadMode::Wrap, 0.0),
        ] {
            let pad = Pad {
                pads: vec![0, 0, 1, -1, 0, 0, 2, 1],
                mode,
                value,
            };
            outs.push(node(&mut g, "pad", Op::Pad(pad), &[x]));
        }
        for (kind, axes, keepdims) in [
            (ReduceKind::Sum, vec![1], true),
            (ReduceKind::Mean, vec![2, 3], false),
            (ReduceKind::Max, vec![], true),
            (ReduceKind::Min, vec![0], true),
            (ReduceKind::Prod, vec![1], true),
            (ReduceKind::SumSquare, vec![1], true),
            (ReduceKind::L1, vec![1], true),
            (ReduceKind::L2, vec![1], true),
            (ReduceKind::LogSum, vec![1], false),
        ] {
            let r = Reduce {
                kind,
                axes,
                keepdims,
            };
            outs.push(node(&mut g, "reduce", Op::Reduce(r), &[x]));
        }
        for (max, axis, keepdims, last) in [(true, 1, true, false), (false, 3, false, true)] {
            let a = ArgReduce {
                max,
                axis,
                keepdims,
                last,
            };
            outs.push(node(&mut g, "arg", Op::ArgReduce(a), &[x]));
        }
        let less = node(&mut g, "less", Op::Binary(Less), &[x, x]);
        outs.push(node(&mut g, "where", Op::Where, &[less, x, x]));
        outs.push(node(
            &mut g,
            "expand",
            Op::Expand(Expand {
                shape: vec![2, 1, 4, 8, 8],
            }),
            &[x],
        ));
        let ln = LayerNorm {
            axis: 2,
            epsilon: 1e-6,
        };
        let ln_s = g.add_const("ln_s", Tensor::from_f32(vec![8], &[1.0; 8]));
        outs.push(node(&mut g, "ln", Op::LayerNorm(ln), &[x, ln_s]));
        let prog = ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Input(1),
                ElemInstr::Const(-0.5),
                ElemInstr::Const(f32::INFINITY),
                ElemInstr::Binary(Mul, 0, 2),
                ElemInstr::Binary(Add, 4, 1),
                ElemInstr::Unary(UnaryOp::Clip { min: 0.0, max: 6.0 }, 5),
                ElemInstr::Binary(Min, 6, 3),
                ElemInstr::Unary(UnaryOp::Sigmoid, 7),
            ],
        };
        let eb = g.add_const("eb", Tensor::from_f32(vec![8], &[0.5; 8]));
        outs.push(node(&mut g, "ew", Op::Elementwise(prog), &[x, eb]));
        let fused = Fused {
            anchor: Box::new(Op::Conv(Conv {
                strides: vec![1, 1],
                group: 1,
                dilations: vec![1, 1],
                pads: vec![1, 1, 1, 1],
                kernel: vec![3, 3],
            })),
            anchor_inputs: 3,
            epilogue: ElemProgram {
                instrs: vec![
                    ElemInstr::Input(0),
                    ElemInstr::Input(1),
                    ElemInstr::Binary(Add, 0, 1),
                    ElemInstr::Unary(UnaryOp::LeakyRelu { alpha: 0.01 }, 2),
                ],
            },
        };
        let w4 = g.add_const("w4", Tensor::from_f32(vec![4, 4, 3, 3], &[0.25; 144]));
        outs.push(
            g.add_node_unfolded(
                "fused",
                Op::Fused(fused),
                vec![Some(x), Some(w4), None, Some(x)],
                vec![],
            )
            .unwrap_or_else(|e| panic!("{e}"))[0],
        );
        outs.push(x);
        outs.push(b);
        g.set_outputs(outs);
        g
    }

    #[test]
    fn every_op_round_trips() {
        let g = every_op();
        let text = roundtrip(&g);
        // Every operator and unary function is present.
        let mut seen = [false; OP_COUNT];
        let mut seen_unary = [false; UNARY_COUNT];
        for n in g.topo_order() {
            seen[op_index(&g.node(n).op)] = true;
            if let Op::Unary(u) = &g.node(n).op {
                seen_unary[unary_index(u)] = true;
            }
        }
        assert!(
            seen.iter().all(|s| *s),
            "ops missing from every_op: {seen:?}"
        );
        assert!(
            seen_unary.iter().all(|s| *s),
            "unaries missing: {seen_unary:?}"
        );
        assert!(text.contains("Clip{min=-inf max=6.0}"), "{text}");
        assert!(text.contains("f32[batch,3,\"seq len\"]"), "{text}");
        assert!(text.contains("Fused{anchor_inputs=3 Conv{"), "{text}");
        assert!(text.contains("(%0, %"), "{text}");
        assert!(text.contains(", _) :"), "{text}");
    }

    /// Every dtype, with extreme and special values, splats, empty and scalar tensors.
    #[test]
    fn constants_round_trip_exactly() {
        let mut g = Graph::new("consts");
        let mut outs = Vec::new();
        let le = |v: Vec<Vec<u8>>| -> Vec<u8> { v.concat() };
        let cases: Vec<(DType, Vec<u64>, Vec<u8>)> = vec![
            (
                DType::F32,
                vec![10],
                le([
                    0.1f32,
                    -0.0,
                    1e-40,
                    f32::MAX,
                    f32::MIN_POSITIVE,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NAN,
                    f32::from_bits(0xffc0_0001),
                    16777217.0,
                ]
                .iter()
                .map(|v| v.to_le_bytes().to_vec())
                .collect()),
            ),
            (
                DType::F64,
                vec![3],
                le([0.1f64, 1e300, f64::from_bits(0x7ff8_0000_0000_0001)]
                    .iter()
                    .map(|v| v.to_le_bytes().to_vec())
                    .collect()),
            ),
            (
                DType::F16,
                vec![4],
                le([0.1f32, 65504.0, 6e-8, -2.5]
                    .iter()
                    .map(|v| half::f16::from_f32(*v).to_le_bytes().to_vec())
                    .collect()),
            ),
            (
                DType::BF16,
                vec![3],
                le([0.1f32, 3e38, -1.0]
                    .iter()
                    .map(|v| half::bf16::from_f32(*v).to_le_bytes().to_vec())
                    .collect()),
            ),
            (DType::I8, vec![3], vec![0x80, 0x7f, 0xff]),
            (DType::U8, vec![2], vec![0, 255]),
            (
                DType::I16,
                vec![2],
                le(vec![
                    i16::MIN.to_le_bytes().to_vec(),
                    7i16.to_le_bytes().to_vec(),
                ]),
            ),
            (
                DType::U16,
                vec![2],
                le(vec![
                    u16::MAX.to_le_bytes().to_vec(),
                    7u16.to_le_bytes().to_vec(),
                ]),
            ),
            (
                DType::I32,
                vec![2],
                le(vec![
                    i32::MIN.to_le_bytes().to_vec(),
                    (-7i32).to_le_bytes().to_vec(),
                ]),
            ),
            (
                DType::U32,
                vec![2],
                le(vec![
                    u32::MAX.to_le_bytes().to_vec(),
                    7u32.to_le_bytes().to_vec(),
                ]),
            ),
            (
                DType::I64,
                vec![2],
                le(vec![
                    i64::MIN.to_le_bytes().to_vec(),
                    i64::MAX.to_le_bytes().to_vec(),
                ]),
            ),
            (
                DType::U64,
                vec![2],
                le(vec![
                    u64::MAX.to_le_bytes().to_vec(),
                    0u64.to_le_bytes().to_vec(),
                ]),
            ),
            (DType::Bool, vec![2, 2], vec![1, 0, 0, 1]),
            (
                DType::F32,
                vec![3, 2],
                le(vec![1.5f32.to_le_bytes().to_vec(); 6]),
            ),
            (DType::I64, vec![0], vec![]),
            (DType::F32, vec![], 2.0f32.to_le_bytes().to_vec()),
            (DType::F32, vec![1], 2.0f32.to_le_bytes().to_vec()),
        ];
        for (i, (dtype, shape, bytes)) in cases.into_iter().enumerate() {
            let t = Tensor::from_bytes(dtype, shape, bytes.into()).unwrap();
            let c = g.add_const(format!("c{i}"), t);
            outs.push(node(&mut g, &format!("id{i}"), Op::Identity, &[c]));
        }
        g.set_outputs(outs);
        let text = roundtrip(&g);
        for s in [
            "[0.1, -0.0, 1e-40, 3.4028235e38, 1.1754944e-38, inf, -inf, NaN, NaN(0xffc00001), 16777216.0]",
            "NaN(0x7ff8000000000001)",
            "[-128, 127, -1]",
            "[18446744073709551615, 0]",
            "[true, false, false, true]",
            "splat 1.5",
            "const i64[0] \"c14\" []",
            "const f32[] \"c15\" [2.0]",
        ] {
            assert!(text.contains(s), "missing {s} in\n{text}");
        }
    }

    #[test]
    fn names_are_quoted_and_node_names_kept() {
        let mut g = Graph::new("torch-jit export");
        let x = g.add_input("ü/x\n\"", f32t(&[2]));
        let y = g
            .add_node_unfolded(
                "node \\ 1",
                Op::Unary(UnaryOp::Relu),
                vec![Some(x)],
                vec!["y".into()],
            )
            .unwrap()[0];
        let z = g
            .add_node_unfolded(
                "z",
                Op::Unary(UnaryOp::Exp),
                vec![Some(y)],
                vec!["z".into()],
            )
            .unwrap()[0];
        g.set_outputs(vec![z, y, z]);
        let text = roundtrip(&g);
        assert_eq!(
            text,
            "graph \"torch-jit export\"(%0: f32[2] \"ü/x\\n\\\"\") -> (%2, %1, %2) {\n  \
             %1 = Relu(%0) : f32[2] \"y\" @\"node \\\\ 1\"\n  \
             %2 = Exp(%1) : f32[2] \"z\"\n}\n"
        );
    }

    #[test]
    fn canonical_numbering_renumbers_and_orders() {
        // Hand-written text with names instead of numbers, constants after use order.
        let text = "graph g(%x: f32[2] \"x\") -> (%r) {
            %b = const f32[2] \"b\" [1.0, 2.0]
            %a = const f32[2] \"a\" splat 3.0
            %s = Add(%x, %a) : f32[2] \"s\"
            %r = Mul(%s, %b) : f32[2] \"r\" // trailing comment
        }";
        let g = parse_graph(text).unwrap();
        let printed = g.to_string();
        assert_eq!(
            printed,
            "graph g(%0: f32[2] \"x\") -> (%4) {\n  \
             %1 = const f32[2] \"a\" splat 3.0\n  \
             %2 = const f32[2] \"b\" [1.0, 2.0]\n  \
             %3 = Add(%0, %1) : f32[2] \"s\"\n  \
             %4 = Mul(%3, %2) : f32[2] \"r\"\n}\n"
        );
        assert!(g.structurally_equal(&parse_graph(&printed).unwrap()));
        let other = parse_graph(&printed.replace("[1.0, 2.0]", "[1.0, 2.5]")).unwrap();
        assert!(!g.structurally_equal(&other));
        let other = parse_graph(&printed.replace("Mul", "Sub")).unwrap();
        assert!(!g.structurally_equal(&other));
    }

    #[test]
    fn defaults_fill_omitted_attributes() {
        let text = "graph g(%x: f32[1,2,5,5] \"x\", %w: f32[4,2,3,3] \"w\") -> (%y) {
            %y = Conv{kernel=[3, 3]}(%x, %w) : f32[1,4,3,3] \"y\"
        }";
        let g = parse_graph(text).unwrap();
        assert!(g.to_string().contains(
            "Conv{kernel=[3, 3] strides=[1, 1] pads=[0, 0, 0, 0] dilations=[1, 1] group=1}(%0, %1)"
        ));
    }

    #[test]
    fn constant_nodes_are_not_folded() {
        let mut g = Graph::new("g");
        let c = g.add_const("c", Tensor::from_f32(vec![2], &[-1.0, 1.0]));
        let r = node(&mut g, "r", Op::Unary(UnaryOp::Relu), &[c]);
        g.set_outputs(vec![r]);
        let back = parse_graph(&roundtrip(&g)).unwrap();
        assert_eq!(back.node_count(), 1);
    }

    #[test]
    fn summary_form_elides_and_is_refused() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32t(&[40]));
        let c = g.add_const(
            "c",
            Tensor::from_f32(vec![40], &(0..40).map(|i| i as f32).collect::<Vec<_>>()),
        );
        let y = node(&mut g, "y", Op::Binary(BinaryOp::Add), &[x, c]);
        g.set_outputs(vec![y]);
        let summary = format!("{g:#}");
        assert_eq!(summary, g.display_with(PrintOptions::SUMMARY).to_string());
        assert!(summary.contains("14.0, 15.0, ... 24 more]"), "{summary}");
        let e = parse_graph(&summary).unwrap_err();
        assert!(e.message.contains("elided"), "{e}");
        assert_eq!(e.line, 2);
    }

    /// (text, line, column, message fragment)
    #[test]
    fn malformed_text_is_reported_with_position() {
        let head = "graph g(%0: f32[2,3] \"x\") -> (%1) {\n";
        let cases: Vec<(String, usize, usize, &str)> = vec![
            ("graph g(%0: f32[2] \"x\" -> (%0) {}".into(), 1, 24, "expected `,`, found `->`"),
            (format!("{head}  %1 = Frobnicate(%0) : f32[2,3] \"y\"\n}}"), 2, 8, "unknown operator `Frobnicate`"),
            (format!("{head}  %1 = Relu(%0) : f32[2,4] \"y\"\n}}"), 2, 19, "type annotation f32[2,4] differs from the inferred type f32[2,3]"),
            (format!("{head}  %1 = Relu(%7) : f32[2,3] \"y\"\n}}"), 2, 13, "use of undefined value `%7`"),
            (format!("{head}  %2 = const f32[2] \"c\" [1.0]\n  %1 = Add(%0, %2) : f32[2,3] \"y\"\n}}"), 2, 25, "needs 2 values, found 1"),
            (format!("{head}  %1 = Softmax{{axis=1 bogus=2}}(%0) : f32[2,3] \"y\"\n}}"), 2, 23, "unknown attribute `bogus` for Softmax"),
            (format!("{head}  %1 = Softmax(%0) : f32[2,3] \"y\"\n}}"), 2, 8, "Softmax needs attribute `axis`"),
            (format!("{head}  %1 = Softmax{{axis=[1]}}(%0) : f32[2,3] \"y\"\n}}"), 2, 21, "expected a non-negative integer, found a list"),
            (format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\n}}"), 2, 28, "unterminated string"),
            ("graph g(%0: q8[2] \"x\") -> (%0) {}".into(), 1, 13, "expected an element type"),
            ("graph g(%0: f32[2] \"x\") -> (%0) {} extra".into(), 1, 36, "expected end of input"),
            (format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\"\n  %1 = Relu(%0) : f32[2,3] \"z\"\n}}"), 3, 3, "defined twice"),
            (format!("{head}  %1 = Conv{{kernel=[3, 3]}}(%0, %0) : f32[2,3] \"y\"\n}}"), 2, 8, "node `y` (Conv)"),
            (format!("{head}  %1 = Elementwise{{[in0; Relu($3)]}}(%0) : f32[2,3] \"y\"\n}}"), 2, 26, "instruction $1 may only use earlier"),
            (format!("{head}  %2 = const i8[1] \"c\" [300]\n  %1 = Relu(%0) : f32[2,3] \"y\"\n}}"), 2, 25, "expected a value of type i8, found `300`"),
            (format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\"\n"), 3, 1, "expected a value (`%N`), found end of input"),
        ];
        for (text, line, column, msg) in cases {
            let e = parse_graph(&text).map(|g| g.to_string()).unwrap_err();
            assert!(e.message.contains(msg), "{e}\nwanted: {msg}\n{text}");
            assert_eq!((e.line, e.column), (line, column), "{e}\n{text}");
        }
    }
}
