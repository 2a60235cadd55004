//! The import algorithm shared by frozen graphs and SavedModels: evaluate the graph
//! (and the functions it calls) backwards from the wanted outputs, building IR nodes.
//!
//! ```text
//! wanted tensors ──order──▶ needed nodes (post-order; only data edges)
//!                 ──scan───▶ every op of them and of the functions they call checked
//!                            against the table: all unsupported ones reported at once
//!                 ──build──▶ one builder per node; a call node evaluates its callee's
//!                            body with the call's inputs as arguments (inlining)
//! ```
//!
//! Only what the outputs need is imported, so a SavedModel's saving/restoring
//! functions, initialisers and training branches are never looked at. Control edges
//! (`^node`) are ignored: without side effects they do not change values. Function
//! bodies name tensors `node:output_arg:index`; the flat output index comes from the
//! op's output arguments ([`out_port`]). Variables are resolved through [`Resources`]
//! (a SavedModel's checkpoint; a frozen graph has none).

use crate::error::{Result, TfError, UnsupportedOp};
use crate::ops::{self, Ctx, Handling};
use crate::proto::{FunctionDef, NodeDef};
use crate::value::{Val, Values};
use neoc_ir::{Graph, IrError, Op, ValueDef, ValueId};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Deepest nesting of function calls followed (a bound against recursive libraries).
const MAX_CALL_DEPTH: usize = 64;

/// Where variables come from.
pub(crate) trait Resources {
    /// How many trailing inputs of a top-level call to `function` are captures bound
    /// by the object graph (and so are not evaluated from the graph).
    fn capture_count(&self, function: &str) -> usize;
    /// The values of those captures.
    fn captures(&mut self, g: &mut Graph, function: &str) -> Result<Vec<Captured>>;
    /// The value of a variable op of the top-level graph (`VarHandleOp`, `VariableV2`).
    fn variable(&mut self, g: &mut Graph, node: &NodeDef) -> Result<ValueId>;
}

/// A value a function captured: a variable, or a constant tensor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Captured {
    Resource(ValueId),
    Tensor(ValueId),
}

/// A reference to a tensor of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ref {
    /// Output `port` of node `name`.
    Node(String, usize),
    /// Argument `i` of the function.
    Arg(usize),
}

/// A graph or function body: its nodes by name and (functions) its arguments.
pub(crate) struct Body<'m> {
    /// The function's name; empty for the top-level graph.
    pub(crate) function: &'m str,
    nodes: HashMap<&'m str, &'m NodeDef>,
    args: HashMap<&'m str, usize>,
}

impl<'m> Body<'m> {
    pub(crate) fn graph(nodes: &'m [NodeDef]) -> Body<'m> {
        Body {
            function: "",
            nodes: nodes.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: HashMap::new(),
        }
    }

    fn function(f: &'m FunctionDef) -> Body<'m> {
        let sig = f.signature.as_ref();
        Body {
            function: sig.map_or("", |s| s.name.as_str()),
            nodes: f.node_def.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: sig
                .map(|s| {
                    s.input_arg
                        .iter()
                        .enumerate()
                        .map(|(i, a)| (a.name.as_str(), i))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub(crate) fn node(&self, name: &str) -> Option<&'m NodeDef> {
        self.nodes.get(name).copied()
    }

    /// Parses an input or output reference; `None` for a control input (`^node`).
    pub(crate) fn parse(&self, s: &str, node_op: impl Fn(&str) -> Option<String>) -> Option<Ref> {
        if s.starts_with('^') {
            return None;
        }
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [name] => match self.args.get(name) {
                Some(&i) if !self.function.is_empty() => Some(Ref::Arg(i)),
                _ => Some(Ref::Node((*name).to_string(), 0)),
            },
            [name, port] => Some(Ref::Node(
                (*name).to_string(),
                port.parse().unwrap_or(usize::MAX),
            )),
            [name, arg, idx] => {
                let idx: usize = idx.parse().unwrap_or(usize::MAX);
                let op = node_op(name).unwrap_or_default();
                Some(Ref::Node(
                    (*name).to_string(),
                    out_port(&op, arg).saturating_add(idx),
                ))
            }
            _ => Some(Ref::Node(s.to_string(), usize::MAX)),
        }
    }

    fn data_inputs(&self, n: &NodeDef) -> Vec<Ref> {
        n.input
            .iter()
            .filter_map(|s| self.parse(s, |name| self.node(name).map(|n| n.op.clone())))
            .collect()
    }
}

/// The flat output index of output argument `arg` of an op (function bodies name
/// outputs by argument). Ops with one output argument (a single tensor or a list)
/// start it at 0.
fn out_port(op: &str, arg: &str) -> usize {
    match op {
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => match arg {
            "batch_mean" => 1,
            "batch_variance" => 2,
            "reserve_space_1" => 3,
            "reserve_space_2" => 4,
            "reserve_space_3" => 5,
            _ => 0,
        },
        _ => 0,
    }
}

fn is_call(op: &str) -> bool {
    matches!(op, "StatefulPartitionedCall" | "PartitionedCall")
}

/// The importer's state for one model.
pub(crate) struct Importer<'m, 'r> {
    pub(crate) file: String,
    pub(crate) g: Graph,
    vals: Values,
    functions: HashMap<&'m str, &'m FunctionDef>,
    resources: &'r mut dyn Resources,
}

impl<'m, 'r> Importer<'m, 'r> {
    pub(crate) fn new(
        file: String,
        name: &str,
        functions: &'m [FunctionDef],
        resources: &'r mut dyn Resources,
    ) -> Importer<'m, 'r> {
        Importer {
            file,
            g: Graph::new(name),
            vals: Values::default(),
            functions: functions
                .iter()
                .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
                .collect(),
            resources,
        }
    }

    pub(crate) fn model_err(&self, message: impl Into<String>) -> TfError {
        TfError::Model {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    fn function(&self, node: &NodeDef) -> Result<&'m FunctionDef> {
        let name = crate::attrs::func(node).unwrap_or_default();
        self.functions.get(name).copied().ok_or_else(|| {
            self.model_err(format!(
                "node \"{}\" calls function \"{name}\", which is not in the graph's library",
                node.name
            ))
        })
    }

    /// The nodes `roots` need, in an order where inputs come first. In the top-level
    /// graph, `bound` nodes are not followed and a call's captured inputs are skipped.
    pub(crate) fn order(
        &self,
        body: &Body<'m>,
        roots: &[Ref],
        bound: &HashSet<String>,
    ) -> Result<Vec<&'m NodeDef>> {
        let mut state: HashMap<&str, bool> = HashMap::new(); // false: in progress
        let mut out = Vec::new();
        let mut stack: Vec<(&'m NodeDef, Vec<Ref>, usize)> = Vec::new();
        let in_body = if body.function.is_empty() {
            String::new()
        } else {
            format!(" in function {}", body.function)
        };
        for root in roots {
            let Ref::Node(name, _) = root else { continue };
            let Some(start) = body.node(name) else {
                return Err(self.model_err(format!("no node named \"{name}\"{in_body}")));
            };
            if state.contains_key(start.name.as_str()) {
                continue;
            }
            state.insert(&start.name, false);
            stack.push((start, self.inputs_to_follow(body, start, bound), 0));
            while let Some((node, inputs, next)) = stack.last_mut() {
                let node: &'m NodeDef = node;
                let Some(r) = inputs.get(*next).cloned() else {
                    state.insert(&node.name, true);
                    out.push(node);
                    stack.pop();
                    continue;
                };
                *next += 1;
                let Ref::Node(name, _) = r else { continue };
                let Some(child) = body.node(&name) else {
                    return Err(self.model_err(format!(
                        "node \"{}\"{} reads \"{name}\", which does not exist",
                        node.name, in_body
                    )));
                };
                match state.get(child.name.as_str()) {
                    Some(true) => {}
                    Some(false) => {
                        return Err(self.model_err(format!(
                            "the graph has a cycle through node \"{}\"{} (while loops are \
                             not supported)",
                            child.name, in_body
                        )))
                    }
                    None => {
                        state.insert(&child.name, false);
                        let ins = self.inputs_to_follow(body, child, bound);
                        stack.push((child, ins, 0));
                    }
                }
            }
        }
        Ok(out)
    }

    fn inputs_to_follow(&self, body: &Body<'m>, n: &NodeDef, bound: &HashSet<String>) -> Vec<Ref> {
        if bound.contains(&n.name) {
            return vec![];
        }
        let mut ins = body.data_inputs(n);
        if body.function.is_empty() && is_call(&n.op) {
            let k = self
                .resources
                .capture_count(crate::attrs::func(n).unwrap_or_default());
            ins.truncate(ins.len().saturating_sub(k));
        }
        ins
    }

    /// Checks every op the roots need (through calls) against the table; all
    /// unsupported ops are reported together.
    pub(crate) fn check_supported(
        &self,
        body: &Body<'m>,
        roots: &[Ref],
        bound: &HashSet<String>,
    ) -> Result<()> {
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut work: Vec<(Body<'m>, Vec<Ref>)> = Vec::new();
        let first = self.order(body, roots, bound)?;
        let mut visit = |nodes: Vec<&'m NodeDef>,
                         function: &str,
                         work: &mut Vec<(Body<'m>, Vec<Ref>)>|
         -> Result<()> {
            for n in nodes {
                if bound.contains(&n.name) && function.is_empty() {
                    continue;
                }
                if is_call(&n.op) {
                    let f = self.function(n)?;
                    let name = f.signature.as_ref().map_or("", |s| s.name.as_str());
                    if seen.insert(name) {
                        let b = Body::function(f);
                        let rets = self.rets(&b, f)?;
                        work.push((b, rets));
                    }
                } else if ops::lookup(&n.op).is_none() {
                    let at = if function.is_empty() {
                        n.name.clone()
                    } else {
                        format!("{function}/{}", n.name)
                    };
                    missing.entry(n.op.clone()).or_default().push(at);
                }
            }
            Ok(())
        };
        visit(first, "", &mut work)?;
        while let Some((b, rets)) = work.pop() {
            let nodes = self.order(&b, &rets, &HashSet::new())?;
            visit(nodes, b.function, &mut work)?;
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(TfError::UnsupportedOps {
            file: self.file.clone(),
            ops: missing
                .into_iter()
                .map(|(op, nodes)| UnsupportedOp { op, nodes })
                .collect(),
        })
    }

    /// A function's results in output order.
    fn rets(&self, body: &Body<'m>, f: &'m FunctionDef) -> Result<Vec<Ref>> {
        let sig = f.signature.as_ref();
        let name = sig.map_or("", |s| s.name.as_str());
        sig.map(|s| s.output_arg.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let r = f.ret.get(&a.name).ok_or_else(|| {
                    self.model_err(format!(
                        "function {name} does not return its output {}",
                        a.name
                    ))
                })?;
                body.parse(r, |n| body.node(n).map(|n| n.op.clone()))
                    .ok_or_else(|| self.model_err(format!("function {name}: bad result {r}")))
            })
            .collect()
    }

    /// Evaluates `wanted` tensors of `body`; `args` are the function's arguments and
    /// `bound` the values of pre-bound nodes (graph inputs).
    pub(crate) fn eval(
        &mut self,
        body: &Body<'m>,
        args: &[Val],
        wanted: &[Ref],
        bound: &HashMap<String, Vec<Val>>,
        depth: usize,
    ) -> Result<Vec<Val>> {
        if depth > MAX_CALL_DEPTH {
            return Err(self.model_err(format!(
                "function calls nest deeper than {MAX_CALL_DEPTH} (at {})",
                body.function
            )));
        }
        let bound_names: HashSet<String> = bound.keys().cloned().collect();
        let order = self.order(body, wanted, &bound_names)?;
        let mut values: HashMap<&str, Vec<Val>> = HashMap::new();
        for node in order {
            let outs = match bound.get(&node.name) {
                Some(v) => v.clone(),
                None => self.build(body, node, args, &values, depth)?,
            };
            values.insert(&node.name, outs);
        }
        wanted
            .iter()
            .map(|r| self.lookup(body, r, args, &values))
            .collect()
    }

    fn lookup(
        &self,
        body: &Body<'m>,
        r: &Ref,
        args: &[Val],
        values: &HashMap<&str, Vec<Val>>,
    ) -> Result<Val> {
        let in_fn = if body.function.is_empty() {
            String::new()
        } else {
            format!(" in function {}", body.function)
        };
        match r {
            Ref::Arg(i) => args.get(*i).copied().ok_or_else(|| {
                self.model_err(format!("argument {i}{in_fn} is not given by the call"))
            }),
            Ref::Node(name, port) => values
                .get(name.as_str())
                .and_then(|v| v.get(*port))
                .copied()
                .ok_or_else(|| {
                    self.model_err(format!(
                        "tensor \"{name}:{port}\"{in_fn} does not exist (the node has \
                         fewer outputs, or none)"
                    ))
                }),
        }
    }

    fn build(
        &mut self,
        body: &Body<'m>,
        node: &'m NodeDef,
        args: &[Val],
        values: &HashMap<&str, Vec<Val>>,
        depth: usize,
    ) -> Result<Vec<Val>> {
        let top = body.function.is_empty();
        let mut refs = body.data_inputs(node);
        let mut captures = Vec::new();
        if top && is_call(&node.op) {
            let f = crate::attrs::func(node).unwrap_or_default();
            let k = self.resources.capture_count(f);
            refs.truncate(refs.len().saturating_sub(k));
            if k > 0 {
                for c in self.resources.captures(&mut self.g, f)? {
                    captures.push(match c {
                        Captured::Resource(v) => Val::Resource(v),
                        Captured::Tensor(v) => self.input_val(v),
                    });
                }
            }
        }
        let mut inputs = refs
            .iter()
            .map(|r| self.lookup(body, r, args, values))
            .collect::<Result<Vec<_>>>()?;
        inputs.extend(captures);
        match node.op.as_str() {
            op if is_call(op) => {
                let f = self.function(node)?;
                let callee = Body::function(f);
                let rets = self.rets(&callee, f)?;
                let n_args = f.signature.as_ref().map_or(0, |s| s.input_arg.len());
                if inputs.len() != n_args {
                    return Err(self.model_err(format!(
                        "node \"{}\" passes {} inputs to {}, which takes {n_args}",
                        node.name,
                        inputs.len(),
                        callee.function
                    )));
                }
                self.eval(&callee, &inputs, &rets, &HashMap::new(), depth + 1)
            }
            "Placeholder" => Err(self.model_err(format!(
                "Placeholder \"{}\" is needed but is not an input of the model{}",
                node.name,
                if top { "" } else { " (inside a function)" }
            ))),
            // A resource variable is a handle that ReadVariableOp reads; a TF1
            // reference variable is its value.
            "VarHandleOp" if top => {
                let v = self.resources.variable(&mut self.g, node)?;
                Ok(vec![Val::Resource(v)])
            }
            "VariableV2" if top => {
                let v = self.resources.variable(&mut self.g, node)?;
                Ok(vec![self.input_val(v)])
            }
            op => {
                let Some(spec) = ops::lookup(op) else {
                    return Err(TfError::UnsupportedOps {
                        file: self.file.clone(),
                        ops: vec![UnsupportedOp {
                            op: op.to_string(),
                            nodes: vec![node.name.clone()],
                        }],
                    });
                };
                let Handling::Build(f) = spec.handling else {
                    return Err(self.model_err(format!(
                        "node \"{}\" ({op}) cannot be used here (inside function {})",
                        node.name, body.function
                    )));
                };
                let mut ctx = Ctx::new(&mut self.g, &mut self.vals, node, &inputs);
                f(&mut ctx).map_err(|e| self.node_err(node, body.function, e))
            }
        }
    }

    pub(crate) fn node_err(&self, node: &NodeDef, function: &str, e: IrError) -> TfError {
        TfError::Node {
            file: self.file.clone(),
            node: node.name.clone(),
            op: node.op.clone(),
            function: function.to_string(),
            source: Box::new(e),
        }
    }

    /// A new plain tensor for graph input value `v`.
    pub(crate) fn input_val(&mut self, v: ValueId) -> Val {
        Val::Tensor(self.vals.push(crate::value::Forms {
            plain: Some(v),
            nchw: None,
        }))
    }

    /// Makes `outs` (with names) the graph's outputs, in plain form. An output that is
    /// not a node's own result (an input, a constant, or one already listed) gets an
    /// Identity, so each output has its own name and buffer.
    pub(crate) fn set_outputs(&mut self, outs: &[(String, Val)]) -> Result<()> {
        let mut done: Vec<ValueId> = Vec::with_capacity(outs.len());
        for (name, val) in outs {
            let t = match val {
                Val::Tensor(t) => *t,
                Val::Resource(_) => {
                    return Err(self.model_err(format!(
                        "output \"{name}\" is a variable handle, not a tensor"
                    )))
                }
            };
            let node = NodeDef {
                name: name.clone(),
                op: "output".into(),
                ..NodeDef::default()
            };
            let inputs = [*val];
            let mut ctx = Ctx::new(&mut self.g, &mut self.vals, &node, &inputs);
            let v = ctx.plain(t).map_err(|e| self.node_err(&node, "", e))?;
            let own = matches!(self.g.value(v).def, ValueDef::Node(..)) && !done.contains(&v);
            let v = if own {
                v
            } else {
                let out = self
                    .g
                    .add_node_unfolded(name, Op::Identity, vec![Some(v)], vec![name.clone()])
                    .map_err(|e| self.node_err(&node, "", e))?;
                out.first()
                    .copied()
                    .ok_or_else(|| self.model_err("internal error: an Identity without output"))?
            };
            self.g.set_value_name(v, name.clone());
            done.push(v);
        }
        self.g.set_outputs(done);
        Ok(())
    }
}
