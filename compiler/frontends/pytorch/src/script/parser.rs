//! A parser for serialized TorchScript code: the Python subset `torch.jit.save` prints
//! (classes with typed attributes and methods; assignments, tuple unpacking, `return`,
//! `if`/`for`, calls with keyword arguments, attribute access, literals, operators).
//!
//! Type annotations are parsed as expressions and kept only where they matter (the
//! parameters of `forward`). Nesting is bounded, so a hostile file cannot overflow the
//! stack.

use super::lexer::{lex, Tok};

/// The deepest expression or block nesting accepted.
const MAX_NESTING: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Name(String),
    Attr(Box<Expr>, String),
    Call {
        func: Box<Expr>,
        args: Vec<Expr>,
        kwargs: Vec<(String, Expr)>,
    },
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Subscript(Box<Expr>, Box<Expr>),
    /// `a:b` inside a subscript.
    Slice(Option<Box<Expr>>, Option<Box<Expr>>),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    IfElse(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    /// `a = v`, `a, b = v`, `a, = v`.
    Assign {
        targets: Vec<Expr>,
        value: Expr,
        line: usize,
    },
    Return(Option<Expr>, usize),
    Expr(Expr, usize),
    If {
        cond: Expr,
        then: Vec<Stmt>,
        orelse: Vec<Stmt>,
        line: usize,
    },
    For {
        targets: Vec<Expr>,
        iter: Expr,
        body: Vec<Stmt>,
        line: usize,
    },
    While(usize),
    Raise(usize),
    Pass,
    Break(usize),
    Continue(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) ty: Option<Expr>,
    pub(crate) default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Def {
    pub(crate) name: String,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Vec<Stmt>,
    pub(crate) line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Class {
    pub(crate) name: String,
    pub(crate) methods: Vec<Def>,
    /// Class-level values (`eps : Final[float] = 1e-05`, `__parameters__ = [...]`).
    pub(crate) consts: Vec<(String, Expr)>,
}

/// A parsed code file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct File {
    pub(crate) classes: Vec<Class>,
    pub(crate) functions: Vec<Def>,
}

/// Positional and keyword arguments of a call.
type CallArgs = (Vec<Expr>, Vec<(String, Expr)>);

/// A parse error: line and message.
pub(crate) type ParseError = (usize, String);

pub(crate) fn parse(src: &str) -> Result<File, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let mut file = File::default();
    loop {
        match p.peek().clone() {
            Tok::Eof => return Ok(file),
            Tok::Newline => p.pos += 1,
            Tok::Name(n) if n == "class" => file.classes.push(p.class()?),
            Tok::Name(n) if n == "def" => file.functions.push(p.def()?),
            _ => {
                // Module-level imports and assignments carry nothing a graph needs.
                p.skip_line();
            }
        }
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.0)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(0, |t| t.1)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err((self.line(), msg.into()))
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_name(&mut self, name: &str) -> bool {
        if self.is_name(name) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            self.err(format!("expected `{op}`, found {:?}", self.peek()))
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Tok::Name(n) => Ok(n),
            t => self.err(format!("expected a name, found {t:?}")),
        }
    }

    fn skip_line(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.next() {
                Tok::Newline if depth == 0 => return,
                Tok::Indent => depth += 1,
                Tok::Dedent => depth = depth.saturating_sub(1),
                Tok::Eof => return,
                _ => {}
            }
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err("the code nests too deeply");
        }
        Ok(())
    }

    fn class(&mut self) -> Result<Class, ParseError> {
        self.next();
        let name = self.ident()?;
        if self.eat_op("(") {
            while !self.eat_op(")") {
                if matches!(self.peek(), Tok::Eof) {
                    return self.err("unterminated class bases");
                }
                self.next();
            }
        }
        self.expect_op(":")?;
        let mut class = Class {
            name,
            methods: Vec::new(),
            consts: Vec::new(),
        };
        if !matches!(self.peek(), Tok::Newline) {
            self.skip_line();
            return Ok(class);
        }
        self.next();
        if !matches!(self.next(), Tok::Indent) {
            return self.err("expected an indented class body");
        }
        loop {
            match self.peek().clone() {
                Tok::Dedent => {
                    self.next();
                    return Ok(class);
                }
                Tok::Eof => return Ok(class),
                Tok::Newline => {
                    self.next();
                }
                Tok::Name(n) if n == "def" => class.methods.push(self.def()?),
                Tok::Name(n) if n == "pass" => self.skip_line(),
                Tok::Name(n) => {
                    // `name : Type [= value]` or `name = value`.
                    self.next();
                    if self.eat_op(":") {
                        self.expr()?;
                    }
                    if self.eat_op("=") {
                        let v = self.expr()?;
                        class.consts.push((n, v));
                    }
                    self.skip_line();
                }
                _ => self.skip_line(),
            }
        }
    }

    fn def(&mut self) -> Result<Def, ParseError> {
        let line = self.line();
        self.next();
        let name = self.ident()?;
        self.expect_op("(")?;
        let mut params = Vec::new();
        while !self.eat_op(")") {
            self.eat_op("*");
            let pname = self.ident()?;
            let ty = if self.eat_op(":") {
                Some(self.expr()?)
            } else {
                None
            };
            let default = if self.eat_op("=") {
                Some(self.expr()?)
            } else {
                None
            };
            params.push(Param {
                name: pname,
                ty,
                default,
            });
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        if self.eat_op("->") {
            self.expr()?;
        }
        self.expect_op(":")?;
        let body = self.suite()?;
        Ok(Def {
            name,
            params,
            body,
            line,
        })
    }

    fn suite(&mut self) -> Result<Vec<Stmt>, ParseError> {
        self.enter()?;
        let mut body = Vec::new();
        if !matches!(self.peek(), Tok::Newline) {
            body.push(self.simple()?);
            self.depth -= 1;
            return Ok(body);
        }
        self.next();
        if !matches!(self.next(), Tok::Indent) {
            return self.err("expected an indented block");
        }
        loop {
            match self.peek() {
                Tok::Dedent => {
                    self.next();
                    break;
                }
                Tok::Eof => break,
                Tok::Newline => {
                    self.next();
                }
                _ => body.push(self.stmt()?),
            }
        }
        self.depth -= 1;
        Ok(body)
    }

    fn stmt(&mut self) -> Result<Stmt, ParseError> {
        let line = self.line();
        if self.eat_name("if") {
            return self.if_rest(line);
        }
        if self.eat_name("for") {
            let targets = self.target_list()?;
            if !self.eat_name("in") {
                return self.err("expected `in`");
            }
            let iter = self.expr()?;
            self.expect_op(":")?;
            let body = self.suite()?;
            return Ok(Stmt::For {
                targets,
                iter,
                body,
                line,
            });
        }
        if self.eat_name("while") {
            self.expr()?;
            self.expect_op(":")?;
            self.suite()?;
            return Ok(Stmt::While(line));
        }
        if self.is_name("def") || self.is_name("class") {
            return self.err("nested definitions are not supported");
        }
        self.simple()
    }

    fn if_rest(&mut self, line: usize) -> Result<Stmt, ParseError> {
        let cond = self.expr()?;
        self.expect_op(":")?;
        let then = self.suite()?;
        let orelse = if self.is_name("elif") {
            let l = self.line();
            self.next();
            vec![self.if_rest(l)?]
        } else if self.eat_name("else") {
            self.expect_op(":")?;
            self.suite()?
        } else {
            Vec::new()
        };
        Ok(Stmt::If {
            cond,
            then,
            orelse,
            line,
        })
    }

    fn target_list(&mut self) -> Result<Vec<Expr>, ParseError> {
        // Below comparisons, so that `in` ends the targets.
        let mut t = vec![self.bit_or()?];
        while self.eat_op(",") {
            if self.is_name("in") || self.is_op("=") {
                break;
            }
            t.push(self.bit_or()?);
        }
        Ok(t)
    }

    /// A simple statement, up to its newline.
    fn simple(&mut self) -> Result<Stmt, ParseError> {
        let line = self.line();
        let stmt = if self.eat_name("return") {
            if matches!(self.peek(), Tok::Newline) {
                Stmt::Return(None, line)
            } else {
                Stmt::Return(Some(self.expr_list()?), line)
            }
        } else if self.eat_name("pass") {
            Stmt::Pass
        } else if self.eat_name("break") {
            Stmt::Break(line)
        } else if self.eat_name("continue") {
            Stmt::Continue(line)
        } else if self.eat_name("raise") || self.eat_name("assert") {
            self.skip_line();
            return Ok(Stmt::Raise(line));
        } else if self.is_name("import") || self.is_name("from") || self.is_name("global") {
            self.skip_line();
            return Ok(Stmt::Pass);
        } else {
            let mut targets = vec![self.expr()?];
            let mut tuple = false;
            while self.eat_op(",") {
                tuple = true;
                if self.is_op("=") || matches!(self.peek(), Tok::Newline) {
                    break;
                }
                targets.push(self.expr()?);
            }
            if self.eat_op(":") {
                // An annotated assignment: `x : T = v`.
                self.expr()?;
            }
            let aug = ["+=", "-=", "*=", "/="].into_iter().find(|o| self.is_op(o));
            if let Some(aug) = aug {
                self.next();
                let rhs = self.expr()?;
                let op = &aug[..1];
                let op: &'static str = match op {
                    "+" => "+",
                    "-" => "-",
                    "*" => "*",
                    _ => "/",
                };
                let Some(t) = targets.first().cloned() else {
                    return self.err("an augmented assignment without a target");
                };
                Stmt::Assign {
                    targets,
                    value: Expr::Binary(op, Box::new(t), Box::new(rhs)),
                    line,
                }
            } else if self.eat_op("=") {
                let value = self.expr_list()?;
                let targets = if tuple {
                    vec![Expr::Tuple(targets)]
                } else {
                    targets
                };
                Stmt::Assign {
                    targets,
                    value,
                    line,
                }
            } else if tuple {
                Stmt::Expr(Expr::Tuple(targets), line)
            } else {
                let e = targets.pop().unwrap_or(Expr::None);
                Stmt::Expr(e, line)
            }
        };
        match self.next() {
            Tok::Newline | Tok::Eof => Ok(stmt),
            t => self.err(format!("unexpected {t:?} at the end of a statement")),
        }
    }

    /// `a, b` as a tuple, or a single expression.
    fn expr_list(&mut self) -> Result<Expr, ParseError> {
        let first = self.expr()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if matches!(self.peek(), Tok::Newline | Tok::Eof) || self.is_op(")") {
                break;
            }
            items.push(self.expr()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.or_expr()?;
        let e = if self.eat_name("if") {
            let cond = self.or_expr()?;
            if !self.eat_name("else") {
                return self.err("expected `else` in a conditional expression");
            }
            let other = self.expr()?;
            Expr::IfElse(Box::new(cond), Box::new(e), Box::new(other))
        } else {
            e
        };
        self.depth -= 1;
        Ok(e)
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.and_expr()?;
        while self.eat_name("or") {
            e = Expr::Binary("or", Box::new(e), Box::new(self.and_expr()?));
        }
        Ok(e)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.not_expr()?;
        while self.eat_name("and") {
            e = Expr::Binary("and", Box::new(e), Box::new(self.not_expr()?));
        }
        Ok(e)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.eat_name("not") {
            self.enter()?;
            let e = Expr::Unary("not", Box::new(self.not_expr()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.bit_or()?;
        loop {
            let op: &'static str = if self.eat_op("==") {
                "=="
            } else if self.eat_op("!=") {
                "!="
            } else if self.eat_op("<=") {
                "<="
            } else if self.eat_op(">=") {
                ">="
            } else if self.eat_op("<") {
                "<"
            } else if self.eat_op(">") {
                ">"
            } else if self.eat_name("is") {
                if self.eat_name("not") {
                    "is not"
                } else {
                    "is"
                }
            } else if self.eat_name("in") {
                "in"
            } else if self.is_name("not")
                && matches!(self.toks.get(self.pos + 1), Some((Tok::Name(n), _)) if n == "in")
            {
                self.pos += 2;
                "not in"
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.bit_or()?));
        }
    }

    fn bit_or(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.arith()?;
        loop {
            let op: &'static str = if self.eat_op("|") {
                "|"
            } else if self.eat_op("&") {
                "&"
            } else if self.eat_op("^") {
                "^"
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.arith()?));
        }
    }

    fn arith(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.term()?;
        loop {
            let op: &'static str = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.factor()?;
        loop {
            let op: &'static str = if self.eat_op("*") {
                "*"
            } else if self.eat_op("//") {
                "//"
            } else if self.eat_op("/") {
                "/"
            } else if self.eat_op("%") {
                "%"
            } else if self.eat_op("@") {
                "@"
            } else {
                return Ok(e);
            };
            e = Expr::Binary(op, Box::new(e), Box::new(self.factor()?));
        }
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        for op in ["-", "+", "~"] {
            if self.eat_op(op) {
                self.enter()?;
                let inner = self.factor()?;
                self.depth -= 1;
                let op: &'static str = match op {
                    "-" => "-",
                    "+" => "+",
                    _ => "~",
                };
                return Ok(match (op, inner) {
                    ("-", Expr::Int(i)) => Expr::Int(i.wrapping_neg()),
                    ("-", Expr::Float(f)) => Expr::Float(-f),
                    (op, inner) => Expr::Unary(op, Box::new(inner)),
                });
            }
        }
        let base = self.primary()?;
        if self.eat_op("**") {
            self.enter()?;
            let exp = self.factor()?;
            self.depth -= 1;
            return Ok(Expr::Binary("**", Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.atom()?;
        loop {
            if self.eat_op(".") {
                let n = self.ident()?;
                e = Expr::Attr(Box::new(e), n);
            } else if self.eat_op("(") {
                let (args, kwargs) = self.call_args()?;
                e = Expr::Call {
                    func: Box::new(e),
                    args,
                    kwargs,
                };
            } else if self.eat_op("[") {
                let idx = self.subscript()?;
                self.expect_op("]")?;
                e = Expr::Subscript(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn subscript(&mut self) -> Result<Expr, ParseError> {
        let first = if self.is_op(":") {
            None
        } else {
            Some(self.expr()?)
        };
        if self.eat_op(":") {
            let end = if self.is_op("]") {
                None
            } else {
                Some(Box::new(self.expr()?))
            };
            return Ok(Expr::Slice(first.map(Box::new), end));
        }
        let first = first.unwrap_or(Expr::None);
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("]") {
                break;
            }
            items.push(self.expr()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn call_args(&mut self) -> Result<CallArgs, ParseError> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        while !self.eat_op(")") {
            let is_kw = matches!(self.peek(), Tok::Name(_))
                && matches!(self.toks.get(self.pos + 1), Some((Tok::Op("="), _)));
            if is_kw {
                let n = self.ident()?;
                self.next();
                kwargs.push((n, self.expr()?));
            } else {
                self.eat_op("*");
                args.push(self.expr()?);
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        Ok((args, kwargs))
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Tok::Name(n) => Ok(match n.as_str() {
                "True" => Expr::Bool(true),
                "False" => Expr::Bool(false),
                "None" => Expr::None,
                "inf" => Expr::Float(f64::INFINITY),
                "nan" => Expr::Float(f64::NAN),
                _ => Expr::Name(n),
            }),
            Tok::Int(i) => Ok(Expr::Int(i)),
            Tok::Float(f) => Ok(Expr::Float(f)),
            Tok::Str(mut s) => {
                while let Tok::Str(more) = self.peek().clone() {
                    self.next();
                    s.push_str(&more);
                }
                Ok(Expr::Str(s))
            }
            Tok::Op("(") => {
                self.enter()?;
                if self.eat_op(")") {
                    self.depth -= 1;
                    return Ok(Expr::Tuple(Vec::new()));
                }
                let first = self.expr()?;
                let e = if self.is_op(",") {
                    let mut items = vec![first];
                    while self.eat_op(",") {
                        if self.is_op(")") {
                            break;
                        }
                        items.push(self.expr()?);
                    }
                    Expr::Tuple(items)
                } else {
                    first
                };
                self.expect_op(")")?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Op("[") => {
                self.enter()?;
                let mut items = Vec::new();
                while !self.eat_op("]") {
                    items.push(self.expr()?);
                    if !self.eat_op(",") {
                        self.expect_op("]")?;
                        break;
                    }
                }
                self.depth -= 1;
                Ok(Expr::List(items))
            }
            t => self.err(format!("unexpected {t:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const TRACED: &str = r#"class Net(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  conv : __torch__.torch.nn.modules.conv.Conv2d
  def forward(self: __torch__.Net,
    x: Tensor) -> Tuple[Tensor, Tensor]:
    conv = self.conv
    _0 = torch.relu((conv).forward(x, ))
    T = ops.prim.NumToTensor(torch.size(x, 1))
    input = torch.arange(annotate(number, T), dtype=None, layout=None, device=torch.device("cpu"), pin_memory=False)
    a, _1, = torch.lstm(x, [_0], [conv.weight], True, 2, 0., False, True, True)
    return (_0, a)
"#;

    #[test]
    fn parses_traced_code() {
        let f = parse(TRACED).unwrap();
        let c = &f.classes[0];
        assert_eq!(c.name, "Net");
        let fwd = &c.methods[0];
        assert_eq!(fwd.name, "forward");
        assert_eq!(fwd.params.len(), 2);
        assert_eq!(fwd.body.len(), 6);
        match &fwd.body[4] {
            Stmt::Assign { targets, .. } => {
                assert!(matches!(&targets[0], Expr::Tuple(t) if t.len() == 2))
            }
            s => panic!("{s:?}"),
        }
        assert!(matches!(fwd.body[5], Stmt::Return(Some(Expr::Tuple(_)), _)));
    }

    #[test]
    fn parses_control_flow_and_operators() {
        let src = "def f(x: int, y: Optional[int]=None) -> int:\n  if x > 2 and not y is None:\n    z = x + 2 * y // 3\n  elif x == -1:\n    z = 0\n  else:\n    z = 1 if x else 2\n  for i in range(3):\n    z += i\n  return z\n";
        let f = parse(src).unwrap();
        assert_eq!(f.functions[0].body.len(), 3);
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("class A(Module):\n  def forward(self):\n    x = (1, \n    return x\n")
            .unwrap_err();
        assert!(e.0 >= 3, "{e:?}");
        let deep = format!(
            "def f():\n  return {}1{}\n",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(parse(&deep).is_err());
    }
}
