//! Patches: how a rewrite rule describes a change without making it.
//!
//! A rule looks at one node of an immutable [`Graph`], bails out early when a guard
//! fails, and otherwise returns a [`Patch`]: constants and nodes to add, values whose
//! readers move to a new value, and nodes to drop once they are dead. [`rewrite`] walks
//! the graph in topological order, asks the rule about each node that still exists and
//! applies each patch before asking about the next node. Nothing mutates the graph
//! while a rule is looking at it.
//!
//! Graph outputs keep their names: when a patch moves the readers of a graph output
//! `old` to `new`, `new` is renamed to `old`'s name (the name the artifact's signature
//! uses). That is only allowed when `new` is not itself a graph input or output, whose
//! name must not change; rules check [`can_replace`] first, and [`Patch::apply`]
//! refuses (internal error) when they did not.

use crate::Result;
use neoc_ir::{Graph, IrError, NodeId, Op, Tensor, ValueDef, ValueId};

/// A value a patch refers to: one already in the graph, or one the patch creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// An existing graph value.
    Graph(ValueId),
    /// The patch's constant number `i`.
    Const(usize),
    /// The (single) output of the patch's node number `i`.
    Node(usize),
}

impl From<ValueId> for Wire {
    fn from(v: ValueId) -> Wire {
        Wire::Graph(v)
    }
}

#[derive(Debug, Clone)]
struct NewNode {
    name: String,
    op: Op,
    inputs: Vec<Option<Wire>>,
    output_name: String,
}

/// A change to a graph, built by a rule and applied by [`Patch::apply`].
#[derive(Debug, Clone, Default)]
pub struct Patch {
    consts: Vec<(String, Tensor)>,
    nodes: Vec<NewNode>,
    replace: Vec<(ValueId, Wire)>,
    remove: Vec<NodeId>,
}

impl Patch {
    pub fn new() -> Patch {
        Patch::default()
    }

    /// A patch that moves every reader of `old` to `new`.
    pub fn forward(old: ValueId, new: impl Into<Wire>) -> Patch {
        let mut p = Patch::new();
        p.replace(old, new);
        p
    }

    /// Adds a constant.
    pub fn add_const(&mut self, name: impl Into<String>, t: Tensor) -> Wire {
        self.consts.push((name.into(), t));
        Wire::Const(self.consts.len() - 1)
    }

    /// Adds a single-output node (folded to a constant on application when all its
    /// inputs are constants).
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<Option<Wire>>,
        output_name: impl Into<String>,
    ) -> Wire {
        self.nodes.push(NewNode {
            name: name.into(),
            op,
            inputs,
            output_name: output_name.into(),
        });
        Wire::Node(self.nodes.len() - 1)
    }

    /// Makes every reader of `old` (nodes and graph outputs) read `new`; types must match.
    pub fn replace(&mut self, old: ValueId, new: impl Into<Wire>) {
        self.replace.push((old, new.into()));
    }

    /// Removes node `n` after the replacements, if none of its outputs is still used.
    pub fn remove_if_dead(&mut self, n: NodeId) {
        self.remove.push(n);
    }

    /// Applies the patch. Errors are internal bugs of the rule that built it (a type
    /// mismatch, a renamed graph input) or shape errors of the new nodes.
    pub fn apply(self, graph: &mut Graph) -> Result<()> {
        let consts: Vec<ValueId> = self
            .consts
            .into_iter()
            .map(|(name, t)| graph.add_const(name, t))
            .collect();
        let mut made: Vec<ValueId> = Vec::with_capacity(self.nodes.len());
        let resolve = |w: Wire, made: &[ValueId]| -> Result<ValueId> {
            match w {
                Wire::Graph(v) => Some(v),
                Wire::Const(i) => consts.get(i).copied(),
                Wire::Node(i) => made.get(i).copied(),
            }
            .ok_or_else(|| IrError::Internal(format!("patch refers to a later value {w:?}")))
        };
        for n in self.nodes {
            let inputs = n
                .inputs
                .iter()
                .map(|w| w.map(|w| resolve(w, &made)).transpose())
                .collect::<Result<Vec<_>>>()?;
            let outs = graph.add_node(n.name, n.op, inputs, vec![n.output_name])?;
            let Some(&out) = outs.first() else {
                return Err(IrError::Internal("patch node has no output".into()));
            };
            made.push(out);
        }
        for (old, new) in self.replace {
            let new = resolve(new, &made)?;
            if old == new {
                continue;
            }
            if !can_replace(graph, old, new) {
                return Err(IrError::Internal(format!(
                    "patch would rename graph input/output {new} to `{}`",
                    graph.value(old).name
                )));
            }
            if graph.outputs().contains(&old) {
                let name = graph.value(old).name.clone();
                graph.set_value_name(new, name);
            }
            graph.replace_uses(old, new)?;
        }
        for n in self.remove {
            if graph.contains_node(n) && !graph.node(n).outputs.iter().any(|&v| graph.is_used(v)) {
                graph.remove_node(n);
            }
        }
        Ok(())
    }
}

/// True when the readers of `old` may move to `new`: `old` is not a graph output, or
/// `new` is neither a graph input nor a graph output (so it can take `old`'s name).
pub fn can_replace(graph: &Graph, old: ValueId, new: ValueId) -> bool {
    old == new
        || !graph.outputs().contains(&old)
        || !(graph.inputs().contains(&new) || graph.outputs().contains(&new))
}

/// True when `v` is computed by a node that nothing but `reader` reads and that is not
/// a graph output: folding that node into `reader` loses no other use.
pub fn single_use(graph: &Graph, v: ValueId, reader: NodeId) -> bool {
    !graph.outputs().contains(&v) && graph.consumers(v) == [reader]
}

/// The node that defines `v`, when a node does.
pub fn producer(graph: &Graph, v: ValueId) -> Option<NodeId> {
    match graph.value(v).def {
        ValueDef::Node(n, _) => Some(n),
        _ => None,
    }
}

/// Walks the graph in topological order, applying the patch `rule` returns for each
/// node that still exists. Returns whether any patch was applied.
pub fn rewrite(
    graph: &mut Graph,
    mut rule: impl FnMut(&Graph, NodeId) -> Result<Option<Patch>>,
) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        if !graph.contains_node(n) {
            continue;
        }
        if let Some(p) = rule(graph, n)? {
            p.apply(graph)?;
            changed = true;
        }
    }
    Ok(changed)
}
