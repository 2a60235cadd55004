//! Encoding of the META section: a fixed sequence of fields (strings are a u32 byte length
//! then UTF-8; lists are a u32 count then the items). A reader ignores bytes after the
//! fields it knows, so a newer writer may append fields without breaking older readers.

use crate::wire::{ReadResult, Reader, Writer};
use crate::{Arch, BufferRef, DType, KernelInfo, Plan, Step, TargetInfo, TensorSpec};

/// Describes one code variant inside META; its bytes are a CODE section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariantDesc {
    pub name: String,
    pub cpu: String,
    pub required_features: Vec<String>,
}

/// Everything META holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub compiler_version: String,
    pub target: TargetInfo,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub plan: Plan,
    pub variants: Vec<VariantDesc>,
    pub metadata: Vec<(String, String)>,
}

const TAG_INPUT: u8 = 1;
const TAG_OUTPUT: u8 = 2;
const TAG_ARENA: u8 = 3;
const TAG_WEIGHT: u8 = 4;

pub(crate) fn encode(m: &Meta) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(&m.compiler_version);
    w.str(&m.target.name);
    w.u32(m.target.arch.code());
    w.str(&m.target.triple);
    for specs in [&m.inputs, &m.outputs] {
        w.len(specs.len());
        for s in specs {
            w.str(&s.name);
            w.u32(s.dtype.code());
            w.len(s.shape.len());
            for &d in &s.shape {
                w.u64(d);
            }
        }
    }
    w.u64(m.plan.arena_size);
    w.len(m.plan.kernels.len());
    for k in &m.plan.kernels {
        w.str(&k.symbol);
        w.len(k.params.len());
        for &p in &k.params {
            w.u64(p);
        }
    }
    w.len(m.plan.steps.len());
    for s in &m.plan.steps {
        w.u32(s.kernel);
        w.str(&s.label);
        w.len(s.args.len());
        for a in &s.args {
            match *a {
                BufferRef::Input(i) => {
                    w.u8(TAG_INPUT);
                    w.u32(i);
                }
                BufferRef::Output(i) => {
                    w.u8(TAG_OUTPUT);
                    w.u32(i);
                }
                BufferRef::Arena { offset, len } => {
                    w.u8(TAG_ARENA);
                    w.u64(offset);
                    w.u64(len);
                }
                BufferRef::Weight { offset, len } => {
                    w.u8(TAG_WEIGHT);
                    w.u64(offset);
                    w.u64(len);
                }
            }
        }
    }
    w.len(m.variants.len());
    for v in &m.variants {
        w.str(&v.name);
        w.str(&v.cpu);
        w.len(v.required_features.len());
        for f in &v.required_features {
            w.str(f);
        }
    }
    w.len(m.metadata.len());
    for (k, v) in &m.metadata {
        w.str(k);
        w.str(v);
    }
    // Appended field (readers before it ignore it and run every kernel on one task):
    // one byte per kernel, 1 = may run as parallel tasks.
    w.len(m.plan.kernels.len());
    for k in &m.plan.kernels {
        w.u8(u8::from(k.parallel));
    }
    w.buf
}

pub(crate) fn decode(bytes: &[u8]) -> ReadResult<Meta> {
    let r = &mut Reader::new(bytes);
    let compiler_version = r.str("compiler version")?;
    let name = r.str("target name")?;
    let arch_code = r.u32("target arch")?;
    let Some(arch) = Arch::from_code(arch_code) else {
        return r.err(format!("unknown target arch code {arch_code}"));
    };
    let triple = r.str("target triple")?;
    let inputs = specs(r, "input")?;
    let outputs = specs(r, "output")?;
    let arena_size = r.u64("arena size")?;
    let n = r.count("kernel", 8)?;
    let mut kernels = Vec::with_capacity(n);
    for _ in 0..n {
        let symbol = r.str("kernel symbol")?;
        let np = r.count("kernel param", 8)?;
        let mut params = Vec::with_capacity(np);
        for _ in 0..np {
            params.push(r.u64("kernel param")?);
        }
        kernels.push(KernelInfo {
            symbol,
            params,
            parallel: false,
        });
    }
    let n = r.count("step", 12)?;
    let mut steps = Vec::with_capacity(n);
    for _ in 0..n {
        let kernel = r.u32("step kernel")?;
        let label = r.str("step label")?;
        let na = r.count("step arg", 5)?;
        let mut args = Vec::with_capacity(na);
        for _ in 0..na {
            args.push(buffer_ref(r)?);
        }
        steps.push(Step {
            kernel,
            args,
            label,
        });
    }
    let n = r.count("code variant", 12)?;
    let mut variants = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str("variant name")?;
        let cpu = r.str("variant cpu")?;
        let nf = r.count("variant feature", 4)?;
        let mut required_features = Vec::with_capacity(nf);
        for _ in 0..nf {
            required_features.push(r.str("variant feature")?);
        }
        variants.push(VariantDesc {
            name,
            cpu,
            required_features,
        });
    }
    let n = r.count("metadata entry", 8)?;
    let mut metadata = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.str("metadata key")?;
        let v = r.str("metadata value")?;
        metadata.push((k, v));
    }
    // Kernel flags, when the writer recorded them (absent: all serial).
    if r.remaining() > 0 {
        let n = r.count("kernel flag", 1)?;
        if n != kernels.len() {
            return r.err(format!("{n} kernel flags for {} kernels", kernels.len()));
        }
        for k in &mut kernels {
            k.parallel = r.u8("kernel flag")? == 1;
        }
    }
    // Bytes after this point are fields of a newer writer: ignored by design.
    Ok(Meta {
        compiler_version,
        target: TargetInfo { name, arch, triple },
        inputs,
        outputs,
        plan: Plan {
            arena_size,
            kernels,
            steps,
        },
        variants,
        metadata,
    })
}

fn specs(r: &mut Reader<'_>, what: &str) -> ReadResult<Vec<TensorSpec>> {
    let n = r.count(what, 12)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str(&format!("{what} name"))?;
        let code = r.u32(&format!("{what} dtype"))?;
        let Some(dtype) = DType::from_code(code) else {
            return r.err(format!("{what} \"{name}\" has unknown dtype code {code}"));
        };
        let rank = r.count(&format!("{what} rank"), 8)?;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u64(&format!("{what} dim"))?);
        }
        out.push(TensorSpec { name, dtype, shape });
    }
    Ok(out)
}

fn buffer_ref(r: &mut Reader<'_>) -> ReadResult<BufferRef> {
    let tag = r.u8("step arg tag")?;
    Ok(match tag {
        TAG_INPUT => BufferRef::Input(r.u32("input index")?),
        TAG_OUTPUT => BufferRef::Output(r.u32("output index")?),
        TAG_ARENA => BufferRef::Arena {
            offset: r.u64("arena offset")?,
            len: r.u64("arena length")?,
        },
        TAG_WEIGHT => BufferRef::Weight {
            offset: r.u64("weight offset")?,
            len: r.u64("weight length")?,
        },
        _ => return r.err(format!("unknown step arg tag {tag}")),
    })
}
