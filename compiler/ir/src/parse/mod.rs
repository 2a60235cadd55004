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

mod constants;
mod lexer;
mod ops;
#[cfg(test)]
pub(crate) mod tests;

use crate::dtype::DType;
use crate::graph::{Graph, ValueId};
use crate::shape::{Dim, Shape as IrShape, TensorType};
use lexer::{Spanned, Tok};
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
}
