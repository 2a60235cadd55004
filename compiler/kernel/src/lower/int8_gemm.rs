//! Int8 convolution and matrix products (`QConv`): u8 activations × i8 weights, i32
//! accumulation, requantization in the epilogue.
//!
//! Up to three stages per node:
//! - **pad** (windows with padding only): a copy of `x` bordered with the zero point
//!   `x_zero` (a real zero), so that the pack stage's loads are plain affine loads
//!   (`int8_pad.rs`, shared with the depthwise and u8 MaxPool kernels).
//! - **pack** (parallel over groups × groups of four reduction taps): writes the
//!   activations as the GEMM's streamed operand, `XS[g][k/4][column]`, one `i32` per
//!   (four consecutive taps, output pixel), the four u8 taps in its bytes: im2col for
//!   windows and strides, a byte interleave of four channel planes for 1×1 stride-1
//!   convolutions, a transpose of the rows' words for matrix products. Columns are the
//!   output pixels of every image (`n · P + p`), padded to a multiple of 16.
//! - **gemm** (parallel over groups × column tiles × row panels): a register tile of
//!   `MR` output channels × `NV` vectors of pixels in `i32` vector variables; per four
//!   taps one vector load per column vector, one broadcast weight word per row and one
//!   [`Expr::DotBytes`] (`vpdpbusd` with VNNI) per accumulator. The finished tile goes
//!   to an `i32` scratch slot and the epilogue converts it while it is in cache:
//!   `acc + comp[m]` (bias − x_zero · Σw, folded at compile time), then the output form
//!   of the op (i32, dequantized f32, or requantized u8/i8 with an optional u8 residual,
//!   rounding half to even by the float adder and clamping in integers, which
//!   vectorizes). A run-time zero point (input 5, DynamicQuantizeLinear's) makes that
//!   `bias[m] − x_zero · Σw[m]` with both vectors constant and `x_zero` loaded by the
//!   epilogue (and by the pad stage for the borders); a run-time activation scale
//!   (input 6) multiplies `scale[m]` there.
//!
//!   Where the CPU level multiplies signed bytes only (AArch64 `sdot` without i8mm:
//!   `VectorUnit::signed_dot_bytes`), the pack stage flips every byte's top bit
//!   (`x ^ 0x80`, i.e. `x − 128` as i8) and the dot products read `a` as i8
//!   ([`ByteSign::Signed`]): one `sdot` per step, the `128 · Σw` this takes off every
//!   sum added back by the compensation (`bias − (x_zero − 128) · Σw`). The folded
//!   compensation constant holds both forms, so every code variant of a kernel binds the
//!   same data.
//!
//!   Nodes whose columns waste ≥ 10 % to that padding (ResNet's 7×7 stage: 64 columns
//!   for 49; matrix-vector products; ≥ 5 % without a residual input, 14×14 maps) turn
//!   the tile around when their channels fill whole vectors: output channels in the lanes, one broadcast activation word per pixel,
//!   weights packed per channel panel (`gemm_by_channel`); no column is computed twice.
//!
//! Weights are packed at compile time into `W4[g][m][k/4]` words. Tile sizes follow the
//! vector unit: 6 × 4×16 lanes on AVX-512 (24 of 32 registers accumulate), 4 × 2×8 on
//! AVX2, 6 × 4×4 on NEON.

use super::conv::Geometry;
use super::int8_depthwise;
use super::int8_pad::{pad_stage, padded_extent, padded_len, widen, PAD_SLACK};
use super::{ArgRef, ConstElem, Ctx, LowerError};
use crate::builder::KernelBuilder;
use crate::expr::{BinaryOp, ByteSign, Expr};
use crate::kernel::{Access, BufId, LoopKind, ScalarType, VarId};
use neoc_ir::ops::{Fused, QConv};
use neoc_ir::DType;

/// Columns are padded to a multiple of this (the widest vector), independently of the
/// vector unit, so scratch sizes are the same for every CPU level.
const COL_ALIGN: i64 = 16;

impl ConstElem for i32 {
    const TYPE: ScalarType = ScalarType::I32;
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend(self.to_le_bytes());
    }
}

/// Sizes of one node's product.
#[derive(Debug, Clone, Copy)]
struct Dims {
    groups: i64,
    /// Output channels per group (GEMM rows).
    m: i64,
    /// Taps per output value (input channels per group × kernel area).
    k: i64,
    /// `ceil(k / 4)`: reduction steps of four bytes.
    k4: i64,
    /// Output pixels per image.
    p: i64,
    /// Images × pixels.
    cols: i64,
    cols_pad: i64,
}

/// Register tile for the vector unit: lanes per vector, vectors per tile row, rows.
fn tile(cx: &Ctx<'_>) -> (u32, i64, i64) {
    let lanes = (cx.unit.bits / 32).clamp(4, 16);
    if cx.unit.registers >= 32 {
        (lanes, 4, 6)
    } else {
        (lanes, 2, 4)
    }
}

pub(super) fn qconv(cx: &mut Ctx<'_>, q: &QConv, fused: Option<&Fused>) -> Result<(), LowerError> {
    if fused.is_some() {
        return cx.err("internal: a QConv carries its output conversion, not an epilogue");
    }
    let (vx, vw) = (cx.operand(0)?, cx.operand(1)?);
    let (xd, wd, yd) = (cx.dims(vx)?, cx.dims(vw)?, cx.dims(cx.output(0))?);
    let c = &q.conv;
    let Some(geo) = Geometry::new(
        &xd[2..],
        &yd[2..],
        &c.kernel,
        &c.strides,
        &c.pads,
        &c.dilations,
    ) else {
        return cx.err("int8 convolution supports 1-D and 2-D windows only");
    };
    let Some(w) = cx.graph.const_value(vw).map(|t| t.bytes().to_vec()) else {
        return cx.err("int8 convolution needs constant weights");
    };
    let int_const = |cx: &Ctx<'_>, i: usize| -> Result<Option<Vec<i32>>, LowerError> {
        match cx.input(i) {
            None => Ok(None),
            Some(v) => match cx.graph.const_value(v) {
                Some(t) => Ok(Some(
                    t.bytes()
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                )),
                None => cx.err(format!("int8 convolution needs a constant input {i}")),
            },
        }
    };
    let bias = int_const(cx, 2)?;
    let runtime_zero = cx.input(5).is_some();
    let groups = c.group as i64;
    let oc = wd[0] as i64;
    let taps = geo.kh * geo.kw;
    let k = wd[1] as i64 * taps;
    let p = geo.oh * geo.ow;
    let cols = xd[0] as i64 * p;
    let d = Dims {
        groups,
        m: oc / groups,
        k,
        k4: (k + 3) / 4,
        p,
        cols,
        cols_pad: (cols + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN,
    };

    // i8 activations run as u8 ones shifted by 128 (the shift goes into the zero point).
    let signed = cx.scalar_type(vx)? == ScalarType::I8;
    let x_zero = q.x_zero + if signed { 128 } else { 0 };
    // What the dot products read: those u8 bytes, or i8 ones (`x ^ 0x80`, the zero
    // point 128 lower) where the level multiplies signed bytes only (module docs).
    let a_sign = if cx.unit.signed_dot_bytes {
        ByteSign::Signed
    } else {
        ByteSign::Unsigned
    };
    // Compile-time weights: 4 taps per word, and bias − x_zero · Σw per channel (with a
    // run-time zero point: bias and Σw).
    let mut w4 = Vec::with_capacity((oc * d.k4) as usize);
    let mut comp = Vec::with_capacity(2 * oc as usize);
    let mut comp_i8 = Vec::with_capacity(oc as usize);
    let (mut biases, mut sums) = (Vec::new(), Vec::new());
    for row in 0..oc as usize {
        let taps_of = &w[row * k as usize..(row + 1) * k as usize];
        for kg in 0..d.k4 as usize {
            let byte = |t: usize| taps_of.get(4 * kg + t).copied().unwrap_or(0);
            w4.push(i32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)]));
        }
        let sum: i32 = taps_of.iter().map(|&b| i32::from(b as i8)).sum();
        let b = bias.as_ref().map_or(0, |b| b[row]);
        comp.push(b.wrapping_sub(x_zero.wrapping_mul(sum)));
        comp_i8.push(b.wrapping_sub((x_zero - 128).wrapping_mul(sum)));
        biases.push(b);
        sums.push(sum);
    }
    if int8_depthwise::applies(d.groups, d.m, k, taps) {
        let wdw: Vec<i32> = w.iter().map(|&b| i32::from(b as i8)).collect();
        let epi = (&comp[..], &biases[..], &sums[..]);
        return int8_depthwise::depthwise(cx, q, &geo, &xd, (x_zero, signed), &wdw, epi);
    }
    // `comp[m]` for u8 operands, then `comp[oc + m]` for i8 ones.
    comp.extend(comp_i8);

    pack_stage(cx, (x_zero, signed, runtime_zero), a_sign, &geo, &d, &xd)?;

    let (lanes, nv, mr) = tile(cx);
    let by_channel = channel_lanes(&d, cx.input(4).is_some());
    let (rows_c, vecs_c) = channel_tile(cx, &d);
    if by_channel {
        // W4P[g][panel][k/4][channel of the panel], panels of 16 channels whatever the
        // vector unit: every code variant of the artifact binds this one constant
        // (lowered for the first), so its layout may not follow the tile's width.
        let mut w4p = Vec::with_capacity(w4.len());
        for gi in 0..d.groups {
            for m0 in (0..d.m).step_by(PANEL as usize) {
                for kg in 0..d.k4 {
                    // The last panel is padded with zero weights.
                    for mi in m0..m0 + PANEL {
                        let word = if mi < d.m {
                            w4[((gi * d.m + mi) * d.k4 + kg) as usize]
                        } else {
                            0
                        };
                        w4p.push(word);
                    }
                }
            }
        }
        w4 = w4p;
    }
    let xs_len = (d.groups * d.k4 * d.cols_pad) as u64;
    let xs = cx.bind_scratch(0, ScalarType::I32, xs_len);
    let w4b = cx.bind_constant("w4", &w4);
    let out = bind_out(cx, q, a_sign, &comp, (&biases, &sums), signed, oc)?;
    // Accumulator slots: one per tile of the whole product, or, when that would not stay
    // in cache (early layers: 3 MB of i32 for ResNet's 56×56 stage), one per column
    // tile, reused by its row panels, which then run serially within it. The choice and
    // the slot's size must not depend on the vector unit (every code variant of a
    // kernel has the same parameters): at least 8 tiles of 64 columns and 16 rows a
    // group (fewer rows gain nothing: depthwise convolutions), and room for
    // `(cols_pad + 64) · 8` values per group, which bounds `column tiles × rows × tile
    // width` for every tile shape of `tile` (a node that may run by channel on some
    // unit keeps the whole array).
    let by_tile = oc * d.cols_pad * 4 > 1 << 20 && d.cols_pad >= 8 * 64 && d.m >= 16;
    let per_column_tile = !by_channel && by_tile;
    let acc_len = if by_tile && !channel_major(&d, cx.input(4).is_some()) {
        (d.groups * (d.cols_pad + 64) * 8) as u64
    } else {
        // Whole panels of channels per group (the by-channel tiles store whole vectors).
        (d.groups * panel_m(&d) * d.cols_pad) as u64
    };
    cx.args.push(ArgRef::scratch(1, ScalarType::I32, acc_len));
    let accs =
        cx.b.param("scratch1", ScalarType::I32, acc_len, Access::ReadWrite);
    if by_channel {
        let tile = (lanes, vecs_c, rows_c);
        gemm_by_channel(&mut cx.b, &d, tile, (xs, w4b, accs), &out);
    } else {
        let tile = (lanes, nv, mr);
        gemm(&mut cx.b, &d, tile, (xs, w4b, accs), &out, per_column_tile);
    }
    Ok(())
}

/// Binds what the epilogue reads, as the next parameters of the main kernel: the
/// compensation (`comp`: the u8 form, then the i8 one; or, with a run-time zero point,
/// `biases` and `sums`), the scales, the residual and the output.
pub(super) fn bind_out<'a>(
    cx: &mut Ctx<'_>,
    q: &'a QConv,
    a_sign: ByteSign,
    comp: &[i32],
    (biases, sums): (&[i32], &[i32]),
    signed: bool,
    oc: i64,
) -> Result<Out<'a>, LowerError> {
    let i8_operands = a_sign == ByteSign::Signed;
    let comp = if cx.input(5).is_some() {
        Comp::Runtime {
            bias: cx.bind_constant("bias", biases),
            wsum: cx.bind_constant("wsum", sums),
            zero: cx.bind_input(5)?,
            signed,
            i8_operands,
        }
    } else {
        Comp::Folded {
            comp: cx.bind_constant("comp", comp),
            at: if i8_operands { oc } else { 0 },
        }
    };
    let scale = match cx.input(3) {
        None => None,
        Some(v) => match cx.const_f32(v) {
            Some(s) => Some(cx.bind_constant("scale", &s)),
            None => return cx.err("int8 convolution needs a constant scale"),
        },
    };
    let x_scale = match cx.input(6) {
        Some(_) => Some(cx.bind_input(6)?),
        None => None,
    };
    let residual = match cx.input(4) {
        Some(_) => Some(cx.bind_input(4)?),
        None => None,
    };
    let y = cx.bind_output(0)?;
    Ok(Out {
        q,
        a_sign,
        comp,
        scale,
        x_scale,
        residual,
        y,
        oc,
    })
}

/// The pack stage: `XS[g][kg][col]` words of four taps, u8 or flipped to i8 as `a_sign`
/// says (see the module docs).
fn pack_stage(
    cx: &mut Ctx<'_>,
    (x_zero, signed, runtime_zero): (i32, bool, bool),
    a_sign: ByteSign,
    geo: &Geometry,
    d: &Dims,
    xd: &[u64],
) -> Result<(), LowerError> {
    let mut st = cx.stage("pack");
    let x = cx.stage_input(&mut st, 0)?;
    let xs = st.scratch(
        0,
        ScalarType::I32,
        (d.groups * d.k4 * d.cols_pad) as u64,
        Access::Write,
    );
    let (n, c) = (xd[0] as i64, xd[1] as i64);
    let cg = c / d.groups;
    let taps = geo.kh * geo.kw;
    let (d, geo) = (*d, *geo);
    let zx = Expr::IConst(i64::from(x_zero), ScalarType::I32);
    let b = &mut st.b;
    let pointwise = taps == 1
        && (geo.sh, geo.sw, geo.ph, geo.pw) == (1, 1, 0, 0)
        && (geo.oh, geo.ow) == (geo.h, geo.w)
        && d.k % 4 == 0;
    if pointwise && d.p == 1 && d.groups == 1 {
        // Matrix products (one pixel per image): `XS[kg][n]` is word `kg` of row `n`, a
        // transpose of the `[rows, K/4]` words. Rows outside, words inside: a word's
        // four bytes are adjacent, so the loads vectorize (one vector per 16 words) and
        // only the stores are strided.
        b.for_loop("n", 0, n, LoopKind::Parallel, |b, ni| {
            let row = ni.clone() * Expr::i64(c);
            b.for_loop("kg", 0, d.k4, LoopKind::Vectorize, |b, kg| {
                let byte = |j: i64| {
                    let at = row.clone() + kg.clone() * Expr::i64(4) + Expr::i64(j);
                    let v = widen(Expr::load(x, at), signed);
                    if j == 0 {
                        v
                    } else {
                        Expr::binary(BinaryOp::Shl, v, Expr::IConst(8 * j, ScalarType::I32))
                    }
                };
                let word = (1..4).fold(byte(0), |w, j| Expr::binary(BinaryOp::Or, w, byte(j)));
                let word = dot_operand(word, a_sign);
                b.store(xs, kg * Expr::i64(d.cols_pad) + ni.clone(), word);
            });
        });
        return cx.add_stage(st);
    }
    if pointwise {
        // 1×1, stride 1, no padding, whole words: interleave four channel planes.
        b.for_loop("t", 0, d.groups * d.k4, LoopKind::Parallel, |b, t| {
            let gi = t.clone() / Expr::i64(d.k4);
            let kg = t.clone() % Expr::i64(d.k4);
            let c0 = gi * Expr::i64(cg) + kg * Expr::i64(4);
            let row = t * Expr::i64(d.cols_pad);
            b.for_loop("n", 0, n, LoopKind::Serial, |b, ni| {
                let plane = (ni.clone() * Expr::i64(c) + c0.clone()) * Expr::i64(d.p);
                b.for_loop("p", 0, d.p, LoopKind::Vectorize, |b, px| {
                    let byte = |j: i64| {
                        let at = plane.clone() + Expr::i64(j * d.p) + px.clone();
                        let v = widen(Expr::load(x, at), signed);
                        if j == 0 {
                            v
                        } else {
                            Expr::binary(BinaryOp::Shl, v, Expr::IConst(8 * j, ScalarType::I32))
                        }
                    };
                    let word = (1..4).fold(byte(0), |w, j| Expr::binary(BinaryOp::Or, w, byte(j)));
                    let word = dot_operand(word, a_sign);
                    let col = ni.clone() * Expr::i64(d.p) + px;
                    b.store(xs, row.clone() + col, word);
                });
            });
        });
        return cx.add_stage(st);
    }
    drop(st);
    // Windows: read a copy padded with the zero point (when there is padding), so the
    // im2col loads are plain affine (vectorizable) loads.
    let (hp, wp) = padded_extent(&geo);
    let padded = (hp, wp) != (geo.h, geo.w);
    if padded {
        let zero_input = runtime_zero.then_some(5);
        pad_stage(cx, &geo, (n * c, hp, wp), (&zx, signed), zero_input)?;
    }
    let mut st = cx.stage("pack");
    let src = if padded {
        st.scratch(2, ScalarType::U8, padded_len(n * c, hp, wp), Access::Read)
    } else {
        cx.stage_input(&mut st, 0)?
    };
    let xs = st.scratch(
        0,
        ScalarType::I32,
        (d.groups * d.k4 * d.cols_pad) as u64,
        Access::Write,
    );
    // Columns past a row's end are rewritten by the next row (rows run in order).
    let ox_end = if padded {
        overrun_width(&geo, &d)
    } else {
        geo.ow
    };
    let b = &mut st.b;
    b.for_loop("t", 0, d.groups * d.k4, LoopKind::Parallel, |b, t| {
        let gi = t.clone() / Expr::i64(d.k4);
        let kg = t.clone() % Expr::i64(d.k4);
        // Per byte of the word: its tap's channel plane and window offset. Taps past K
        // (the last word's padding) read any valid byte: their weights are zero.
        let mut tap: Vec<(VarId, VarId)> = Vec::new();
        for j in 0..4i64 {
            let kt = kg.clone() * Expr::i64(4) + Expr::i64(j);
            let ci =
                gi.clone() * Expr::i64(cg) + (kt.clone() / Expr::i64(taps)).min(Expr::i64(cg - 1));
            let r = kt % Expr::i64(taps);
            let ky = r.clone() / Expr::i64(geo.kw) * Expr::i64(geo.dh);
            let kx = r % Expr::i64(geo.kw) * Expr::i64(geo.dw);
            let plane = b.let_var(format!("c{j}"), ScalarType::I64, ci * Expr::i64(hp * wp));
            let off = b.let_var(format!("o{j}"), ScalarType::I64, ky * Expr::i64(wp) + kx);
            tap.push((plane, off));
        }
        let row = t * Expr::i64(d.cols_pad);
        b.for_loop("n", 0, n, LoopKind::Serial, |b, ni| {
            let image = ni.clone() * Expr::i64(c * hp * wp);
            b.for_loop("oy", 0, geo.oh, LoopKind::Serial, |b, oy| {
                let line = image.clone() + oy.clone() * Expr::i64(geo.sh * wp);
                b.for_loop("ox", 0, ox_end, LoopKind::Vectorize, |b, ox| {
                    let byte = |j: usize| {
                        let (plane, off) = tap[j];
                        let at = line.clone()
                            + Expr::var(plane)
                            + Expr::var(off)
                            + ox.clone() * Expr::i64(geo.sw);
                        let v = widen(Expr::load(src, at), signed && !padded);
                        if j == 0 {
                            v
                        } else {
                            Expr::binary(
                                BinaryOp::Shl,
                                v,
                                Expr::IConst(8 * j as i64, ScalarType::I32),
                            )
                        }
                    };
                    let word = (1..4).fold(byte(0), |w, j| Expr::binary(BinaryOp::Or, w, byte(j)));
                    let word = dot_operand(word, a_sign);
                    let col = ni.clone() * Expr::i64(d.p) + oy.clone() * Expr::i64(geo.ow) + ox;
                    b.store(xs, row.clone() + col, word);
                });
            });
        });
    });
    cx.add_stage(st)
}

/// How far the pack stage's pixel loop runs along a row: `ow` rounded up to 16 (whole
/// vectors, no scalar remainder: ResNet's 14×14 and 7×7 maps) when what it writes past
/// a row's end is overwritten by the next row or lands in the columns' padding, and
/// what it reads stays within the padded copy's slack; else `ow`.
fn overrun_width(geo: &Geometry, d: &Dims) -> i64 {
    let run = (geo.ow + 15) / 16 * 16;
    let extra = run - geo.ow;
    if extra > 0 && extra <= d.cols_pad - d.cols && extra * geo.sw <= PAD_SLACK {
        run
    } else {
        geo.ow
    }
}

/// A packed word of four u8 activation bytes as the dot products read it: as is, or
/// with every byte's top bit flipped for i8 operands (`x ^ 0x80` = `x − 128` as i8).
fn dot_operand(word: Expr, a_sign: ByteSign) -> Expr {
    match a_sign {
        ByteSign::Unsigned => word,
        ByteSign::Signed => {
            let flip = Expr::IConst(i64::from(0x8080_8080u32 as i32), ScalarType::I32);
            Expr::binary(BinaryOp::Xor, word, flip)
        }
    }
}

/// Where the epilogue reads and writes, and the op's output form.
pub(super) struct Out<'a> {
    q: &'a QConv,
    /// How the dot products read the packed activations (see [`dot_operand`]).
    a_sign: ByteSign,
    pub(super) comp: Comp,
    scale: Option<BufId>,
    /// The run-time activation scale (f32 scalar), a factor of every `scale[m]`.
    x_scale: Option<BufId>,
    residual: Option<BufId>,
    pub(super) y: BufId,
    oc: i64,
}

/// The per-channel compensation added to the accumulators.
pub(super) enum Comp {
    /// `bias[m] − x_zero · Σw[m]`, folded at compile time: `comp[at + m]`, the constant
    /// holding the form for u8 operands (`at` 0) then for i8 ones (`at` = channels,
    /// `x_zero − 128`).
    Folded { comp: BufId, at: i64 },
    /// The same with a run-time zero point (a scalar of the activation's type; i8 ones
    /// shifted by 128 like the activations): `bias[m] − x_zero · wsum[m]`.
    Runtime {
        bias: BufId,
        wsum: BufId,
        zero: BufId,
        signed: bool,
        /// The dot products read i8 operands: `x_zero − 128`.
        i8_operands: bool,
    },
}

impl Comp {
    /// The compensation of channel `ch`.
    pub(super) fn at(&self, ch: Expr) -> Expr {
        match *self {
            Comp::Folded { comp, at } => Expr::load(comp, ch + Expr::i64(at)),
            Comp::Runtime {
                bias,
                wsum,
                zero,
                signed,
                i8_operands,
            } => {
                let mut zx = widen(Expr::load(zero, Expr::i64(0)), signed);
                if i8_operands {
                    zx = zx - Expr::IConst(128, ScalarType::I32);
                }
                Expr::load(bias, ch.clone()) - zx * Expr::load(wsum, ch)
            }
        }
    }
}

/// The gemm kernel: one parallel loop over (group, column tile, row panel), or over
/// (group, column tile) with the row panels in order inside when `per_column_tile`
/// (each column tile then has one accumulator slot, reused by its panels).
fn gemm(
    b: &mut KernelBuilder,
    d: &Dims,
    (lanes, nv, mr): (u32, i64, i64),
    bufs: (BufId, BufId, BufId),
    out: &Out<'_>,
    per_column_tile: bool,
) {
    let l = i64::from(lanes);
    let vecs = d.cols_pad / l;
    let (full_ct, tail_v) = (vecs / nv, vecs % nv);
    let col_tiles = full_ct + i64::from(tail_v > 0);
    let (full_rp, tail_rows) = (d.m / mr, d.m % mr);
    let panels = full_rp + i64::from(tail_rows > 0);
    let (per_group, inner) = if per_column_tile {
        (col_tiles, panels)
    } else {
        (col_tiles * panels, 1)
    };
    b.for_loop("t", 0, d.groups * per_group, LoopKind::Parallel, |b, t| {
        let gi = t.clone() / Expr::i64(per_group);
        let r = t.clone() % Expr::i64(per_group);
        let slot = per_column_tile.then(|| t.clone() * Expr::i64(mr * nv * l));
        b.for_loop("rp", 0, inner, LoopKind::Serial, |b, rpi| {
            let (ct, rp) = if per_column_tile {
                (r.clone(), rpi)
            } else {
                (r.clone() / Expr::i64(panels), r.clone() % Expr::i64(panels))
            };
            let col0 = ct.clone() * Expr::i64(nv * l);
            let row0 = rp.clone() * Expr::i64(mr);
            let at = (gi.clone(), row0, col0, slot.clone());
            by_block_size(b, &ct, full_ct, (nv, tail_v), &|b, nvec| {
                by_block_size(b, &rp, full_rp, (mr, tail_rows), &|b, rows| {
                    tile_code(b, d, (lanes, nvec, rows), bufs, out, &at)
                })
            });
        });
    });
}

/// Emits `f(size)` for block `at`: `full` for the first `full_count` blocks, `tail` for
/// the last, partial one (0: there is none); branches only when both sizes occur.
fn by_block_size(
    b: &mut KernelBuilder,
    at: &Expr,
    full_count: i64,
    (full, tail): (i64, i64),
    f: &dyn Fn(&mut KernelBuilder, i64),
) {
    if tail == 0 {
        f(b, full);
    } else if full_count == 0 {
        f(b, tail);
    } else {
        b.if_else(
            at.clone().lt(Expr::i64(full_count)),
            |b| f(b, full),
            |b| f(b, tail),
        );
    }
}

/// One tile of `rows` output channels × `nvec` vectors of columns at (`row0`, `col0`)
/// of group `gi`, then its epilogue. The accumulators go to `slot` (row-major, `nvec`
/// vectors a row) when given, else to their place in a `[channel][column]` array.
fn tile_code(
    b: &mut KernelBuilder,
    d: &Dims,
    (lanes, nvec, rows): (u32, i64, i64),
    (xs, w4, accs): (BufId, BufId, BufId),
    out: &Out<'_>,
    (gi, row0, col0, slot): &(Expr, Expr, Expr, Option<Expr>),
) {
    let i32t = ScalarType::I32;
    let l = i64::from(lanes);
    let acc = zeroed_accumulators(b, rows, nvec, lanes);
    // The compensation starts the sums (one broadcast per row instead of an add per
    // vector in the epilogue; the i32 sum wraps alike).
    let row_base = gi.clone() * Expr::i64(d.m) + row0.clone();
    for (i, row) in acc.iter().enumerate() {
        let ch = row_base.clone() + Expr::i64(i as i64);
        let comp = Expr::splat(out.comp.at(ch), lanes);
        for &a in row {
            b.assign(a, comp.clone());
        }
    }
    let av: Vec<VarId> = (0..nvec)
        .map(|j| b.vector_var(format!("x{j}"), i32t, lanes))
        .collect();
    let wv = b.var("w", i32t);
    b.for_loop("kg", 0, d.k4, LoopKind::Serial, |b, kg| {
        let xrow =
            (gi.clone() * Expr::i64(d.k4) + kg.clone()) * Expr::i64(d.cols_pad) + col0.clone();
        for (j, &v) in av.iter().enumerate() {
            b.assign(
                v,
                Expr::vload(xs, xrow.clone() + Expr::i64(j as i64 * l), lanes),
            );
        }
        for (i, row) in acc.iter().enumerate() {
            let wat = (row_base.clone() + Expr::i64(i as i64)) * Expr::i64(d.k4) + kg.clone();
            b.assign(wv, Expr::load(w4, wat));
            for (&a, &x) in row.iter().zip(&av) {
                let dot = Expr::dot_bytes_as(
                    out.a_sign,
                    Expr::var(a),
                    Expr::var(x),
                    Expr::splat(Expr::var(wv), lanes),
                );
                b.assign(a, dot);
            }
        }
    });
    if in_registers(d) {
        // Every column of the tile is valid and its vectors are contiguous in the
        // output: convert the accumulators where they are.
        for (i, row) in acc.iter().enumerate() {
            let ch = row_base.clone() + Expr::i64(i as i64);
            for (j, &a) in row.iter().enumerate() {
                let col = col0.clone() + Expr::i64(j as i64 * l);
                let at = output_index(d, out.oc, &ch, col);
                let v = output_lanes(out, Expr::var(a), &ch, &at, lanes);
                b.store(out.y, at, v);
            }
        }
        return;
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let at = match slot {
                Some(s) => s.clone() + Expr::i64(i as i64 * nvec * l + j as i64 * l),
                None => {
                    (row_base.clone() + Expr::i64(i as i64)) * Expr::i64(d.cols_pad)
                        + col0.clone()
                        + Expr::i64(j as i64 * l)
                }
            };
            b.store(accs, at, Expr::var(a));
        }
    }
    // Epilogue over the tile's valid columns, while it is in cache.
    let hi = (col0.clone() + Expr::i64(nvec * l)).min(Expr::i64(d.cols));
    b.for_loop("i", 0, rows, LoopKind::Serial, |b, i| {
        let ch = row_base.clone() + i.clone();
        b.for_loop("j", col0.clone(), hi, LoopKind::Vectorize, |b, col| {
            let acc_at = match slot {
                Some(s) => s.clone() + i.clone() * Expr::i64(nvec * l) + col.clone() - col0.clone(),
                None => ch.clone() * Expr::i64(d.cols_pad) + col.clone(),
            };
            let a = Expr::load(accs, acc_at);
            let at = output_index(d, out.oc, &ch, col);
            let v = output_value(out, a, &ch, &at);
            b.store(out.y, at, v);
        });
    });
}

/// Whether the node runs with output channels in the vector lanes (see
/// [`gemm_by_channel`]): its columns waste at least 10 % to padding (a 7×7 map computes 64 columns for 49, a
/// matrix-vector product 16 for 1), or 5 % without a residual input (14×14: 208 for
/// 196; that epilogue reads and writes pixel-major, so a residual's strided reads cost
/// more than 5 %), or it is a matrix product over several rows (one pixel per image:
/// its output `[rows, channels]` is channel-minor, so this epilogue stores whole
/// vectors where the column tile's would store every value a row of channels apart).
/// Channels that do not fill whole 16-channel panels are padded with zero weights; such
/// nodes run by channel only where that wastes a smaller share than the columns'
/// padding (MobileNet's 1000 classes: 8 of 1008 against 15 of 16). The decision may
/// not depend on the vector unit (the packed weights differ).
fn channel_lanes(d: &Dims, residual: bool) -> bool {
    let (mp, waste_c) = (panel_m(d), d.cols_pad - d.cols);
    channel_major(d, residual) && (d.m == mp || (mp - d.m) * d.cols_pad < waste_c * mp)
}

/// Channels per panel of the by-channel weights `W4P` (see [`qconv`]): every unit's
/// vectors (16, 8 or 4 lanes) divide it.
const PANEL: i64 = 16;

/// Channels per group rounded up to whole panels.
fn panel_m(d: &Dims) -> i64 {
    (d.m + PANEL - 1) / PANEL * PANEL
}

/// The columns' half of [`channel_lanes`]; also what sizes the accumulator slot.
fn channel_major(d: &Dims, residual: bool) -> bool {
    d.p == 1 || (d.cols_pad - d.cols) * if residual { 10 } else { 20 } >= d.cols_pad
}

/// Register tile of [`gemm_by_channel`]: (pixels, vectors of channels). 7 × 3 when the
/// columns come in sevens (7×7 maps), else 6 × 4; 4 × 2 with 16 registers.
fn channel_tile(cx: &Ctx<'_>, d: &Dims) -> (i64, i64) {
    if cx.unit.registers < 32 {
        (4, 2)
    } else if d.cols % 7 == 0 {
        (7, 3)
    } else {
        (6, 4)
    }
}

/// The gemm kernel with output channels in the vector lanes, for nodes with few
/// columns: a tile of `rows` pixels × `nv` vectors of channels; per four taps one
/// vector load of `W4P[g][panel][k/4][channel]` per channel vector, one broadcast activation word
/// per pixel, one [`Expr::DotBytes`] per accumulator. No column is padded. Parallel
/// over (group, channel panel, pixel tile), pixel tiles innermost so that a panel's
/// weights are reused from cache.
fn gemm_by_channel(
    b: &mut KernelBuilder,
    d: &Dims,
    (lanes, nv, mr): (u32, i64, i64),
    bufs: (BufId, BufId, BufId),
    out: &Out<'_>,
) {
    let l = i64::from(lanes);
    // Vectors of channels, the last one partly padding (zero weights) when the
    // channels do not fill it.
    let vecs = (d.m + l - 1) / l;
    let (full_cp, tail_v) = (vecs / nv, vecs % nv);
    let panels = full_cp + i64::from(tail_v > 0);
    let (full_pt, tail_rows) = (d.cols / mr, d.cols % mr);
    let ptiles = full_pt + i64::from(tail_rows > 0);
    let per_group = panels * ptiles;
    b.for_loop("t", 0, d.groups * per_group, LoopKind::Parallel, |b, t| {
        let gi = t.clone() / Expr::i64(per_group);
        let r = t % Expr::i64(per_group);
        let cp = r.clone() / Expr::i64(ptiles);
        let pt = r % Expr::i64(ptiles);
        let m0 = cp.clone() * Expr::i64(nv * l);
        let col0 = pt.clone() * Expr::i64(mr);
        let at = (gi.clone(), m0, col0);
        by_block_size(b, &cp, full_cp, (nv, tail_v), &|b, nvec| {
            by_block_size(b, &pt, full_pt, (mr, tail_rows), &|b, rows| {
                channel_tile_code(b, d, (lanes, nvec, rows), bufs, out, &at)
            })
        });
    });
}

/// One tile of `rows` pixels from `col0` × `nvec` vectors of channels from `m0` of group
/// `gi`, then its epilogue. The accumulators go to scratch as `acc[col][channel]`; the
/// epilogue runs over the channels (vectorized), one pixel at a time.
fn channel_tile_code(
    b: &mut KernelBuilder,
    d: &Dims,
    (lanes, nvec, rows): (u32, i64, i64),
    (xs, w4t, accs): (BufId, BufId, BufId),
    out: &Out<'_>,
    (gi, m0, col0): &(Expr, Expr, Expr),
) {
    let i32t = ScalarType::I32;
    let l = i64::from(lanes);
    let acc = zeroed_accumulators(b, rows, nvec, lanes);
    let wv: Vec<VarId> = (0..nvec)
        .map(|j| b.vector_var(format!("w{j}"), i32t, lanes))
        .collect();
    let xv = b.var("x", i32t);
    let ch0 = gi.clone() * Expr::i64(d.m) + m0.clone();
    // Accumulators as `acc[col][group][channel]`, whole panels per group.
    let (mp, oc_pad) = (panel_m(d), d.groups * panel_m(d));
    let slot0 = gi.clone() * Expr::i64(mp) + m0.clone();
    b.for_loop("kg", 0, d.k4, LoopKind::Serial, |b, kg| {
        for (j, &v) in wv.iter().enumerate() {
            // Channel `c` of the group is lane `c % 16` of panel `c / 16`; a vector
            // starts at a multiple of its lanes, so it never straddles two panels.
            let c = m0.clone() + Expr::i64(j as i64 * l);
            let panel = gi.clone() * Expr::i64(mp / PANEL) + c.clone() / Expr::i64(PANEL);
            let at =
                (panel * Expr::i64(d.k4) + kg.clone()) * Expr::i64(PANEL) + c % Expr::i64(PANEL);
            b.assign(v, Expr::vload(w4t, at, lanes));
        }
        let step = gi.clone() * Expr::i64(d.k4) + kg;
        let xrow = step * Expr::i64(d.cols_pad) + col0.clone();
        for (i, row) in acc.iter().enumerate() {
            b.assign(xv, Expr::load(xs, xrow.clone() + Expr::i64(i as i64)));
            for (&a, &w) in row.iter().zip(&wv) {
                let dot = Expr::dot_bytes_as(
                    out.a_sign,
                    Expr::var(a),
                    Expr::splat(Expr::var(xv), lanes),
                    Expr::var(w),
                );
                b.assign(a, dot);
            }
        }
    });
    for (i, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let at = (col0.clone() + Expr::i64(i as i64)) * Expr::i64(oc_pad)
                + slot0.clone()
                + Expr::i64(j as i64 * l);
            b.store(accs, at, Expr::var(a));
        }
    }
    b.for_loop("i", 0, rows, LoopKind::Serial, |b, i| {
        let col = col0.clone() + i;
        // The channels of the tile that exist.
        let hi = (Expr::i64(d.m) - m0.clone()).min(Expr::i64(nvec * l));
        b.for_loop("j", 0, hi, LoopKind::Vectorize, |b, j| {
            let ch = ch0.clone() + j.clone();
            let a = Expr::load(accs, col.clone() * Expr::i64(oc_pad) + slot0.clone() + j)
                + out.comp.at(ch.clone());
            let at = output_index(d, out.oc, &ch, col.clone());
            let v = output_value(out, a, &ch, &at);
            b.store(out.y, at, v);
        });
    });
}

/// `rows` × `nvec` i32 accumulator vectors of `lanes`, set to zero.
fn zeroed_accumulators(b: &mut KernelBuilder, rows: i64, nvec: i64, lanes: u32) -> Vec<Vec<VarId>> {
    let i32t = ScalarType::I32;
    let acc: Vec<Vec<VarId>> = (0..rows)
        .map(|i| {
            (0..nvec)
                .map(|j| b.vector_var(format!("acc{i}_{j}"), i32t, lanes))
                .collect()
        })
        .collect();
    for &v in acc.iter().flatten() {
        b.assign(v, Expr::splat(Expr::IConst(0, i32t), lanes));
    }
    acc
}

/// Index in the `[image][channel][pixel]` output of channel `ch` at GEMM column `col`
/// (columns run over the images' pixels, `d.p` per image, `oc` channels in all).
fn output_index(d: &Dims, oc: i64, ch: &Expr, col: Expr) -> Expr {
    if d.cols == d.p {
        ch.clone() * Expr::i64(d.p) + col
    } else {
        let n = col.clone() / Expr::i64(d.p);
        (n * Expr::i64(oc) + ch.clone()) * Expr::i64(d.p) + col % Expr::i64(d.p)
    }
}

/// Whether [`tile_code`] converts its accumulators in registers: no column is padding
/// (the columns are a whole number of 16-lane vectors) and no vector straddles two
/// images, so that each accumulator vector is one contiguous run of the output. The
/// same for every vector unit (lanes divide 16).
fn in_registers(d: &Dims) -> bool {
    d.cols == d.cols_pad && (d.cols == d.p || d.p % COL_ALIGN == 0)
}

/// The op's output for accumulator `a` (i32, compensation added) of channel `ch`, to be
/// stored at output index `at`.
pub(super) fn output_value(out: &Out<'_>, a: Expr, ch: &Expr, at: &Expr) -> Expr {
    output_lanes(out, a, ch, at, 1)
}

/// [`output_value`] for `lanes` consecutive outputs of one channel (`a` a vector of
/// `lanes` accumulators when `lanes` > 1, `at` the first one's index).
fn output_lanes(out: &Out<'_>, a: Expr, ch: &Expr, at: &Expr, lanes: u32) -> Expr {
    let f32t = ScalarType::F32;
    let vec = |e: Expr| if lanes > 1 { Expr::splat(e, lanes) } else { e };
    let Some(scale) = out.scale else {
        return a;
    };
    let mut scale = Expr::load(scale, ch.clone());
    if let Some(xs) = out.x_scale {
        scale = Expr::load(xs, Expr::i64(0)) * scale;
    }
    let mut v = Expr::cast(f32t, a) * vec(scale);
    if let Some(r) = out.residual {
        let res = if lanes > 1 {
            Expr::vload(r, at.clone(), lanes)
        } else {
            Expr::load(r, at.clone())
        };
        let centred = Expr::cast(f32t, res) - vec(Expr::f32(out.q.res_zero as f32));
        v = v + centred * vec(Expr::f32(out.q.res_scale));
    }
    let to = match out.q.out {
        DType::U8 => ScalarType::U8,
        DType::I8 => ScalarType::I8,
        _ => return v,
    };
    let q = out.q;
    // Clamp first, to the integer bounds `y_min − y_zero ..= y_max − y_zero` (rounding
    // is monotonic and the bounds are integers, so clamping before rounding is the same
    // as after), then round half to even by the float adder itself: for |v| <= 2^22,
    // the bits of v + 1.5·2^23 are 0x4B40_0000 + round_half_even(v) (f32 addition
    // rounds to nearest even). Then the zero point and a wrapping narrow: all of it
    // vectorizes, where a saturating float→u8 conversion would not.
    let i32t = ScalarType::I32;
    let lo = (q.y_min - q.y_zero) as f32;
    let hi = (q.y_max - q.y_zero) as f32;
    let v = v.max(vec(Expr::f32(lo))).min(vec(Expr::f32(hi)));
    let biased = Expr::bitcast(i32t, v + vec(Expr::f32(12_582_912.0)));
    let r = biased - vec(Expr::IConst(0x4B40_0000 - i64::from(q.y_zero), i32t));
    Expr::cast(to, r)
}
