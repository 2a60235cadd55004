//! The register-tiled matrix product under Conv, Gemm and MatMul.
//!
//! `C[M,N] = A[M,K] · B[K,N]` for `batch` independent problems, with B and C contiguous
//! along N. The output is cut into register tiles ([`TileShape`]: 6 rows × 32 columns
//! on AVX-512); one tile's accumulators are vector variables of 16 lanes, which the
//! backend keeps in registers for the whole K loop. Each step of that loop loads the
//! tile's vectors of one B row and, for every tile row, broadcasts one A element into
//! one fused multiply-add per vector: on AVX-512 12 FMAs per 2 vector loads and 6
//! scalar loads, which keeps the FMA units busy instead of the load ports (a
//! row-at-a-time product does one FMA per load and store). LLVM folds the broadcasts
//! into the FMAs' memory operands.
//!
//! Work order (cache blocking): the parallel loop runs over (batch, column block of
//! [`BLOCK_COLS`] columns, row group of [`GROUP_ROWS`] rows); each iteration
//! owns that region of C and walks K in blocks of [`KC`]: for each K block, every panel
//! of the group times every tile of the block, so the K-block of B (256 KiB) is reused
//! from L2 by all panels and each A panel (6 KiB) from L1 by all tiles. Partial sums
//! are stored to C and reloaded between K blocks. Edges are separate tiles with
//! compile-time sizes: leftover rows use a shorter tile, leftover columns a tile whose
//! vectors are 8, 4 or 1 lanes wide — no masks and no bounds checks; the last block and
//! group of a batch take them. When the region is complete, `finish` (bias, scale, fused
//! epilogue) runs over it while it is still in L2.
//!
//! The tile shape depends on the CPU level being compiled ([`super::VectorUnit`]): each
//! level of a multi-level target gets its own lowering, so the AVX2 variant uses 6 × 16
//! tiles (12 `ymm` accumulators of 16) instead of spilling AVX-512's 6 × 32.
//!
//! For GPUs (`VectorUnit::parallelism` above `conv::GEMM_ONLY_PARALLELISM`) `emit` hands
//! the same operands, layouts and `finish` to the shared-memory block kernel of
//! [`crate::gpu::gemm`] instead.

use crate::builder::KernelBuilder;
use crate::expr::Expr;
use crate::kernel::{BufId, LoopKind, ScalarType, VarId};

/// Lanes of one accumulator vector of kernel IR (the backend splits it into as many
/// registers as it needs).
pub(crate) const LANES: u32 = 16;
/// Columns of a column block: a block of B (`KC` rows × 256 columns, 256 KiB) stays in
/// L2 while every row panel of the group passes over it.
const BLOCK_COLS: i64 = 256;
/// Rows of a row group: its A block (48 rows × `KC`) is reused by every column tile of
/// the block, one panel (6 KiB) at a time from L1.
const GROUP_ROWS: i64 = 48;
/// Reduction block: partial sums go back to C between blocks, so that B and A blocks
/// stay cache-sized however long K is (without it a 3072-deep product re-streams all of
/// B from L3 for every row panel).
const KC: i64 = 256;

/// `(batch, row or k) → element index` of the first column of that row.
pub(crate) type RowIndex<'a> = &'a dyn Fn(&Expr, Expr) -> Expr;
/// `(batch, row, k) → element index` of `A[row, k]`.
pub(crate) type AIndex<'a> = &'a dyn Fn(&Expr, Expr, Expr) -> Expr;
/// `(builder, batch, row, column, value) → final value` of one output element.
pub(crate) type Finish<'a> = &'a dyn Fn(&mut KernelBuilder, &Expr, Expr, Expr, Expr) -> Expr;

/// `(builder, batch, row, column block, lane, value) → final value` of one output
/// element of a channel-blocked C.
pub(crate) type BlockFinish<'a> =
    &'a dyn Fn(&mut KernelBuilder, &Expr, Expr, Expr, Expr, Expr) -> Expr;

/// How C is laid out in its buffer, and what happens to each finished element.
pub(crate) enum CLayout<'a> {
    /// `row(batch, row)` is the index of `C[row, 0]`; `C[row, j]` is `j` further.
    Rows {
        row: RowIndex<'a>,
        finish: Option<Finish<'a>>,
    },
    /// Columns in blocks of `block` (a blocked channel layout, the columns being
    /// channels): `at(batch, row, j / block) + j % block` is the index of `C[row, j]`.
    /// Register tiles then use vectors of at most `block` lanes, aligned to blocks.
    Blocked {
        block: i64,
        at: &'a dyn Fn(&Expr, Expr, Expr) -> Expr,
        finish: Option<BlockFinish<'a>>,
    },
}

/// How B is laid out in its buffer.
pub(crate) enum BLayout<'a> {
    /// Row-major: `row(batch, k)` is the index of `B[k, 0]`, `B[k, j]` is `j` further.
    Rows(RowIndex<'a>),
    /// As [`pack_b`] writes it, each batch's matrix starting at `base(batch)`.
    Packed(&'a dyn Fn(&Expr) -> Expr),
}

/// B (`k × n`, row-major, or `n × k` when `transposed`) in strips of 16 columns: strip
/// `s` holds `B[0, 16s..16s+16], B[1, ..], …` contiguously, then the last `n % 16`
/// columns the same way. A tile's K loop then reads each of its vectors from one
/// sequential stream (row-major B walks a new row, often a new page, at every step).
/// Constant weights are packed at compile time.
pub(crate) fn pack_b(b: &[f32], k: usize, n: usize, transposed: bool) -> Vec<f32> {
    let at = |kk: usize, j: usize| {
        if transposed {
            b[j * k + kk]
        } else {
            b[kk * n + j]
        }
    };
    let lanes = LANES as usize;
    let full = n / lanes * lanes;
    let mut out = Vec::with_capacity(k * n);
    for s in (0..full).step_by(lanes) {
        for kk in 0..k {
            out.extend((s..s + lanes).map(|j| at(kk, j)));
        }
    }
    for kk in 0..k {
        out.extend((full..n).map(|j| at(kk, j)));
    }
    out
}

/// The register tile: `mr` rows × `vectors` 16-lane vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileShape {
    pub mr: i64,
    pub vectors: usize,
    /// Parallel iterations the blocking aims for at least (`VectorUnit::parallelism`).
    pub min_iterations: i64,
    /// GPUs: tensor cores with this operand format (`crate::gpu::tensor_gemm`).
    pub mma: Option<crate::MmaInput>,
}

impl TileShape {
    /// The largest tile of 6 rows whose accumulators fit `unit`'s registers with four
    /// to spare (B vectors, the broadcast, address temporaries): 6 × 32 on AVX-512
    /// (12 of 32 registers), 6 × 16 on AVX2 (12 of 16 `ymm`) and NEON (24 of 32 `q`).
    pub fn for_unit(unit: super::VectorUnit) -> TileShape {
        let per_vector = (LANES * 32).div_ceil(unit.bits.max(1)).max(1);
        let budget = unit.registers.saturating_sub(4);
        let vectors = if 6 * 2 * per_vector <= budget { 2 } else { 1 };
        let mr = (budget / (vectors as u32 * per_vector)).clamp(1, 6);
        TileShape {
            mr: i64::from(mr),
            vectors,
            min_iterations: i64::from(unit.parallelism.max(1)),
            mma: None,
        }
    }

    /// This shape with tensor cores of `mma` on GPUs (see [`super::Ctx::mma_input`]).
    pub fn with_mma(self, mma: Option<crate::MmaInput>) -> TileShape {
        TileShape { mma, ..self }
    }

    /// Columns of one tile.
    pub fn nr(self) -> i64 {
        self.vectors as i64 * i64::from(LANES)
    }
}

/// One batched product and where its operands live.
pub(crate) struct TiledGemm<'a> {
    pub shape: TileShape,
    pub batch: i64,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub a: BufId,
    pub a_at: AIndex<'a>,
    pub b: BufId,
    pub b_layout: BLayout<'a>,
    pub c: BufId,
    /// Where `C[row, j]` is, and the function applied to every finished element.
    pub c_layout: CLayout<'a>,
}

/// Vector widths that cover `n` columns exactly: 16s, then at most one 8, one 4, and
/// single lanes.
pub(crate) fn split_widths(mut n: i64) -> Vec<u32> {
    let mut w = Vec::new();
    for lanes in [16u32, 8, 4, 1] {
        while n >= i64::from(lanes) {
            w.push(lanes);
            n -= i64::from(lanes);
            if lanes == 8 || lanes == 4 {
                break;
            }
        }
    }
    w
}

impl TiledGemm<'_> {
    /// Emits the whole product as one top-level parallel loop over (batch, column block,
    /// row group); each iteration owns a disjoint region of C.
    pub fn emit(&self, b: &mut KernelBuilder) {
        if self.shape.min_iterations > i64::from(super::conv::GEMM_ONLY_PARALLELISM) {
            return self.emit_block(b);
        }
        let (mr, nr) = (self.shape.mr, self.shape.nr());
        let (full_rows, row_tail) = (self.m / mr, self.m % mr);
        let (full_cols, col_tail) = (self.n / nr, self.n % nr);
        let (main, tail) = match self.c_layout {
            CLayout::Blocked { block, .. } if block < i64::from(LANES) => {
                let w = block as u32;
                (
                    vec![w; (nr / block) as usize],
                    vec![w; (col_tail / block) as usize],
                )
            }
            _ => (vec![LANES; self.shape.vectors], split_widths(col_tail)),
        };
        let mut tiles_per_block = (BLOCK_COLS / nr).max(1);
        let mut panels_per_group = (GROUP_ROWS / mr).max(1);
        let count = |per: i64, full: i64| ((full + per - 1) / per).max(1);
        // Smaller blocks until there are enough parallel iterations to balance the
        // threads (tasks take contiguous chunks of iterations, so with few iterations
        // one task can get a whole extra block).
        while self.batch * count(tiles_per_block, full_cols) * count(panels_per_group, full_rows)
            < self.shape.min_iterations
        {
            let (cols, rows) = (
                count(tiles_per_block, full_cols),
                count(panels_per_group, full_rows),
            );
            if tiles_per_block > 1 && (cols <= rows || panels_per_group == 1) {
                tiles_per_block /= 2;
            } else if panels_per_group > 1 {
                panels_per_group /= 2;
            } else {
                break;
            }
        }
        let col_blocks = count(tiles_per_block, full_cols);
        let row_groups = count(panels_per_group, full_rows);
        let k_blocks = ((self.k + KC - 1) / KC).max(1);
        let per_batch = col_blocks * row_groups;
        b.for_loop(
            "t",
            0,
            self.batch * per_batch,
            LoopKind::Parallel,
            |b, t| {
                let bi = t.clone() / Expr::i64(per_batch);
                let r = t % Expr::i64(per_batch);
                let cb = r.clone() / Expr::i64(row_groups);
                let rg = r % Expr::i64(row_groups);
                let last_cb = cb.clone().ge(Expr::i64(col_blocks - 1));
                let last_rg = rg.clone().ge(Expr::i64(row_groups - 1));
                let ct0 = cb.clone() * Expr::i64(tiles_per_block);
                let ct1 = (ct0.clone() + Expr::i64(tiles_per_block)).min(Expr::i64(full_cols));
                let p0 = rg.clone() * Expr::i64(panels_per_group);
                let p1 = (p0.clone() + Expr::i64(panels_per_group)).min(Expr::i64(full_rows));
                b.for_loop("kb", 0, k_blocks, LoopKind::Serial, |b, kb| {
                    let k0 = kb.clone() * Expr::i64(KC);
                    let ks = (k0.clone(), (k0 + Expr::i64(KC)).min(Expr::i64(self.k)));
                    let first = kb.clone().lt(Expr::i64(1));
                    // One row of tiles (a full panel or the row tail) across this block.
                    let tile_row = |b: &mut KernelBuilder, row0: Expr, rows: i64| {
                        if full_cols > 0 {
                            b.for_loop(
                                "ct",
                                ct0.clone(),
                                ct1.clone(),
                                LoopKind::Serial,
                                |b, ct| {
                                    self.tile(
                                        b,
                                        &bi,
                                        (row0.clone(), rows),
                                        (ct, &main),
                                        &ks,
                                        &first,
                                    );
                                },
                            );
                        }
                        if !tail.is_empty() {
                            b.if_then(last_cb.clone(), |b| {
                                let ct = Expr::i64(full_cols);
                                self.tile(b, &bi, (row0, rows), (ct, &tail), &ks, &first);
                            });
                        }
                    };
                    if full_rows > 0 {
                        b.for_loop("p", p0.clone(), p1.clone(), LoopKind::Serial, |b, p| {
                            tile_row(b, p * Expr::i64(mr), mr);
                        });
                    }
                    if row_tail > 0 {
                        b.if_then(last_rg.clone(), |b| {
                            tile_row(b, Expr::i64(full_rows * mr), row_tail);
                        });
                    }
                });
                // The region this iteration owns, with the tails if it is the last.
                let edge = |last: &Expr, inner: Expr, all: i64| {
                    Expr::select(last.clone(), Expr::i64(all), inner)
                };
                let r0 = p0.clone() * Expr::i64(mr);
                let r1 = edge(&last_rg, p1 * Expr::i64(mr), self.m);
                match &self.c_layout {
                    CLayout::Rows {
                        row,
                        finish: Some(finish),
                    } => {
                        let c0 = ct0.clone() * Expr::i64(nr);
                        let c1 = edge(&last_cb, ct1 * Expr::i64(nr), self.n);
                        b.for_loop("i", r0, r1, LoopKind::Serial, |b, i| {
                            let crow = row(&bi, i.clone());
                            b.for_loop("j", c0.clone(), c1.clone(), LoopKind::Vectorize, |b, j| {
                                let at = crow.clone() + j.clone();
                                let v =
                                    finish(b, &bi, i.clone(), j, Expr::load(self.c, at.clone()));
                                b.store(self.c, at, v);
                            });
                        });
                    }
                    CLayout::Blocked {
                        block,
                        at,
                        finish: Some(finish),
                    } => {
                        let per_tile = nr / block;
                        let j0 = ct0.clone() * Expr::i64(per_tile);
                        let j1 = edge(&last_cb, ct1 * Expr::i64(per_tile), self.n / block);
                        b.for_loop("i", r0.clone(), r1.clone(), LoopKind::Serial, |b, i| {
                            b.for_loop("jb", j0.clone(), j1.clone(), LoopKind::Serial, |b, jb| {
                                let base = at(&bi, i.clone(), jb.clone());
                                b.for_loop("l", 0, *block, LoopKind::Vectorize, |b, l| {
                                    let at = base.clone() + l.clone();
                                    let v = Expr::load(self.c, at.clone());
                                    let v = finish(b, &bi, i.clone(), jb.clone(), l, v);
                                    b.store(self.c, at, v);
                                });
                            });
                        });
                    }
                    _ => {}
                }
            },
        );
    }

    /// The product as one block kernel for GPUs ([`crate::gpu::gemm`]): the same
    /// operands, layouts and `finish`, read element by element.
    fn emit_block(&self, b: &mut KernelBuilder) {
        let (n, k, lanes) = (self.n, self.k, i64::from(LANES));
        let full = n / lanes * lanes;
        let b_at = |bi: &Expr, kk: Expr, j: Expr| {
            let at = match &self.b_layout {
                BLayout::Rows(row) => row(bi, kk) + j,
                BLayout::Packed(base) => {
                    // Strip j / 16 starts at 16·K·(j / 16); the partial strip after them.
                    let lane = j.clone() % Expr::i64(lanes);
                    let strip = base(bi)
                        + (j.clone() - lane.clone()) * Expr::i64(k)
                        + kk.clone() * Expr::i64(lanes)
                        + lane;
                    if full == n {
                        strip
                    } else {
                        let tail = base(bi)
                            + Expr::i64(full * k)
                            + kk * Expr::i64(n - full)
                            + (j.clone() - Expr::i64(full));
                        Expr::select(j.lt(Expr::i64(full)), strip, tail)
                    }
                }
            };
            (None, at)
        };
        let c_at = |bi: &Expr, r: Expr, j: Expr| match &self.c_layout {
            CLayout::Rows { row, .. } => row(bi, r) + j,
            CLayout::Blocked { block, at, .. } => {
                at(bi, r, j.clone() / Expr::i64(*block)) + j % Expr::i64(*block)
            }
        };
        let blocked_finish =
            |b: &mut KernelBuilder, bi: &Expr, r: Expr, j: Expr, v: Expr| match &self.c_layout {
                CLayout::Blocked {
                    block,
                    finish: Some(f),
                    ..
                } => {
                    let (jb, lane) = (j.clone() / Expr::i64(*block), j % Expr::i64(*block));
                    f(b, bi, r, jb, lane, v)
                }
                _ => v,
            };
        let finish: Option<crate::gpu::gemm::Finish<'_>> = match &self.c_layout {
            CLayout::Rows { finish, .. } => *finish,
            CLayout::Blocked { finish, .. } => finish.map(|_| &blocked_finish as _),
        };
        crate::gpu::gemm::BlockGemm {
            batch: self.batch,
            m: self.m,
            n,
            k,
            a: self.a,
            a_at: self.a_at,
            b: self.b,
            b_at: &b_at,
            c: self.c,
            c_at: &c_at,
            finish,
            mma: self.shape.mma,
        }
        .emit(b);
    }

    /// One `rows × sum(widths)` tile at (`row0`, `col0`) of batch `bi`, over the
    /// reduction range `ks`: starts from zero when `first`, else from C.
    fn tile(
        &self,
        b: &mut KernelBuilder,
        bi: &Expr,
        (row0, rows): (Expr, i64),
        (ct, widths): (Expr, &[u32]),
        ks: &(Expr, Expr),
        first: &Expr,
    ) {
        let nr = self.shape.nr();
        let col0 = ct.clone() * Expr::i64(nr);
        let f32t = ScalarType::F32;
        let vector = |lanes: u32, scalar: Expr| {
            if lanes == 1 {
                scalar
            } else {
                Expr::splat(scalar, lanes)
            }
        };
        let load = |buf: BufId, at: Expr, lanes: u32| {
            if lanes == 1 {
                Expr::load(buf, at)
            } else {
                Expr::vload(buf, at, lanes)
            }
        };
        let offsets: Vec<i64> = widths
            .iter()
            .scan(0i64, |o, &w| {
                let at = *o;
                *o += i64::from(w);
                Some(at)
            })
            .collect();
        let acc: Vec<Vec<VarId>> = (0..rows)
            .map(|i| {
                widths
                    .iter()
                    .enumerate()
                    .map(|(j, &w)| b.vector_var(format!("acc{i}_{j}"), f32t, w))
                    .collect()
            })
            .collect();
        let c_at = |i: usize, off: i64| {
            let r = row0.clone() + Expr::i64(i as i64);
            match &self.c_layout {
                CLayout::Rows { row, .. } => row(bi, r) + col0.clone() + Expr::i64(off),
                // Vectors are aligned to blocks and tiles are whole blocks wide.
                CLayout::Blocked { block, at, .. } => at(
                    bi,
                    r,
                    ct.clone() * Expr::i64(nr / block) + Expr::i64(off / block),
                ),
            }
        };
        b.if_else(
            first.clone(),
            |b| {
                for row in &acc {
                    for (&v, &w) in row.iter().zip(widths) {
                        b.assign(v, vector(w, Expr::f32(0.0)));
                    }
                }
            },
            |b| {
                for (i, row) in acc.iter().enumerate() {
                    for ((&v, &w), &off) in row.iter().zip(widths).zip(&offsets) {
                        b.assign(v, load(self.c, c_at(i, off), w));
                    }
                }
            },
        );
        let bv: Vec<VarId> = widths
            .iter()
            .enumerate()
            .map(|(j, &w)| b.vector_var(format!("b{j}"), f32t, w))
            .collect();
        let av = b.var("a", f32t);
        // Index of B[k, col0 + off] for a vector of `lanes`. Packed: a vector lies in a
        // full 16-column strip (every vector of a full tile, whose columns start at a
        // multiple of 16), or in the last, partial strip (only tail tiles reach it).
        let lanes16 = i64::from(LANES);
        let full = self.n / lanes16 * lanes16;
        let tail_col0 = match ct {
            Expr::IConst(c, _) => Some(c * nr),
            _ => None,
        };
        let b_at = |kk: &Expr, off: i64, lanes: u32| match &self.b_layout {
            BLayout::Rows(row) => row(bi, kk.clone()) + col0.clone() + Expr::i64(off),
            BLayout::Packed(base) => {
                let partial = tail_col0.is_some_and(|c| c + off + i64::from(lanes) > full);
                if partial {
                    let col = tail_col0.unwrap_or(0) + off;
                    base(bi)
                        + Expr::i64(full * self.k)
                        + kk.clone() * Expr::i64(self.n - full)
                        + Expr::i64(col - full)
                } else {
                    let strip = off - off % lanes16;
                    base(bi)
                        + (col0.clone() + Expr::i64(strip)) * Expr::i64(self.k)
                        + kk.clone() * Expr::i64(lanes16)
                        + Expr::i64(off % lanes16)
                }
            }
        };
        b.for_loop(
            "k",
            ks.0.clone(),
            ks.1.clone(),
            LoopKind::Serial,
            |b, kk| {
                for ((&v, &w), &off) in bv.iter().zip(widths).zip(&offsets) {
                    let at = b_at(&kk, off, w);
                    b.assign(v, load(self.b, at, w));
                }
                for (i, row) in acc.iter().enumerate() {
                    let r = row0.clone() + Expr::i64(i as i64);
                    b.assign(av, Expr::load(self.a, (self.a_at)(bi, r, kk.clone())));
                    for ((&acc_v, &bvar), &w) in row.iter().zip(&bv).zip(widths) {
                        let sum =
                            Expr::fma(vector(w, Expr::var(av)), Expr::var(bvar), Expr::var(acc_v));
                        b.assign(acc_v, sum);
                    }
                }
            },
        );
        for (i, row) in acc.iter().enumerate() {
            for (&v, &off) in row.iter().zip(&offsets) {
                b.store(self.c, c_at(i, off), Expr::var(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{pack_b, split_widths, TileShape};

    #[test]
    fn packed_strips_hold_every_element_once() {
        let (k, n) = (3usize, 37usize);
        let b: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
        let p = pack_b(&b, k, n, false);
        assert_eq!(p.len(), k * n);
        // Strip 1 (columns 16..32), row 2: at 16*k + 2*16.
        assert_eq!(&p[16 * k + 32..16 * k + 48], &b[2 * n + 16..2 * n + 32]);
        // Partial strip (columns 32..37), row 1: at 32*k + 1*5.
        assert_eq!(&p[32 * k + 5..32 * k + 10], &b[n + 32..n + 37]);
        // Transposed input gives the same packing.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        assert_eq!(pack_b(&bt, k, n, true), p);
    }
    use crate::VectorUnit;

    #[test]
    fn tiles_fit_each_vector_unit() {
        let shape = |bits, registers| {
            let s = TileShape::for_unit(VectorUnit {
                bits,
                registers,
                parallelism: 24,
                signed_dot_bytes: false,
            });
            (s.mr, s.vectors)
        };
        // AVX-512: 6 x 32 in 12 of 32 zmm; AVX2: 6 x 16 in 12 of 16 ymm; NEON: 6 x 16 in
        // 24 of 32 q registers.
        assert_eq!(shape(512, 32), (6, 2));
        assert_eq!(shape(256, 16), (6, 1));
        assert_eq!(shape(128, 32), (6, 1));
        assert_eq!(shape(128, 16), (3, 1));
        assert_eq!(TileShape::for_unit(VectorUnit::default()).nr(), 32);
    }

    #[test]
    fn widths_cover_every_tail_exactly() {
        for n in 0..64 {
            let w = split_widths(n);
            assert_eq!(
                w.iter().map(|&x| i64::from(x)).sum::<i64>(),
                n,
                "{n}: {w:?}"
            );
            assert!(w.iter().filter(|&&x| x == 1).count() <= 3, "{n}: {w:?}");
        }
    }
}
