//! The graph: values, nodes and the dataflow edges between them (petgraph).

use crate::error::{IrError, Result};
use crate::ops::Op;
use crate::shape::TensorType;
use crate::tensor::Tensor;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::fmt;

/// A tensor value, printed `%N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// An operator node, printed `nN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub NodeIndex);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0.index())
    }
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueDef {
    /// Graph input number `i`.
    Input(usize),
    /// A constant (weight or folded value).
    Const(Tensor),
    /// Output `i` of a node.
    Node(NodeId, usize),
}

/// A typed tensor value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The source model's name for it (unique names are not required).
    pub name: String,
    pub ty: TensorType,
    pub def: ValueDef,
}

/// An operator applied to values.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The source model's node name (made up from the op when the source had none).
    pub name: String,
    pub op: Op,
    /// Operand values; `None` for an absent optional input.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

/// A dataflow graph. Invariants: every node input refers to an existing value; every
/// value's type is the inferred type of its definition; the graph is acyclic.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    values: Vec<Value>,
    nodes: StableDiGraph<Node, ValueId>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
}

/// Largest constant (in bytes) that [`Graph::add_node`] produces by folding on import.
const FOLD_LIMIT_BYTES: u64 = 64 << 20;

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    fn push_value(&mut self, name: String, ty: TensorType, def: ValueDef) -> ValueId {
        self.values.push(Value { name, ty, def });
        ValueId(self.values.len() as u32 - 1)
    }

    /// Adds a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> ValueId {
        let i = self.inputs.len();
        let id = self.push_value(name.into(), ty, ValueDef::Input(i));
        self.inputs.push(id);
        id
    }

    /// Adds a constant value.
    pub fn add_const(&mut self, name: impl Into<String>, t: Tensor) -> ValueId {
        let ty = TensorType::new(t.dtype, &t.shape);
        self.push_value(name.into(), ty, ValueDef::Const(t))
    }

    /// Adds `op` applied to `inputs`, inferring output types. When every input is a
    /// constant and the op can be evaluated, the outputs are folded into constants and no
    /// node is added. Errors name the node and op.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        output_names: Vec<String>,
    ) -> Result<Vec<ValueId>> {
        self.insert_node(name.into(), op, inputs, output_names, true)
    }

    /// [`Graph::add_node`] and [`Graph::add_node_unfolded`]: infer, optionally fold, add.
    fn insert_node(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        output_names: Vec<String>,
        fold: bool,
    ) -> Result<Vec<ValueId>> {
        for v in inputs.iter().flatten() {
            if v.0 as usize >= self.values.len() {
                return Err(IrError::Internal(format!(
                    "node `{name}` uses unknown value {v}"
                )));
            }
        }
        let in_types: Vec<Option<&TensorType>> = inputs
            .iter()
            .map(|v| v.map(|v| &self.values[v.0 as usize].ty))
            .collect();
        let out_types = op.infer(&in_types).map_err(|e| e.at(&name, op.name()))?;
        let out_name = |i: usize| {
            output_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{name}:{i}"))
        };

        let folded = if fold {
            self.try_fold(&name, &op, &inputs, &out_types)?
        } else {
            None
        };
        if let Some(folded) = folded {
            return Ok(folded
                .into_iter()
                .enumerate()
                .map(|(i, t)| self.add_const(out_name(i), t))
                .collect());
        }

        let node = self.nodes.add_node(Node {
            name: name.clone(),
            op,
            inputs: inputs.clone(),
            outputs: Vec::new(),
        });
        let id = NodeId(node);
        let outputs: Vec<ValueId> = out_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| self.push_value(out_name(i), ty, ValueDef::Node(id, i)))
            .collect();
        self.nodes[node].outputs = outputs.clone();
        for v in inputs.iter().flatten() {
            if let ValueDef::Node(src, _) = self.values[v.0 as usize].def {
                self.nodes.add_edge(src.0, node, *v);
            }
        }
        Ok(outputs)
    }

    fn try_fold(
        &self,
        name: &str,
        op: &Op,
        inputs: &[Option<ValueId>],
        out_types: &[TensorType],
    ) -> Result<Option<Vec<Tensor>>> {
        // Shape needs only the (static) input type, not its data.
        if let Op::Shape(s) = op {
            if let Some(Some(v)) = inputs.first() {
                if let Some(d) = self.values[v.0 as usize].ty.shape.as_fixed() {
                    let v: Vec<i64> = d[s.start..s.end].iter().map(|&x| x as i64).collect();
                    return Ok(Some(vec![Tensor::from_i64(vec![v.len() as u64], &v)]));
                }
            }
        }
        let consts: Option<Vec<Option<&Tensor>>> = inputs
            .iter()
            .map(|v| match v {
                None => Some(None),
                Some(v) => self.const_value(*v).map(Some),
            })
            .collect();
        let Some(consts) = consts else {
            return Ok(None);
        };
        let size: u64 = out_types
            .iter()
            .map(|t| t.shape.num_elements().unwrap_or(u64::MAX / 16) * t.dtype.size_bytes() as u64)
            .sum();
        if size > FOLD_LIMIT_BYTES {
            return Ok(None);
        }
        match op.eval(&consts, out_types) {
            None => Ok(None),
            Some(r) => r.map(Some).map_err(|e| e.at(name, op.name())),
        }
    }

    pub fn set_outputs(&mut self, outputs: Vec<ValueId>) {
        self.outputs = outputs;
    }

    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    pub fn value(&self, v: ValueId) -> &Value {
        &self.values[v.0 as usize]
    }

    pub fn values(&self) -> impl Iterator<Item = (ValueId, &Value)> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (ValueId(i as u32), v))
    }

    /// The constant behind `v`, if it is one.
    pub fn const_value(&self, v: ValueId) -> Option<&Tensor> {
        match &self.values.get(v.0 as usize)?.def {
            ValueDef::Const(t) => Some(t),
            _ => None,
        }
    }

    /// The node, or `None` once it has been removed.
    pub fn try_node(&self, n: NodeId) -> Option<&Node> {
        self.nodes.node_weight(n.0)
    }

    pub fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n.0]
    }

    pub fn node_count(&self) -> usize {
        self.nodes.node_count()
    }

    /// Nodes in a topological order (producers before consumers), stable for a given
    /// graph: ties are broken by insertion order.
    pub fn topo_order(&self) -> Vec<NodeId> {
        let mut indeg: std::collections::BTreeMap<NodeIndex, usize> = self
            .nodes
            .node_indices()
            .map(|n| (n, self.nodes.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BTreeSet<NodeIndex> = indeg
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(n) = ready.pop_first() {
            order.push(NodeId(n));
            for e in self.nodes.edges_directed(n, Direction::Outgoing) {
                if let Some(d) = indeg.get_mut(&e.target()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(e.target());
                    }
                }
            }
        }
        order
    }

    /// Nodes that read `v`.
    pub fn consumers(&self, v: ValueId) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .nodes
            .node_indices()
            .filter(|&n| self.nodes[n].inputs.contains(&Some(v)))
            .map(NodeId)
            .collect();
        out.dedup();
        out
    }

    /// Makes every reader of `old` (nodes and graph outputs) read `new` instead.
    /// `new` must have the same type.
    pub fn replace_uses(&mut self, old: ValueId, new: ValueId) -> Result<()> {
        if self.value(old).ty != self.value(new).ty {
            return Err(IrError::Internal(format!(
                "replace_uses: {old} is {} but {new} is {}",
                self.value(old).ty,
                self.value(new).ty
            )));
        }
        let users: Vec<NodeIndex> = self.consumers(old).into_iter().map(|n| n.0).collect();
        for n in users {
            let edges: Vec<_> = self
                .nodes
                .edges_directed(n, Direction::Incoming)
                .filter(|e| *e.weight() == old)
                .map(|e| e.id())
                .collect();
            for e in edges {
                self.nodes.remove_edge(e);
            }
            for i in self.nodes[n].inputs.iter_mut() {
                if *i == Some(old) {
                    *i = Some(new);
                }
            }
            if let ValueDef::Node(src, _) = self.values[new.0 as usize].def {
                self.nodes.add_edge(src.0, n, new);
            }
        }
        for o in self.outputs.iter_mut() {
            if *o == old {
                *o = new;
            }
        }
        Ok(())
    }

    /// Removes a node. Its output values stay in the value table, unused.
    pub fn remove_node(&mut self, n: NodeId) -> Option<Node> {
        self.nodes.remove_node(n.0)
    }

    /// True when `v` is read by a node or is a graph output.
    pub fn is_used(&self, v: ValueId) -> bool {
        self.outputs.contains(&v) || !self.consumers(v).is_empty()
    }

    /// Largest constant (in bytes) that folding may produce; passes that fold use the
    /// same bound as [`Graph::add_node`].
    pub const FOLD_LIMIT_BYTES: u64 = FOLD_LIMIT_BYTES;

    /// True while `n` is a node of the graph (false once removed).
    pub fn contains_node(&self, n: NodeId) -> bool {
        self.nodes.contains_node(n.0)
    }

    /// Renames value `v` (the name a graph output is known by in the artifact).
    pub fn set_value_name(&mut self, v: ValueId, name: impl Into<String>) {
        if let Some(val) = self.values.get_mut(v.0 as usize) {
            val.name = name.into();
        }
    }

    /// As [`Graph::add_node`], but never folds: the node is added even when every input
    /// is a constant. The text parser uses it so that a graph reads back exactly as it
    /// was printed.
    pub fn add_node_unfolded(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        output_names: Vec<String>,
    ) -> Result<Vec<ValueId>> {
        self.insert_node(name.into(), op, inputs, output_names, false)
    }
}
