//! Constant data: tensor literals (`[v0, v1, ...]`, `splat v`) and their elements.

use super::lexer::Tok;
use super::{PResult, Parser};
use crate::dtype::DType;
use crate::shape::{checked_elements, TensorType};
use crate::tensor::Tensor;

/// Largest constant a `splat` may expand to.
const MAX_CONST_BYTES: u64 = 1 << 32;

impl Parser<'_> {
    /// `[v0, v1, ...]` or `splat v`, for a constant of type `ty`.
    pub(super) fn tensor_data(&mut self, ty: &TensorType) -> PResult<Tensor> {
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
    pub(super) fn element(&mut self, dtype: DType, out: &mut Vec<u8>) -> PResult<()> {
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
                    d => match d.minifloat() {
                        Some(format) => out.push(format.nan_code(0)),
                        None => out.extend(f32::NAN.to_le_bytes()),
                    },
                }
                return Ok(());
            }
        }
        match dtype {
            DType::F32 => out.extend(self.number::<f32>(&what)?.to_le_bytes()),
            DType::F64 => out.extend(self.number::<f64>(&what)?.to_le_bytes()),
            DType::F16 => out.extend(half::f16::from_f32(self.number(&what)?).to_le_bytes()),
            DType::BF16 => out.extend(half::bf16::from_f32(self.number(&what)?).to_le_bytes()),
            DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
                let v = self.number::<f32>(&what)?;
                match dtype.minifloat() {
                    Some(format) => out.push(crate::minifloat::encode(format, v)),
                    None => out.extend(v.to_le_bytes()),
                }
            }
            DType::I8 | DType::I4 => out.extend(self.number::<i8>(&what)?.to_le_bytes()),
            DType::U8 | DType::U4 => out.extend(self.number::<u8>(&what)?.to_le_bytes()),
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
}
