//! A restricted unpickler for the pickles inside torch archives (`data.pkl`,
//! `constants.pkl`, `traced_inputs.pkl`).
//!
//! Why not a general one: unpickling in Python calls any function a pickle names, which
//! is how malicious checkpoints run code. This one never calls anything. It reads the
//! protocol 2–5 opcodes torch emits and builds plain data; a `GLOBAL` is accepted only
//! when it names one of the few classes and functions a model archive uses (tensor and
//! parameter rebuilders, typed storages, `OrderedDict`, TorchScript's type tags and,
//! where the caller allows it, TorchScript module classes `__torch__.*`, which become
//! inert records of their attributes). Their effect is interpreted here: a "rebuild
//! tensor" call becomes a [`TensorMeta`] that points at a storage (`data/<key>`), read
//! only later and only if the graph uses it. Anything else is an error naming the file,
//! the entry and the global.
//!
//! Objects live in an arena ([`Pickle`]) and values refer to them by index, so shared
//! references (the memo) keep their identity, cycles cannot leak or recurse, and
//! dropping a deeply nested structure is flat. Limits bound the arena, memo, stack and
//! mark depth; readers of the result bound their own recursion.

use crate::error::{PytorchError, Result};
use crate::tensors;
use neoc_ir::DType;
use std::collections::HashMap;
use std::rc::Rc;

/// The most objects (containers, tensors, globals) one pickle may create.
const MAX_OBJECTS: usize = 1 << 22;
/// The most memo entries one pickle may hold.
const MAX_MEMO: usize = 1 << 22;
/// The deepest the value stack may grow.
const MAX_STACK: usize = 1 << 20;
/// The most open marks (nested `(` opcodes) at once.
const MAX_MARKS: usize = 1 << 12;
/// The highest tensor rank accepted.
const MAX_RANK: usize = 64;

/// An index into [`Pickle`]'s object arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ObjId(u32);

/// A pickled value: scalars inline, everything else an object in the arena.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PyVal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Ref(ObjId),
}

/// A storage reference (a persistent id): the archive entry `data/<key>` holding
/// `numel` elements of `dtype` (`None`: an untyped byte storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageRef {
    pub(crate) key: String,
    pub(crate) dtype: Option<DType>,
    pub(crate) numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorMeta {
    pub(crate) storage: StorageRef,
    pub(crate) dtype: DType,
    /// In elements of `dtype`.
    pub(crate) offset: u64,
    pub(crate) size: Vec<u64>,
    /// In elements of `dtype`.
    pub(crate) stride: Vec<u64>,
}

/// The callables and classes a model archive may name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Global {
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    OrderedDict,
    /// `restore_type_tag(value, type)` and `build_intlist(list)` (and friends): the
    /// first argument, unchanged.
    RestoreTypeTag,
    Storage(DType),
    UntypedStorage,
    Dtype(DType),
    Device,
    Size,
    /// A TorchScript class, `__torch__.<module>.<Name>`.
    ScriptClass(String),
}

/// An object in the arena.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    Tuple(Vec<PyVal>),
    /// Lists, sets and frozensets.
    List(Vec<PyVal>),
    /// Dicts and `OrderedDict`s, in insertion order.
    Dict(Vec<(PyVal, PyVal)>),
    Bytes(Vec<u8>),
    Global(Global),
    /// An instance of a TorchScript class; `state` is what `BUILD` set (a dict of
    /// attributes for modules).
    Object {
        class: String,
        state: Option<PyVal>,
    },
    Storage(StorageRef),
    Tensor(TensorMeta),
}

impl PyVal {
    /// The arena index of a reference (its identity), `None` for inline values.
    pub(crate) fn ref_id(&self) -> Option<u32> {
        match self {
            PyVal::Ref(id) => Some(id.0),
            _ => None,
        }
    }
}

/// The result of unpickling: the object arena and the root value.
#[derive(Debug, Clone)]
pub(crate) struct Pickle {
    objs: Vec<Obj>,
    pub(crate) root: PyVal,
}

impl Pickle {
    /// The object `v` refers to, if it is a reference.
    pub(crate) fn obj(&self, v: &PyVal) -> Option<&Obj> {
        match v {
            PyVal::Ref(id) => self.objs.get(id.0 as usize),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    pub(crate) fn items<'a>(&'a self, v: &'a PyVal) -> Option<&'a [PyVal]> {
        match self.obj(v)? {
            Obj::Tuple(t) | Obj::List(t) => Some(t),
            _ => None,
        }
    }

    /// The value under string key `key` of a dict.
    pub(crate) fn dict_get<'a>(&'a self, v: &'a PyVal, key: &str) -> Option<&'a PyVal> {
        match self.obj(v)? {
            Obj::Dict(d) => d
                .iter()
                .find(|(k, _)| matches!(k, PyVal::Str(s) if &**s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Every object, in creation order.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Obj> {
        self.objs.iter()
    }

    /// The tensor `v` refers to.
    pub(crate) fn tensor(&self, v: &PyVal) -> Option<&TensorMeta> {
        match self.obj(v)? {
            Obj::Tensor(t) => Some(t),
            _ => None,
        }
    }
}

/// What the caller allows beyond the tensor classes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Accept TorchScript classes (`__torch__.*`) as inert records (a TorchScript
    /// archive's `data.pkl`).
    pub(crate) script_classes: bool,
}

/// Unpickles `data`, the archive entry `entry` of model file `file`.
pub(crate) fn unpickle(data: &[u8], file: &str, entry: &str, opts: Options) -> Result<Pickle> {
    let mut u = Unpickler {
        data,
        pos: 0,
        op_pos: 0,
        file,
        entry,
        opts,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = u.run()?;
    Ok(Pickle { objs: u.objs, root })
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the opcode being executed starts (for messages).
    op_pos: usize,
    file: &'a str,
    entry: &'a str,
    opts: Options,
    objs: Vec<Obj>,
    stack: Vec<PyVal>,
    marks: Vec<usize>,
    memo: HashMap<u64, PyVal>,
}

impl Unpickler<'_> {
    fn err(&self, message: impl Into<String>) -> PytorchError {
        PytorchError::Pickle {
            file: self.file.to_string(),
            entry: self.entry.to_string(),
            offset: self.op_pos,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(self.err("the pickle ends in the middle of an opcode; it is truncated"));
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N)?);
        Ok(b)
    }

    fn len4(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.le::<4>()?) as usize)
    }

    fn len8(&mut self) -> Result<usize> {
        let n = u64::from_le_bytes(self.le::<8>()?);
        usize::try_from(n).map_err(|_| self.err("length out of range"))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.err("the pickle ends in the middle of a text line; it is truncated"));
        };
        let s = String::from_utf8(rest[..n].to_vec())
            .map_err(|_| self.err("a text line is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, v: PyVal) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.err(format!("the value stack exceeds {MAX_STACK} entries")));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<PyVal> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("an opcode pops from an empty stack"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err("an opcode pops from an empty stack"))
    }

    fn top(&self) -> Result<&PyVal> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(v) if self.stack.len() > floor => Ok(v),
            _ => Err(self.err("an opcode reads an empty stack")),
        }
    }

    /// Pops everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<PyVal>> {
        let Some(m) = self.marks.pop() else {
            return Err(self.err("an opcode needs a mark, but none is set"));
        };
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn alloc(&mut self, o: Obj) -> Result<PyVal> {
        if self.objs.len() >= MAX_OBJECTS {
            return Err(self.err(format!(
                "the pickle creates more than {MAX_OBJECTS} objects"
            )));
        }
        self.objs.push(o);
        Ok(PyVal::Ref(ObjId(self.objs.len() as u32 - 1)))
    }

    fn obj_mut(&mut self, v: &PyVal) -> Option<&mut Obj> {
        match v {
            PyVal::Ref(id) => self.objs.get_mut(id.0 as usize),
            _ => None,
        }
    }

    fn obj(&self, v: &PyVal) -> Option<&Obj> {
        match v {
            PyVal::Ref(id) => self.objs.get(id.0 as usize),
            _ => None,
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(self.err(format!("the memo exceeds {MAX_MEMO} entries")));
        }
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let v =
            self.memo.get(&key).cloned().ok_or_else(|| {
                self.err(format!("memo entry {key} is read before it is written"))
            })?;
        self.push(v)
    }

    fn string(&mut self, n: usize) -> Result<()> {
        let b = self.take(n)?;
        let v = match std::str::from_utf8(b) {
            Ok(s) => PyVal::Str(Rc::from(s)),
            Err(_) => return Err(self.err("a string is not valid UTF-8")),
        };
        self.push(v)
    }

    fn bytes(&mut self, n: usize) -> Result<()> {
        let b = self.take(n)?.to_vec();
        let v = self.alloc(Obj::Bytes(b))?;
        self.push(v)
    }

    fn long(&mut self, n: usize) -> Result<()> {
        let b = self.take(n)?;
        if n > 8 {
            // Sign-extension bytes beyond 8 are fine; anything else overflows i64.
            let sign = if b.get(7).is_some_and(|&x| x & 0x80 != 0) {
                0xff
            } else {
                0
            };
            if b[8..].iter().any(|&x| x != sign) {
                return Err(self.err("an integer does not fit in 64 bits"));
            }
        }
        let mut buf = [0u8; 8];
        let k = n.min(8);
        buf[..k].copy_from_slice(&b[..k]);
        if k > 0 && k < 8 && b[k - 1] & 0x80 != 0 {
            for x in &mut buf[k..] {
                *x = 0xff;
            }
        }
        self.push(PyVal::Int(i64::from_le_bytes(buf)))
    }

    fn run(&mut self) -> Result<PyVal> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(format!(
                            "pickle protocol {proto} is not supported (2 to 5 are)"
                        )));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(self.err(format!("more than {MAX_MARKS} nested marks")));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'N' => self.push(PyVal::None)?,
                0x88 => self.push(PyVal::Bool(true))?,
                0x89 => self.push(PyVal::Bool(false))?,
                b'I' => {
                    let l = self.line()?;
                    let v = match l.as_str() {
                        "01" => PyVal::Bool(true),
                        "00" => PyVal::Bool(false),
                        s => PyVal::Int(s.parse().map_err(|_| self.err(format!("bad INT `{s}`")))?),
                    };
                    self.push(v)?;
                }
                b'L' => {
                    let l = self.line()?;
                    let s = l.trim_end_matches('L');
                    let v = s.parse().map_err(|_| self.err(format!("bad LONG `{l}`")))?;
                    self.push(PyVal::Int(v))?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le::<4>()?);
                    self.push(PyVal::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(PyVal::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le::<2>()?);
                    self.push(PyVal::Int(i64::from(v)))?;
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    self.long(n)?;
                }
                0x8b => {
                    let n = self.len4()?;
                    self.long(n)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le::<8>()?);
                    self.push(PyVal::Float(v))?;
                }
                b'F' => {
                    let l = self.line()?;
                    let v = l
                        .parse()
                        .map_err(|_| self.err(format!("bad FLOAT `{l}`")))?;
                    self.push(PyVal::Float(v))?;
                }
                b'X' => {
                    let n = self.len4()?;
                    self.string(n)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.string(n)?;
                }
                0x8d => {
                    let n = self.len8()?;
                    self.string(n)?;
                }
                b'T' => {
                    let n = self.len4()?;
                    self.string(n)?;
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    self.string(n)?;
                }
                b'B' => {
                    let n = self.len4()?;
                    self.bytes(n)?;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.bytes(n)?;
                }
                0x8e | 0x96 => {
                    let n = self.len8()?;
                    self.bytes(n)?;
                }
                b')' => {
                    let v = self.alloc(Obj::Tuple(Vec::new()))?;
                    self.push(v)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Tuple(items))?;
                    self.push(v)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let v = self.alloc(Obj::Tuple(items))?;
                    self.push(v)?;
                }
                b']' | 0x8f => {
                    let v = self.alloc(Obj::List(Vec::new()))?;
                    self.push(v)?;
                }
                b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::List(items))?;
                    self.push(v)?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend(vec![item])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Vec::new()))?;
                    self.push(v)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs =
                        pairs(items).ok_or_else(|| self.err("DICT with an odd number of items"))?;
                    let v = self.alloc(Obj::Dict(pairs))?;
                    self.push(v)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)
                        .ok_or_else(|| self.err("SETITEMS with an odd number of items"))?;
                    self.set_items(pairs)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (PyVal::Str(module), PyVal::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    self.global(&module, &name)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.reduce(&f, &args)?;
                    self.push(v)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.new_obj(&cls, &args)?;
                    self.push(v)?;
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.new_obj(&cls, &args)?;
                    self.push(v)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?.clone();
                    self.build(&target, state)?;
                }
                b'p' => {
                    let l = self.line()?;
                    let k = l.parse().map_err(|_| self.err(format!("bad PUT `{l}`")))?;
                    self.memo_put(k)?;
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(u64::from(k))?;
                }
                b'r' => {
                    let k = self.len4()?;
                    self.memo_put(k as u64)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let l = self.line()?;
                    let k = l.parse().map_err(|_| self.err(format!("bad GET `{l}`")))?;
                    self.memo_get(k)?;
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(u64::from(k))?;
                }
                b'j' => {
                    let k = self.len4()?;
                    self.memo_get(k as u64)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(&pid)?;
                    self.push(v)?;
                }
                b'P' => {
                    return Err(self.err("text persistent ids (PERSID) are not used by torch"));
                }
                b'i' | b'o' | 0x82..=0x84 => {
                    return Err(self.err(format!(
                        "opcode {op:#04x} instantiates arbitrary classes; torch archives do not \
                         use it"
                    )));
                }
                0x97 | 0x98 => {
                    return Err(self.err("out-of-band buffers are not supported"));
                }
                other => {
                    return Err(self.err(format!(
                        "unknown or unsupported pickle opcode {other:#04x} (protocols 2 to 5 \
                         as torch writes them are read)"
                    )));
                }
            }
        }
    }

    fn extend(&mut self, items: Vec<PyVal>) -> Result<()> {
        let target = self.top()?.clone();
        match self.obj_mut(&target) {
            Some(Obj::List(l)) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND(S) to something that is not a list")),
        }
    }

    fn set_items(&mut self, pairs: Vec<(PyVal, PyVal)>) -> Result<()> {
        let target = self.top()?.clone();
        match self.obj_mut(&target) {
            Some(Obj::Dict(d)) => {
                for (k, v) in pairs {
                    match d.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => d.push((k, v)),
                    }
                }
                Ok(())
            }
            _ => Err(self.err("SETITEM(S) on something that is not a dict")),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<()> {
        let Some(g) = resolve_global(module, name, self.opts) else {
            return Err(PytorchError::UnsafeGlobal {
                file: self.file.to_string(),
                entry: self.entry.to_string(),
                global: format!("{module}.{name}"),
            });
        };
        let v = self.alloc(Obj::Global(g))?;
        self.push(v)
    }

    fn global_of(&self, v: &PyVal) -> Option<&Global> {
        match self.obj(v)? {
            Obj::Global(g) => Some(g),
            _ => None,
        }
    }

    fn args(&self, args: &PyVal) -> Result<Vec<PyVal>> {
        match self.obj(args) {
            Some(Obj::Tuple(t)) => Ok(t.clone()),
            _ => Err(self.err("call arguments are not a tuple")),
        }
    }

    fn reduce(&mut self, f: &PyVal, args: &PyVal) -> Result<PyVal> {
        let Some(g) = self.global_of(f).cloned() else {
            return Err(self.err("REDUCE calls something that is not an allowed global"));
        };
        let a = self.args(args)?;
        match g {
            Global::RebuildTensorV2 | Global::RebuildTensorV3 => {
                let meta = self.tensor_meta(&g, &a)?;
                self.alloc(Obj::Tensor(meta))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => a
                .first()
                .cloned()
                .ok_or_else(|| self.err("_rebuild_parameter without data")),
            Global::RestoreTypeTag => a
                .first()
                .cloned()
                .ok_or_else(|| self.err("restore_type_tag without a value")),
            Global::OrderedDict => {
                let mut d = Vec::new();
                if let Some(items) = a.first().and_then(|v| match self.obj(v) {
                    Some(Obj::List(l)) | Some(Obj::Tuple(l)) => Some(l.clone()),
                    _ => None,
                }) {
                    for it in items {
                        match self.obj(&it) {
                            Some(Obj::Tuple(kv)) if kv.len() == 2 => {
                                d.push((kv[0].clone(), kv[1].clone()))
                            }
                            _ => return Err(self.err("OrderedDict items are not pairs")),
                        }
                    }
                }
                self.alloc(Obj::Dict(d))
            }
            Global::Device => match a.first() {
                Some(PyVal::Str(s)) => Ok(PyVal::Str(s.clone())),
                _ => Err(self.err("torch.device needs a string")),
            },
            Global::Size => match a.first() {
                Some(v) => {
                    let items = match self.obj(v) {
                        Some(Obj::Tuple(t)) | Some(Obj::List(t)) => t.clone(),
                        _ => return Err(self.err("torch.Size needs a tuple")),
                    };
                    self.alloc(Obj::Tuple(items))
                }
                None => self.alloc(Obj::Tuple(Vec::new())),
            },
            Global::Storage(_)
            | Global::UntypedStorage
            | Global::Dtype(_)
            | Global::ScriptClass(_) => Err(self.err(format!(
                "REDUCE calls {g:?}, which torch archives never call"
            ))),
        }
    }

    fn int_arg(&self, v: Option<&PyVal>, what: &str) -> Result<u64> {
        match v {
            Some(PyVal::Int(i)) if *i >= 0 => Ok(*i as u64),
            _ => Err(self.err(format!("tensor {what} is not a non-negative integer"))),
        }
    }

    fn int_tuple(&self, v: Option<&PyVal>, what: &str) -> Result<Vec<u64>> {
        let items = match v.and_then(|v| self.obj(v)) {
            Some(Obj::Tuple(t)) | Some(Obj::List(t)) => t,
            _ => return Err(self.err(format!("tensor {what} is not a tuple"))),
        };
        if items.len() > MAX_RANK {
            return Err(self.err(format!("tensor rank {} exceeds {MAX_RANK}", items.len())));
        }
        items.iter().map(|i| self.int_arg(Some(i), what)).collect()
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])`
    /// or `_rebuild_tensor_v3(..., dtype, meta)`.
    fn tensor_meta(&self, g: &Global, a: &[PyVal]) -> Result<TensorMeta> {
        let storage = match a.first().and_then(|v| self.obj(v)) {
            Some(Obj::Storage(s)) => s.clone(),
            _ => return Err(self.err("a tensor is rebuilt from something that is not a storage")),
        };
        let offset = self.int_arg(a.get(1), "storage offset")?;
        let size = self.int_tuple(a.get(2), "size")?;
        let stride = self.int_tuple(a.get(3), "stride")?;
        if size.len() != stride.len() {
            return Err(self.err("tensor size and stride differ in length"));
        }
        let dtype = match g {
            Global::RebuildTensorV3 => match a.get(6).and_then(|v| self.global_of(v)) {
                Some(Global::Dtype(d)) => *d,
                _ => return Err(self.err("_rebuild_tensor_v3 without a dtype")),
            },
            _ => storage
                .dtype
                .ok_or_else(|| self.err("an untyped storage without a tensor dtype"))?,
        };
        Ok(TensorMeta {
            storage,
            dtype,
            offset,
            size,
            stride,
        })
    }

    fn new_obj(&mut self, cls: &PyVal, _args: &PyVal) -> Result<PyVal> {
        match self.global_of(cls).cloned() {
            Some(Global::ScriptClass(class)) => self.alloc(Obj::Object { class, state: None }),
            Some(Global::OrderedDict) => self.alloc(Obj::Dict(Vec::new())),
            _ => Err(self.err("NEWOBJ of something that is not an allowed class")),
        }
    }

    fn build(&mut self, target: &PyVal, state: PyVal) -> Result<()> {
        match self.obj_mut(target) {
            Some(Obj::Object { state: s, .. }) => {
                *s = Some(state);
                Ok(())
            }
            // Python attributes of tensors and dict subclasses carry nothing a graph needs.
            Some(Obj::Tensor(_)) | Some(Obj::Dict(_)) => Ok(()),
            _ => Err(self.err("BUILD on something that is not an object")),
        }
    }

    /// `('storage', <storage class>, key, location, numel)`.
    fn persistent(&mut self, pid: &PyVal) -> Result<PyVal> {
        let items = match self.obj(pid) {
            Some(Obj::Tuple(t)) => t.clone(),
            _ => return Err(self.err("a persistent id is not a tuple")),
        };
        let (Some(PyVal::Str(kind)), Some(class), Some(PyVal::Str(key)), Some(numel)) =
            (items.first(), items.get(1), items.get(2), items.get(4))
        else {
            return Err(self.err("a persistent id is not ('storage', class, key, location, numel)"));
        };
        if &**kind != "storage" {
            return Err(self.err(format!("persistent id kind `{kind}` is not a storage")));
        }
        let dtype = match self.global_of(class) {
            Some(Global::Storage(d)) => Some(*d),
            Some(Global::UntypedStorage) => None,
            _ => return Err(self.err("a persistent id names no storage class")),
        };
        let numel = self.int_arg(Some(numel), "storage size")?;
        if key.is_empty() || key.contains('/') || key.contains("..") {
            return Err(self.err(format!("storage key `{key}` is not a plain name")));
        }
        let s = StorageRef {
            key: key.to_string(),
            dtype,
            numel,
        };
        self.alloc(Obj::Storage(s))
    }
}

fn pairs(items: Vec<PyVal>) -> Option<Vec<(PyVal, PyVal)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

/// The allow-list: what `module.name` means, or `None` when it is not allowed.
fn resolve_global(module: &str, name: &str, opts: Options) -> Option<Global> {
    Some(match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch.jit._pickle", "restore_type_tag") => Global::RestoreTypeTag,
        // Scripted modules' typed lists: `build_intlist([1, 2])` is the list itself.
        (
            "torch.jit._pickle",
            "build_intlist" | "build_floatlist" | "build_boollist" | "build_doublelist"
            | "build_tensorlist",
        ) => Global::RestoreTypeTag,
        ("torch", "device") => Global::Device,
        ("torch", "Size") => Global::Size,
        ("torch", "UntypedStorage") | ("torch.storage", "UntypedStorage") => Global::UntypedStorage,
        ("torch", n) if n.ends_with("Storage") => {
            Global::Storage(tensors::storage_dtype(n.strip_suffix("Storage")?)?)
        }
        ("torch", n) => Global::Dtype(tensors::dtype_by_name(n)?),
        (m, n) if opts.script_classes && (m == "__torch__" || m.starts_with("__torch__.")) => {
            if n.is_empty() || !n.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            Global::ScriptClass(format!("{m}.{n}"))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
