//! Symbolic evaluation of TorchScript code into the graph IR.
//!
//! Values are [`SVal`]s: plain values (ints, lists, IR tensors; see [`Val`]), module
//! objects of the pickled tree, or dotted paths (`torch.conv2d`, `__torch__.f`) waiting
//! to be called. Submodule methods and script functions are inlined (a call stack of
//! frames, bounded); aten calls go to the shared operator table ([`builtins`]). An
//! in-place aten op (`relu_`, `add_`) rebinds every variable that held the mutated
//! tensor. Control flow must fold: conditions are evaluated to constants, loops are
//! unrolled within a budget.
//!
//! [`builtins`]: super::builtins

use super::builtins;
use super::parser::{self, Def, Expr, Stmt};
use crate::archive::Archive;
use crate::error::{PytorchError, Result, UnsupportedOp};
use crate::pickle::{Obj, Pickle, PyVal};
use crate::storage::Storages;
use crate::value::Val;
use neoc_ir::{Graph, TensorType, ValueId};
use std::collections::HashMap;
use std::rc::Rc;

/// The deepest call nesting (module methods and functions) accepted.
const MAX_CALL_DEPTH: usize = 64;
/// The most statements one import may execute (unrolled loops included).
const MAX_STEPS: u64 = 10_000_000;
/// The deepest pickled value converted.
const MAX_VALUE_DEPTH: usize = 64;

/// A value of the interpreter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SVal {
    V(Val),
    /// A module object of `data.pkl` and its attribute path from the root.
    Module {
        obj: PyVal,
        path: String,
    },
    /// A dotted name not yet resolved (`torch.relu`, `ops.prim.NumToTensor`).
    Path(String),
}

enum Flow {
    Next,
    Return(SVal),
    Break,
    Continue,
}

struct Frame {
    vars: HashMap<String, SVal>,
    /// The code entry and function, for messages.
    entry: String,
    func: String,
    /// The module path (`layer1.0.conv1`) for node names.
    scope: String,
}

pub(crate) struct Interp<'a> {
    archive: &'a Archive,
    file: String,
    code_dir: String,
    tree: &'a Pickle,
    consts: Option<&'a Pickle>,
    pub(super) graph: Graph,
    data: Storages<'a>,
    const_data: Storages<'a>,
    parsed: HashMap<String, Rc<parser::File>>,
    /// IR constants of pickled tensors, by (from constants.pkl, object index).
    tensors: HashMap<(bool, u32), ValueId>,
    frames: Vec<Frame>,
    steps: u64,
    pub(super) line: usize,
}

impl<'a> Interp<'a> {
    pub(crate) fn new(
        archive: &'a Archive,
        prefix: &str,
        tree: &'a Pickle,
        consts: Option<&'a Pickle>,
        name: &str,
    ) -> Interp<'a> {
        Interp {
            archive,
            file: archive.file().to_string(),
            code_dir: format!("{prefix}code/"),
            tree,
            consts,
            graph: Graph::new(name),
            data: Storages::new(archive, &format!("{prefix}data/")),
            const_data: Storages::new(archive, &format!("{prefix}constants/")),
            parsed: HashMap::new(),
            tensors: HashMap::new(),
            frames: Vec::new(),
            steps: 0,
            line: 0,
        }
    }

    pub(crate) fn finish(self) -> Graph {
        self.graph
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    // ---- errors ---------------------------------------------------------------------

    /// An error at the current code line.
    pub(super) fn code_err(&self, message: impl Into<String>) -> PytorchError {
        let (entry, func) = self
            .frames
            .last()
            .map(|f| (f.entry.clone(), f.func.clone()))
            .unwrap_or_default();
        let message = message.into();
        PytorchError::Code {
            file: self.file.clone(),
            entry,
            line: self.line,
            message: if func.is_empty() {
                message
            } else {
                format!("in {func}: {message}")
            },
        }
    }

    fn program_err(&self, message: impl Into<String>) -> PytorchError {
        PytorchError::Program {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    /// The name IR nodes built at the current line get.
    pub(super) fn node_name(&self) -> String {
        let (scope, entry) = self
            .frames
            .last()
            .map(|f| (f.scope.as_str(), f.entry.as_str()))
            .unwrap_or(("", ""));
        let scope = if scope.is_empty() { "<root>" } else { scope };
        format!("{scope} ({entry}:{})", self.line)
    }

    // ---- code -----------------------------------------------------------------------

    /// The parsed file of module path `module` (`__torch__.torch.nn.modules.conv`).
    fn load(&mut self, module: &str) -> Result<(Rc<parser::File>, String)> {
        let entry = format!("{}{}.py", self.code_dir, module.replace('.', "/"));
        if let Some(f) = self.parsed.get(&entry) {
            return Ok((f.clone(), entry));
        }
        let text = self.archive.read_text(&entry)?;
        let f = parser::parse(&text).map_err(|(line, message)| PytorchError::Code {
            file: self.file.clone(),
            entry: entry.clone(),
            line,
            message,
        })?;
        let f = Rc::new(f);
        self.parsed.insert(entry.clone(), f.clone());
        Ok((f, entry))
    }

    /// The class `qualname` (`__torch__.torch.nn.modules.conv.Conv2d`) and its entry.
    fn class(&mut self, qualname: &str) -> Result<(Rc<parser::File>, usize, String)> {
        let (module, name) = qualname.rsplit_once('.').unwrap_or(("__torch__", qualname));
        let (f, entry) = self.load(module)?;
        let i = f
            .classes
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| self.program_err(format!("{entry} does not define class `{name}`")))?;
        Ok((f, i, entry))
    }

    /// The names of `class.method`'s tensor parameters (after `self`): the graph inputs.
    pub(crate) fn method_params(&mut self, class: &str, method: &str) -> Result<Vec<String>> {
        let (f, ci, entry) = self.class(class)?;
        let def = f.classes[ci]
            .methods
            .iter()
            .find(|d| d.name == method)
            .ok_or_else(|| self.program_err(format!("class {class} has no `{method}` method")))?;
        let mut out = Vec::new();
        for p in def.params.iter().skip(1) {
            let is_tensor = matches!(&p.ty, None | Some(Expr::Name(_)))
                && p.ty
                    .as_ref()
                    .is_none_or(|t| *t == Expr::Name("Tensor".into()));
            if is_tensor {
                out.push(p.name.clone());
            } else if p.default.is_none() {
                return Err(PytorchError::Code {
                    file: self.file.clone(),
                    entry,
                    line: def.line,
                    message: format!(
                        "{method} takes `{}`, which is not a tensor and has no default; only \
                         tensor inputs are supported",
                        p.name
                    ),
                });
            }
        }
        Ok(out)
    }

    pub(crate) fn add_input(&mut self, name: &str, ty: TensorType) -> ValueId {
        self.graph.add_input(name, ty)
    }

    /// Runs the root module's `forward` on the graph inputs; returns the output tensors
    /// (nested tuples and lists flattened).
    pub(crate) fn run_forward(
        &mut self,
        class: &str,
        inputs: Vec<ValueId>,
    ) -> Result<Vec<ValueId>> {
        let root = SVal::Module {
            obj: self.tree.root.clone(),
            path: String::new(),
        };
        let params = self.method_params(class, "forward")?;
        let kwargs: Vec<(String, SVal)> = params
            .into_iter()
            .zip(inputs)
            .map(|(n, v)| (n, SVal::V(Val::Tensor(v))))
            .collect();
        let out = self.call_method(&root, "forward", Vec::new(), kwargs)?;
        let mut flat = None;
        flatten(&out, &mut flat);
        match flat {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.program_err(
                "forward returns something other than tensors (or tuples and lists of them)",
            )),
        }
    }

    // ---- the operator check ----------------------------------------------------------

    /// The aten/prim operators the module tree's code calls that are not supported,
    /// with their code locations. Scripted code often calls some only in branches
    /// never taken (training-mode paths, error checks), so the list is reported only
    /// when the import reaches one of them, and then in full.
    pub(crate) fn unsupported_ops(&mut self, tree: &Pickle) -> Result<Vec<UnsupportedOp>> {
        let mut classes: Vec<String> = tree
            .objects()
            .filter_map(|o| match o {
                Obj::Object { class, .. } => Some(class.clone()),
                _ => None,
            })
            .collect();
        classes.sort();
        classes.dedup();
        let mut missing: Vec<UnsupportedOp> = Vec::new();
        let mut funcs: Vec<String> = Vec::new();
        let mut seen_funcs: Vec<String> = Vec::new();
        for class in &classes {
            let (f, ci, entry) = self.class(class)?;
            let c = &f.classes[ci];
            for d in &c.methods {
                let at = format!("{entry}:{{}} ({}.{})", c.name, d.name);
                scan_def(d, &at, &mut missing, &mut funcs);
            }
        }
        while let Some(q) = funcs.pop() {
            if seen_funcs.contains(&q) {
                continue;
            }
            seen_funcs.push(q.clone());
            let (module, name) = q.rsplit_once('.').unwrap_or(("__torch__", &q));
            // References to classes (annotations, constructors) have no such file.
            let Ok((f, entry)) = self.load(module) else {
                continue;
            };
            if let Some(d) = f.functions.iter().find(|d| d.name == name) {
                let at = format!("{entry}:{{}} ({name})");
                scan_def(d, &at, &mut missing, &mut funcs);
            }
        }
        Ok(missing)
    }

    // ---- values ---------------------------------------------------------------------

    /// A pickled value as an interpreter value; tensors become IR constants (once per
    /// object). `path` names it.
    fn value_of_pickled(
        &mut self,
        p: &'a Pickle,
        v: &PyVal,
        is_const: bool,
        path: &str,
        depth: usize,
    ) -> Result<SVal> {
        if depth > MAX_VALUE_DEPTH {
            return Err(self.program_err(format!("attribute `{path}` nests too deeply")));
        }
        Ok(match v {
            PyVal::None => SVal::V(Val::None),
            PyVal::Bool(b) => SVal::V(Val::Bool(*b)),
            PyVal::Int(i) => SVal::V(Val::Int(*i)),
            PyVal::Float(f) => SVal::V(Val::Float(*f)),
            PyVal::Str(s) => SVal::V(Val::Str(s.to_string())),
            PyVal::Ref(_) => {
                match p.obj(v) {
                    Some(Obj::Object { .. }) => SVal::Module {
                        obj: v.clone(),
                        path: path.to_string(),
                    },
                    Some(Obj::Tensor(meta)) => {
                        let key = (is_const, v.ref_id().unwrap_or(u32::MAX));
                        if let Some(&t) = self.tensors.get(&key) {
                            return Ok(SVal::V(Val::Tensor(t)));
                        }
                        let store = if is_const {
                            &mut self.const_data
                        } else {
                            &mut self.data
                        };
                        let t = store.tensor(meta, path)?;
                        let id = self.graph.add_const(path, t);
                        self.tensors.insert(key, id);
                        SVal::V(Val::Tensor(id))
                    }
                    Some(Obj::Tuple(items)) | Some(Obj::List(items)) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (i, it) in items.iter().enumerate() {
                            match self.value_of_pickled(p, it, is_const, &format!("{path}.{i}"), depth + 1)? {
                            SVal::V(v) => out.push(v),
                            _ => {
                                return Err(self.program_err(format!(
                                    "attribute `{path}` is a list of modules, which is not supported"
                                )))
                            }
                        }
                        }
                        SVal::V(Val::List(out))
                    }
                    _ => {
                        return Err(self.program_err(format!(
                            "attribute `{path}` has a type neoc does not read (a dict, bytes or a \
                         storage)"
                        )))
                    }
                }
            }
        })
    }

    /// `CONSTANTS.c<i>`.
    fn constant(&mut self, name: &str) -> Result<SVal> {
        let idx = name.strip_prefix('c').and_then(|n| n.parse::<usize>().ok());
        let (Some(i), Some(p)) = (idx, self.consts) else {
            return Err(self.code_err(format!("CONSTANTS.{name} does not exist")));
        };
        let v = p
            .items(&p.root)
            .and_then(|items| items.get(i))
            .cloned()
            .ok_or_else(|| self.code_err(format!("CONSTANTS.{name} does not exist")))?;
        self.value_of_pickled(p, &v, true, &format!("CONSTANTS.{name}"), 0)
    }

    /// Attribute `name` of module object `obj`: its pickled state first, then the
    /// class's constants.
    pub(super) fn module_attr(&mut self, obj: &PyVal, path: &str, name: &str) -> Result<SVal> {
        let tree = self.tree;
        let Some(Obj::Object { class, state }) = tree.obj(obj) else {
            return Err(self.code_err("attribute of something that is not a module"));
        };
        let sub = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        if let Some(v) = state.as_ref().and_then(|s| tree.dict_get(s, name)) {
            return self.value_of_pickled(tree, v, false, &sub, 0);
        }
        let (f, ci, _) = self.class(class)?;
        if let Some((_, e)) = f.classes[ci].consts.iter().find(|(n, _)| n == name) {
            return self.eval(e);
        }
        if f.classes[ci].methods.iter().any(|d| d.name == name) {
            return Ok(SVal::Path(format!("{class}::{name}")));
        }
        Err(self.code_err(format!(
            "module `{}` ({class}) has no attribute `{name}`",
            if path.is_empty() { "<root>" } else { path }
        )))
    }

    // ---- calls ----------------------------------------------------------------------

    /// Calls `method` of module `module`, inlining its body.
    pub(super) fn call_method(
        &mut self,
        module: &SVal,
        method: &str,
        args: Vec<SVal>,
        kwargs: Vec<(String, SVal)>,
    ) -> Result<SVal> {
        let SVal::Module { obj, path } = module else {
            return Err(self.code_err("a method call on something that is not a module"));
        };
        let Some(Obj::Object { class, .. }) = self.tree.obj(obj) else {
            return Err(self.code_err("a method call on something that is not a module"));
        };
        let class = class.clone();
        let (f, ci, entry) = self.class(&class)?;
        let def = f.classes[ci]
            .methods
            .iter()
            .find(|d| d.name == method)
            .ok_or_else(|| self.code_err(format!("{class} has no method `{method}`")))?;
        let mut all = vec![module.clone()];
        all.extend(args);
        let func = format!("{}.{method}", f.classes[ci].name);
        self.invoke(def, &entry, &func, path, all, kwargs)
    }

    /// Calls the script function `qualname` (`__torch__.torch.nn.functional.relu`).
    pub(super) fn call_function(
        &mut self,
        qualname: &str,
        args: Vec<SVal>,
        kwargs: Vec<(String, SVal)>,
    ) -> Result<SVal> {
        let (module, name) = qualname.rsplit_once('.').unwrap_or(("__torch__", qualname));
        let (f, entry) = self.load(module)?;
        let def = f
            .functions
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| self.code_err(format!("{qualname} is not defined")))?;
        let scope = self
            .frames
            .last()
            .map(|f| f.scope.clone())
            .unwrap_or_default();
        self.invoke(def, &entry, name, &scope, args, kwargs)
    }

    fn invoke(
        &mut self,
        def: &Def,
        entry: &str,
        func: &str,
        scope: &str,
        args: Vec<SVal>,
        kwargs: Vec<(String, SVal)>,
    ) -> Result<SVal> {
        if self.frames.len() >= MAX_CALL_DEPTH {
            return Err(self.code_err(format!("calls nest deeper than {MAX_CALL_DEPTH}")));
        }
        if args.len() > def.params.len() {
            return Err(self.code_err(format!(
                "{func} takes {} arguments, {} were given",
                def.params.len(),
                args.len()
            )));
        }
        let caller_line = self.line;
        let mut vars = HashMap::new();
        let mut args = args.into_iter();
        for p in &def.params {
            let v = match args.next() {
                Some(v) => v,
                None => match kwargs.iter().find(|(n, _)| *n == p.name) {
                    Some((_, v)) => v.clone(),
                    None => match &p.default {
                        Some(d) => self.eval(d)?,
                        None => {
                            return Err(
                                self.code_err(format!("{func}: argument `{}` is missing", p.name))
                            )
                        }
                    },
                },
            };
            vars.insert(p.name.clone(), v);
        }
        self.frames.push(Frame {
            vars,
            entry: entry.to_string(),
            func: func.to_string(),
            scope: scope.to_string(),
        });
        let flow = self.exec_block(&def.body);
        self.frames.pop();
        self.line = caller_line;
        match flow? {
            Flow::Return(v) => Ok(v),
            _ => Ok(SVal::V(Val::None)),
        }
    }

    /// Replaces tensor `old` by `new` in every frame (after an in-place op).
    pub(super) fn rebind(&mut self, old: ValueId, new: ValueId) {
        fn swap(v: &mut Val, old: ValueId, new: ValueId) {
            match v {
                Val::Tensor(t) if *t == old => *t = new,
                Val::List(items) => items.iter_mut().for_each(|i| swap(i, old, new)),
                _ => {}
            }
        }
        for f in &mut self.frames {
            for v in f.vars.values_mut() {
                if let SVal::V(v) = v {
                    swap(v, old, new);
                }
            }
        }
    }

    // ---- statements -----------------------------------------------------------------

    fn exec_block(&mut self, body: &[Stmt]) -> Result<Flow> {
        for s in body {
            match self.exec(s)? {
                Flow::Next => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Next)
    }

    fn exec(&mut self, s: &Stmt) -> Result<Flow> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.code_err(format!("more than {MAX_STEPS} statements executed")));
        }
        match s {
            Stmt::Assign {
                targets,
                value,
                line,
            } => {
                self.line = *line;
                let v = self.eval(value)?;
                for t in targets {
                    self.bind(t, v.clone())?;
                }
                Ok(Flow::Next)
            }
            Stmt::Return(e, line) => {
                self.line = *line;
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => SVal::V(Val::None),
                };
                Ok(Flow::Return(v))
            }
            Stmt::Expr(e, line) => {
                self.line = *line;
                self.eval(e)?;
                Ok(Flow::Next)
            }
            Stmt::If {
                cond,
                then,
                orelse,
                line,
            } => {
                self.line = *line;
                let c = self.eval(cond)?;
                if self.truth(&c)? {
                    self.exec_block(then)
                } else {
                    self.exec_block(orelse)
                }
            }
            Stmt::For {
                targets,
                iter,
                body,
                line,
            } => {
                self.line = *line;
                let items = match self.eval(iter)? {
                    SVal::V(Val::List(items)) => items,
                    _ => {
                        return Err(self.code_err(
                            "a for loop over something that is not a constant list or range",
                        ))
                    }
                };
                for it in items {
                    match targets.as_slice() {
                        [t] => self.bind(t, SVal::V(it))?,
                        ts => self.bind(&Expr::Tuple(ts.to_vec()), SVal::V(it))?,
                    }
                    match self.exec_block(body)? {
                        Flow::Break => break,
                        Flow::Return(v) => return Ok(Flow::Return(v)),
                        _ => {}
                    }
                }
                Ok(Flow::Next)
            }
            Stmt::While(line) => {
                self.line = *line;
                Err(self.code_err("while loops are not supported (neoc compiles static graphs)"))
            }
            Stmt::Raise(line) => {
                self.line = *line;
                Err(self.code_err("the model raises an exception here for these inputs"))
            }
            Stmt::Pass => Ok(Flow::Next),
            Stmt::Break(_) => Ok(Flow::Break),
            Stmt::Continue(_) => Ok(Flow::Continue),
        }
    }

    fn bind(&mut self, target: &Expr, v: SVal) -> Result<()> {
        match target {
            Expr::Name(n) => {
                if let Some(f) = self.frames.last_mut() {
                    f.vars.insert(n.clone(), v);
                }
                Ok(())
            }
            Expr::Tuple(ts) | Expr::List(ts) => {
                let items = match v {
                    SVal::V(Val::List(items)) => items,
                    _ => return Err(self.code_err("unpacking something that is not a tuple")),
                };
                if items.len() != ts.len() {
                    return Err(self.code_err(format!(
                        "unpacking {} values into {} names",
                        items.len(),
                        ts.len()
                    )));
                }
                for (t, it) in ts.iter().zip(items) {
                    self.bind(t, SVal::V(it))?;
                }
                Ok(())
            }
            _ => Err(self.code_err("assignment to an attribute or item is not supported")),
        }
    }

    /// The truth of a condition, which must be known at import.
    pub(super) fn truth(&self, v: &SVal) -> Result<bool> {
        match v {
            SVal::V(Val::Bool(b)) => Ok(*b),
            SVal::V(Val::Int(i)) => Ok(*i != 0),
            SVal::V(Val::Float(f)) => Ok(*f != 0.0),
            SVal::V(Val::None) => Ok(false),
            SVal::V(Val::List(l)) => Ok(!l.is_empty()),
            SVal::V(Val::Str(s)) => Ok(!s.is_empty()),
            SVal::V(Val::Tensor(t)) => match self.graph.const_value(*t) {
                Some(c) if c.num_elements() == 1 => Ok(c.to_f64_vec()[0] != 0.0),
                _ => Err(self.code_err(
                    "a condition depends on tensor data (data-dependent control flow is not \
                     supported; trace the model instead)",
                )),
            },
            _ => Ok(true),
        }
    }

    // ---- expressions ----------------------------------------------------------------

    pub(super) fn eval(&mut self, e: &Expr) -> Result<SVal> {
        Ok(match e {
            Expr::Int(i) => SVal::V(Val::Int(*i)),
            Expr::Float(f) => SVal::V(Val::Float(*f)),
            Expr::Str(s) => SVal::V(Val::Str(s.clone())),
            Expr::Bool(b) => SVal::V(Val::Bool(*b)),
            Expr::None => SVal::V(Val::None),
            Expr::Name(n) => match self.frames.last().and_then(|f| f.vars.get(n)) {
                Some(v) => v.clone(),
                None => SVal::Path(n.clone()),
            },
            Expr::Attr(base, name) => {
                let b = self.eval(base)?;
                match b {
                    SVal::Module { obj, path } => self.module_attr(&obj, &path, name)?,
                    SVal::Path(p) if p == "CONSTANTS" => self.constant(name)?,
                    SVal::Path(p) => SVal::Path(format!("{p}.{name}")),
                    SVal::V(v) => {
                        return Err(self.code_err(format!("attribute `{name}` of {}", v.kind())))
                    }
                }
            }
            Expr::Call { func, args, kwargs } => {
                let mut a = Vec::with_capacity(args.len());
                for x in args {
                    a.push(self.eval(x)?);
                }
                let mut k = Vec::with_capacity(kwargs.len());
                for (n, x) in kwargs {
                    k.push((n.clone(), self.eval(x)?));
                }
                if let Expr::Attr(base, method) = &**func {
                    let b = self.eval(base)?;
                    if matches!(b, SVal::Module { .. }) {
                        return self.call_method(&b, method, a, k);
                    }
                }
                match self.eval(func)? {
                    SVal::Path(p) => builtins::call(self, &p, a, k)?,
                    other => {
                        return Err(
                            self.code_err(format!("calling {other:?}, which is not callable"))
                        )
                    }
                }
            }
            Expr::List(items) | Expr::Tuple(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    match self.eval(x)? {
                        SVal::V(v) => out.push(v),
                        // Types inside annotations (`Tuple[Tensor, int]`).
                        SVal::Path(p) => out.push(Val::Str(p)),
                        SVal::Module { .. } => {
                            return Err(self.code_err("lists of modules are not supported"))
                        }
                    }
                }
                SVal::V(Val::List(out))
            }
            Expr::Subscript(base, idx) => {
                let b = self.eval(base)?;
                let i = self.eval(idx)?;
                match (b, i) {
                    (SVal::V(Val::List(items)), SVal::V(Val::Int(i))) => {
                        let n = items.len() as i64;
                        let j = if i < 0 { i + n } else { i };
                        let v = usize::try_from(j)
                            .ok()
                            .and_then(|j| items.get(j).cloned())
                            .ok_or_else(|| self.code_err(format!("index {i} is out of range")))?;
                        SVal::V(v)
                    }
                    // Type expressions (`List[int]`) evaluate to their path.
                    (SVal::Path(p), _) => SVal::Path(p),
                    _ => return Err(self.code_err("unsupported subscript")),
                }
            }
            Expr::Slice(..) => return Err(self.code_err("slices of lists are not supported")),
            Expr::Unary(op, x) => {
                let v = self.eval(x)?;
                builtins::unary(self, op, v)?
            }
            Expr::Binary(op, a, b) => {
                if *op == "and" || *op == "or" {
                    let l = self.eval(a)?;
                    let lt = self.truth(&l)?;
                    return if (*op == "and") != lt {
                        Ok(l)
                    } else {
                        self.eval(b)
                    };
                }
                let l = self.eval(a)?;
                let r = self.eval(b)?;
                builtins::binary(self, op, l, r)?
            }
            Expr::IfElse(c, a, b) => {
                let cv = self.eval(c)?;
                if self.truth(&cv)? {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
        })
    }
}

/// The tensors of a (nested) tuple or list value; `None` when something else appears.
fn flatten(v: &SVal, out: &mut Option<Vec<ValueId>>) {
    fn go(v: &Val, out: &mut Vec<ValueId>) -> bool {
        match v {
            Val::Tensor(t) => {
                out.push(*t);
                true
            }
            Val::List(items) => items.iter().all(|i| go(i, out)),
            _ => false,
        }
    }
    let mut acc = Vec::new();
    *out = match v {
        SVal::V(v) if go(v, &mut acc) => Some(acc),
        _ => None,
    };
}

/// Collects the unsupported operators `def` calls (locations `at` with the line) and
/// the script functions it calls.
fn scan_def(def: &Def, at: &str, missing: &mut Vec<UnsupportedOp>, funcs: &mut Vec<String>) {
    fn dotted(e: &Expr) -> Option<String> {
        match e {
            Expr::Name(n) => Some(n.clone()),
            Expr::Attr(b, a) => dotted(b).map(|d| format!("{d}.{a}")),
            _ => None,
        }
    }
    fn expr(
        e: &Expr,
        line: usize,
        at: &str,
        missing: &mut Vec<UnsupportedOp>,
        funcs: &mut Vec<String>,
    ) {
        match e {
            Expr::Call { func, args, kwargs } => {
                if let Some(p) = dotted(func) {
                    if p.starts_with("__torch__.") {
                        funcs.push(p);
                    } else if let Some(false) = builtins::is_supported(&p) {
                        let loc = at.replace("{}", &line.to_string());
                        match missing.iter_mut().find(|m| m.op == p) {
                            Some(m) => m.nodes.push(loc),
                            None => missing.push(UnsupportedOp {
                                op: p,
                                nodes: vec![loc],
                            }),
                        }
                    }
                }
                expr(func, line, at, missing, funcs);
                args.iter().for_each(|a| expr(a, line, at, missing, funcs));
                kwargs
                    .iter()
                    .for_each(|(_, a)| expr(a, line, at, missing, funcs));
            }
            Expr::Attr(b, _) => {
                // A script function referenced before it is called (`_0 = __torch__.f`).
                if let Some(p) = dotted(e).filter(|p| p.starts_with("__torch__.")) {
                    funcs.push(p);
                }
                expr(b, line, at, missing, funcs)
            }
            Expr::Unary(_, b) => expr(b, line, at, missing, funcs),
            Expr::List(v) | Expr::Tuple(v) => {
                v.iter().for_each(|a| expr(a, line, at, missing, funcs))
            }
            Expr::Subscript(a, b) | Expr::Binary(_, a, b) => {
                expr(a, line, at, missing, funcs);
                expr(b, line, at, missing, funcs);
            }
            Expr::IfElse(a, b, c) => {
                expr(a, line, at, missing, funcs);
                expr(b, line, at, missing, funcs);
                expr(c, line, at, missing, funcs);
            }
            _ => {}
        }
    }
    fn block(body: &[Stmt], at: &str, missing: &mut Vec<UnsupportedOp>, funcs: &mut Vec<String>) {
        for s in body {
            match s {
                Stmt::Assign { value, line, .. } => expr(value, *line, at, missing, funcs),
                Stmt::Return(Some(e), line) | Stmt::Expr(e, line) => {
                    expr(e, *line, at, missing, funcs)
                }
                Stmt::If {
                    cond,
                    then,
                    orelse,
                    line,
                } => {
                    expr(cond, *line, at, missing, funcs);
                    block(then, at, missing, funcs);
                    block(orelse, at, missing, funcs);
                }
                Stmt::For {
                    iter, body, line, ..
                } => {
                    expr(iter, *line, at, missing, funcs);
                    block(body, at, missing, funcs);
                }
                _ => {}
            }
        }
    }
    block(&def.body, at, missing, funcs);
}
