//! MXNet's NDArray list format (`mx.nd.save`, the `.params` of `HybridBlock.export`),
//! read without MXNet.
//!
//! ```text
//! u64 0x112 (list magic)  u64 reserved  u64 count  count × NDArray  u64 count  count × name
//! NDArray (V2/V3): u32 magic  i32 storage type (0 dense)  i32 ndim  i64 dims[ndim]
//!                  i32 dev_type  i32 dev_id  i32 type_flag  data (little-endian)
//! name: u64 length, bytes ("arg:conv0_weight", "aux:bn0_running_mean")
//! ```
//!
//! Every count and length is checked against the bytes that remain before anything is
//! allocated or sliced, so a truncated or hostile file fails with the array and byte
//! offset, never with a panic or a huge allocation. Data is a zero-copy slice of the
//! (memory-mapped) file.

use crate::error::{MxnetError, Result};
use bytes::Bytes;
use neoc_ir::{DType, Tensor};
use std::collections::BTreeMap;

const LIST_MAGIC: u64 = 0x112;
const V1_MAGIC: u32 = 0xF993_FAC8;
const V2_MAGIC: u32 = 0xF993_FAC9;
const V3_MAGIC: u32 = 0xF993_FACA;
const MAX_NDIM: i32 = 32;

/// A bounds-checked little-endian reader.
struct Cursor {
    b: Bytes,
    pos: usize,
}

impl Cursor {
    fn take(&mut self, n: usize) -> std::result::Result<Bytes, String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                format!(
                    "needs {n} bytes at offset {} but the file has {} (truncated?)",
                    self.pos,
                    self.b.len()
                )
            })?;
        let s = self.b.slice(self.pos..end);
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> std::result::Result<i32, String> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
}

/// The IR dtype of an MXNet `type_flag`.
fn dtype(flag: i32) -> Option<DType> {
    Some(match flag {
        0 => DType::F32,
        1 => DType::F64,
        2 => DType::F16,
        3 => DType::U8,
        4 => DType::I32,
        5 => DType::I8,
        6 => DType::I64,
        7 => DType::Bool,
        8 => DType::I16,
        9 => DType::U16,
        10 => DType::U32,
        11 => DType::U64,
        12 => DType::BF16,
        _ => return None,
    })
}

/// One array, `None` for an empty ("none") NDArray.
fn read_array(c: &mut Cursor) -> std::result::Result<Option<Tensor>, String> {
    let magic = c.u32()?;
    if !matches!(magic, V1_MAGIC | V2_MAGIC | V3_MAGIC) {
        return Err(format!(
            "unknown NDArray magic {magic:#x} (arrays saved before MXNet 0.9 are not read)"
        ));
    }
    if magic != V1_MAGIC {
        let stype = c.i32()?;
        if stype != 0 {
            return Err(format!(
                "storage type {stype} is sparse; neoc reads dense arrays"
            ));
        }
    }
    let ndim = c.i32()?;
    if !(-1..=MAX_NDIM).contains(&ndim) {
        return Err(format!("rank {ndim} is out of range"));
    }
    // V2: rank 0 is an empty array; V3 (numpy shapes): rank -1 is, rank 0 a scalar.
    if ndim == -1 || (ndim == 0 && magic != V3_MAGIC) {
        return Ok(None);
    }
    let mut shape = Vec::with_capacity(ndim as usize);
    for _ in 0..ndim {
        let d = c.u64()? as i64;
        shape.push(u64::try_from(d).map_err(|_| format!("negative dim {d}"))?);
    }
    let _dev_type = c.i32()?;
    let _dev_id = c.i32()?;
    let flag = c.i32()?;
    let dt = dtype(flag).ok_or_else(|| format!("unknown type flag {flag}"))?;
    let n = neoc_ir::shape::checked_elements(&shape).ok_or("the array is too large")?;
    let size = usize::try_from(n.saturating_mul(dt.size_bytes() as u64))
        .map_err(|_| "the array is too large".to_string())?;
    let data = c.take(size)?;
    Tensor::from_bytes(dt, shape, data)
        .map(Some)
        .map_err(|e| format!("{e:?}"))
}

/// Reads every named array of a `.params` file. Names keep MXNet's `arg:`/`aux:`
/// prefixes stripped (`HybridBlock.export` writes them; `save_parameters` does not).
pub(crate) fn read(bytes: Bytes, file: &str) -> Result<BTreeMap<String, Option<Tensor>>> {
    let err = |message: String| MxnetError::Params {
        file: file.to_string(),
        message,
    };
    let mut c = Cursor { b: bytes, pos: 0 };
    let magic = c.u64().map_err(&err)?;
    if magic != LIST_MAGIC {
        return Err(err(
            "not an MXNet parameters file (the NDArray list magic is missing)".into(),
        ));
    }
    c.u64().map_err(&err)?;
    let n = c.u64().map_err(&err)?;
    // Each array takes at least 12 bytes: a count beyond that is corrupt.
    if n > (c.remaining() / 12) as u64 {
        return Err(err(format!(
            "the file claims {n} arrays (truncated or corrupt)"
        )));
    }
    let mut arrays = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = c.pos;
        let a = read_array(&mut c).map_err(|m| err(format!("array {i} (at byte {at}): {m}")))?;
        arrays.push(a);
    }
    let k = c.u64().map_err(&err)?;
    if k != n {
        return Err(err(format!(
            "{n} arrays but {k} names (parameters saved without names cannot be matched to \
             the symbol)"
        )));
    }
    let mut out = BTreeMap::new();
    for (i, a) in arrays.into_iter().enumerate() {
        let len = c.u64().map_err(&err)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= c.remaining())
            .ok_or_else(|| err(format!("name {i} is longer than the file")))?;
        let name = c.take(len).map_err(&err)?;
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| err(format!("name {i} is not valid UTF-8")))?;
        let name = name
            .strip_prefix("arg:")
            .or_else(|| name.strip_prefix("aux:"))
            .unwrap_or(&name)
            .to_string();
        out.insert(name, a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list with one f32 [2] array named `arg:w`.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(LIST_MAGIC.to_le_bytes());
        v.extend(0u64.to_le_bytes());
        v.extend(1u64.to_le_bytes());
        v.extend(V2_MAGIC.to_le_bytes());
        v.extend(0i32.to_le_bytes());
        v.extend(1i32.to_le_bytes());
        v.extend(2i64.to_le_bytes());
        v.extend(1i32.to_le_bytes());
        v.extend(0i32.to_le_bytes());
        v.extend(0i32.to_le_bytes());
        v.extend(1.5f32.to_le_bytes());
        v.extend((-2f32).to_le_bytes());
        v.extend(1u64.to_le_bytes());
        v.extend(5u64.to_le_bytes());
        v.extend(b"arg:w");
        v
    }

    #[test]
    fn reads_named_arrays() {
        let p = read(sample().into(), "p").unwrap();
        let w = p["w"].as_ref().unwrap();
        assert_eq!(w.shape, vec![2]);
        assert_eq!(w.to_f32_vec(), vec![1.5, -2.0]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let s = sample();
        for n in 0..s.len() {
            assert!(read(Bytes::copy_from_slice(&s[..n]), "p").is_err(), "{n}");
        }
        // Damaged bytes never panic.
        for i in 0..s.len() {
            let mut d = s.clone();
            d[i] ^= 0xa5;
            let _ = read(d.into(), "p");
        }
    }
}
