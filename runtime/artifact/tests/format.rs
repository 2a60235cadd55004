//! Round-trip, corruption and compatibility tests of the container format.

// Test helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::type_complexity)]

use neoc_artifact::*;

fn sample() -> Artifact {
    let mut weights = vec![0u8; 64 + 16];
    for (i, b) in weights.iter_mut().enumerate() {
        *b = i as u8;
    }
    Artifact {
        compiler_version: "neoc 0.1.0-test".into(),
        target: TargetInfo {
            name: "x86_64-avx2".into(),
            arch: Arch::X86_64,
            triple: "x86_64-unknown-linux-gnu".into(),
        },
        inputs: vec![TensorSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![1, 4],
        }],
        outputs: vec![TensorSpec {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![1, 4],
        }],
        plan: Plan {
            arena_size: 32,
            kernels: vec![
                KernelInfo {
                    symbol: "add_one".into(),
                    params: vec![16, 16],
                    parallel: false,
                },
                KernelInfo {
                    symbol: "add".into(),
                    params: vec![16, 16, 16],
                    parallel: true,
                },
            ],
            steps: vec![
                Step {
                    kernel: 0,
                    args: vec![BufferRef::Input(0), BufferRef::Arena { offset: 0, len: 16 }],
                    label: "add_one_node".into(),
                },
                Step {
                    kernel: 1,
                    args: vec![
                        BufferRef::Arena { offset: 0, len: 16 },
                        BufferRef::Weight {
                            offset: 64,
                            len: 16,
                        },
                        BufferRef::Output(0),
                    ],
                    label: "bias".into(),
                },
            ],
        },
        variants: vec![
            CodeVariant {
                name: "avx2".into(),
                cpu: "x86-64-v3".into(),
                required_features: vec!["avx2".into(), "fma".into()],
                code: b"\x7fELF pretend avx2 code".to_vec(),
            },
            CodeVariant {
                name: "generic".into(),
                cpu: "x86-64".into(),
                required_features: vec![],
                code: b"\x7fELF pretend generic code, a bit longer".to_vec(),
            },
        ],
        weights,
        metadata: vec![
            ("source".into(), "tiny.onnx".into()),
            ("opset".into(), "17".into()),
        ],
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes every checksum of a well-formed container, so a test can change content and
/// still reach the decoder and validator behind the checksums.
fn fix_checksums(b: &mut [u8]) {
    let count = le_u32(b, 16) as usize;
    let entry = le_u32(b, 20) as usize;
    let table = le_u64(b, 24) as usize;
    let table_end = count
        .checked_mul(entry)
        .and_then(|l| l.checked_add(table))
        .filter(|&end| end <= b.len() && entry >= 32 && count < 1000);
    if let Some(table_end) = table_end {
        for i in 0..count {
            let e = table + i * entry;
            let (off, len) = (le_u64(b, e + 8) as usize, le_u64(b, e + 16) as usize);
            if off.checked_add(len).is_some_and(|end| end <= b.len()) {
                let crc = crc32fast::hash(&b[off..off + len]);
                put_u32(b, e + 24, crc);
            }
        }
        let crc = crc32fast::hash(&b[table..table_end]);
        put_u32(b, 40, crc);
    }
    let crc = crc32fast::hash(&b[..60]);
    put_u32(b, 60, crc);
}

fn section(b: &[u8], kind: SectionKind) -> (usize, usize, usize) {
    let count = le_u32(b, 16) as usize;
    for i in 0..count {
        let e = 64 + i * 32;
        if le_u32(b, e) == kind.0 {
            return (e, le_u64(b, e + 8) as usize, le_u64(b, e + 16) as usize);
        }
    }
    panic!("no section {kind}");
}

#[test]
fn round_trip() {
    let a = sample();
    a.validate().unwrap();
    let bytes = a.to_bytes();
    let v = Artifact::parse(&bytes).unwrap();
    assert_eq!(v.to_owned(), a);
    assert_eq!(v.format_version(), FORMAT_VERSION);
    assert_eq!(v.weights_file_offset() % 64, 0);
    assert_eq!(
        &bytes[v.weights_file_offset() as usize..][..v.weights().len()],
        v.weights()
    );
    assert_eq!(v.variants()[1].code, &a.variants[1].code[..]);
    assert_eq!(v.variants()[0].code_file_offset % 64, 0);
    assert_eq!(v.sections().len(), 4);
    // Deterministic encoding.
    assert_eq!(bytes, v.to_owned().to_bytes());
}

/// The per-kernel parallel flags survive a round trip (`sample` has one of each).
#[test]
fn kernel_parallel_flags_round_trip() {
    let a = sample();
    let bytes = a.to_bytes();
    let view = Artifact::parse(&bytes).unwrap();
    let flags: Vec<bool> = view.plan().kernels.iter().map(|k| k.parallel).collect();
    assert_eq!(flags, vec![false, true]);
}

#[test]
fn round_trip_empty_model() {
    let a = Artifact {
        compiler_version: String::new(),
        target: TargetInfo {
            name: "aarch64".into(),
            arch: Arch::Aarch64,
            triple: "aarch64-unknown-linux-gnu".into(),
        },
        inputs: vec![],
        outputs: vec![],
        plan: Plan::default(),
        variants: vec![],
        weights: vec![],
        metadata: vec![],
    };
    assert_eq!(Artifact::parse(&a.to_bytes()).unwrap().to_owned(), a);
}

#[test]
fn write_to_file() {
    let dir = std::env::temp_dir().join(format!("neoc-artifact-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.neo");
    sample().write_to(&p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(Artifact::parse(&bytes).unwrap().to_owned(), sample());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_everywhere_is_an_error() {
    let bytes = sample().to_bytes();
    for n in 0..bytes.len() {
        let err = Artifact::parse(&bytes[..n]).unwrap_err();
        assert!(
            matches!(err, ArtifactError::Truncated { found, .. } if found == n as u64),
            "prefix {n}: {err}"
        );
    }
    let msg = Artifact::parse(&bytes[..100]).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!("truncated: expected {} bytes, found 100", bytes.len())
    );
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut bytes = sample().to_bytes();
    bytes.push(0);
    assert!(matches!(
        Artifact::parse(&bytes),
        Err(ArtifactError::TrailingData { .. })
    ));
}

#[test]
fn flipped_bytes_are_checksum_errors() {
    let bytes = sample().to_bytes();
    let (_, code_off, _) = section(&bytes, SectionKind::CODE);
    let mut b = bytes.clone();
    b[code_off + 3] ^= 0x40;
    let err = Artifact::parse(&b).unwrap_err();
    assert_eq!(
        err,
        ArtifactError::Checksum {
            index: 1,
            kind: SectionKind::CODE
        }
    );
    assert_eq!(
        err.to_string(),
        "corrupted: checksum mismatch in section CODE (entry 1)"
    );
    // Any single flipped bit anywhere is caught by some check.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 1;
        assert!(Artifact::parse(&b).is_err(), "flip at {i} not detected");
    }
}

#[test]
fn bad_magic() {
    let mut b = sample().to_bytes();
    b[0] = b'X';
    let err = Artifact::parse(&b).unwrap_err();
    assert_eq!(err.to_string(), "not a neoc artifact (bad magic)");
    assert_eq!(
        Artifact::parse(b"\x7fELF\x02\x01\x01").unwrap_err(),
        ArtifactError::BadMagic
    );
    assert_eq!(
        Artifact::parse(b"").unwrap_err(),
        ArtifactError::Truncated {
            expected: 64,
            found: 0
        }
    );
}

fn with_versions(format: u32, min_reader: u32) -> Vec<u8> {
    let mut b = sample().to_bytes();
    put_u32(&mut b, 8, format);
    put_u32(&mut b, 12, min_reader);
    fix_checksums(&mut b);
    b
}

#[test]
fn newer_version_readable_when_min_reader_allows() {
    let b = with_versions(FORMAT_VERSION + 1, FORMAT_VERSION);
    let v = Artifact::parse(&b).unwrap();
    assert_eq!(v.format_version(), FORMAT_VERSION + 1);
    assert_eq!(v.to_owned(), sample());
}

#[test]
fn newer_version_needing_newer_reader_is_refused() {
    let b = with_versions(FORMAT_VERSION + 2, FORMAT_VERSION + 1);
    let err = Artifact::parse(&b).unwrap_err();
    assert_eq!(
        err,
        ArtifactError::NeedsNewerRuntime {
            file_version: FORMAT_VERSION + 2,
            needed: FORMAT_VERSION + 1
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("needs a runtime that reads format version 2"),
        "{msg}"
    );
    // Refused even if the rest of the header changed beyond recognition.
    let mut b = b;
    b[40..60].fill(0xAA);
    assert!(matches!(
        Artifact::parse(&b),
        Err(ArtifactError::NeedsNewerRuntime { .. })
    ));
}

#[test]
fn version_zero_and_inconsistent_versions_are_refused() {
    for (f, m) in [(0, 0), (1, 2)] {
        assert!(matches!(
            Artifact::parse(&with_versions(f, m)),
            Err(ArtifactError::UnsupportedVersion { .. })
        ));
    }
}

#[test]
fn unknown_sections_are_skipped() {
    // Append a section of an unknown kind, as a newer compiler might.
    let a = sample();
    let mut b = a.to_bytes();
    let count = le_u32(&b, 16) as usize;
    // Rebuild: header + table with one more entry + bodies shifted by 32 bytes.
    let mut out = b[..64].to_vec();
    let shift = 64u64; // keep every offset's alignment
    for i in 0..count {
        let mut e = b[64 + i * 32..64 + (i + 1) * 32].to_vec();
        let off = le_u64(&e, 8) + shift;
        e[8..16].copy_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&e);
    }
    let extra = b"future data".to_vec();
    let extra_off = (b.len() as u64 + shift).next_multiple_of(8);
    let mut e = Vec::new();
    e.extend_from_slice(&77u32.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&extra_off.to_le_bytes());
    e.extend_from_slice(&(extra.len() as u64).to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&e);
    let body_start = 64 + count * 32;
    out.resize(body_start + shift as usize, 0);
    b.drain(..body_start);
    out.extend_from_slice(&b);
    out.resize(extra_off as usize, 0);
    out.extend_from_slice(&extra);
    put_u32(&mut out, 16, count as u32 + 1);
    let len = out.len() as u64;
    out[32..40].copy_from_slice(&len.to_le_bytes());
    fix_checksums(&mut out);
    let v = Artifact::parse(&out).unwrap();
    assert_eq!(v.to_owned(), a);
    assert_eq!(v.sections().last().unwrap().kind, SectionKind(77));
    assert!(!SectionKind(77).is_known());
}

#[test]
fn plan_validation_errors() {
    let cases: Vec<(Box<dyn Fn(&mut Artifact)>, &str)> = vec![
        (Box::new(|a| a.plan.steps[0].kernel = 9), "calls kernel 9"),
        (
            Box::new(|a| a.plan.steps[0].args.pop().map(drop).unwrap_or(())),
            "passes 1 arguments to kernel add_one, which takes 2",
        ),
        (
            Box::new(|a| a.plan.steps[0].args[0] = BufferRef::Input(3)),
            "the model has 1 inputs",
        ),
        (
            Box::new(|a| a.plan.steps[1].args[2] = BufferRef::Output(1)),
            "the model has 1 outputs",
        ),
        (
            Box::new(|a| {
                a.plan.steps[0].args[1] = BufferRef::Arena {
                    offset: 24,
                    len: 16,
                }
            }),
            "the arena is 32 bytes",
        ),
        (
            Box::new(|a| {
                a.plan.steps[0].args[1] = BufferRef::Arena {
                    offset: u64::MAX,
                    len: 16,
                }
            }),
            "the arena is 32 bytes",
        ),
        (
            Box::new(|a| {
                a.plan.steps[1].args[1] = BufferRef::Weight {
                    offset: 128,
                    len: 16,
                }
            }),
            "the weights are 80 bytes",
        ),
        (
            Box::new(|a| a.plan.steps[1].args[1] = BufferRef::Weight { offset: 8, len: 16 }),
            "multiples of 64",
        ),
        (
            Box::new(|a| a.plan.steps[0].args[1] = BufferRef::Arena { offset: 0, len: 8 }),
            "is 8 bytes, but kernel add_one expects 16",
        ),
        (
            Box::new(|a| a.inputs[0].shape = vec![1, 5]),
            "is 20 bytes, but kernel add_one expects 16",
        ),
        (
            Box::new(|a| a.outputs[0].shape = vec![u64::MAX, 2]),
            "output \"y\" is too large",
        ),
        (Box::new(|a| a.variants.clear()), "no code variant"),
    ];
    for (mutate, expected) in cases {
        let mut a = sample();
        mutate(&mut a);
        let direct = a.validate().unwrap_err().to_string();
        assert!(direct.contains(expected), "{direct:?} lacks {expected:?}");
        let parsed = Artifact::parse(&a.to_bytes()).unwrap_err().to_string();
        assert_eq!(parsed, direct);
    }
}

#[test]
fn misaligned_weights_section_is_refused() {
    let mut b = sample().to_bytes();
    let (e, off, len) = section(&b, SectionKind::WEIGHTS);
    // Move the weights 8 bytes later inside the file (declaring align 8).
    let w = b[off..off + len].to_vec();
    b.extend_from_slice(&[0; 8]);
    b[off + 8..off + 8 + len].copy_from_slice(&w);
    b[e + 8..e + 16].copy_from_slice(&((off + 8) as u64).to_le_bytes());
    put_u32(&mut b, e + 28, 8);
    let n = b.len() as u64;
    b[32..40].copy_from_slice(&n.to_le_bytes());
    fix_checksums(&mut b);
    assert!(matches!(
        Artifact::parse(&b),
        Err(ArtifactError::SectionMisaligned { align: 64, .. })
    ));
}

#[test]
fn dtype_names_and_codes() {
    for d in DType::ALL {
        assert_eq!(DType::from_code(d.code()), Some(d));
        assert_eq!(DType::from_name(d.name()), Some(d));
        assert_eq!(d.to_string(), d.name());
    }
    assert_eq!(DType::I64.name(), "int64");
    assert_eq!(DType::BF16.size_bytes(), 2);
    let s = TensorSpec {
        name: "input".into(),
        dtype: DType::F32,
        shape: vec![1, 3, 224, 224],
    };
    assert_eq!(s.num_elements(), 3 * 224 * 224);
    assert_eq!(s.byte_len(), 4 * 3 * 224 * 224);
    assert_eq!(s.type_string(), "float32[1,3,224,224]");
    assert_eq!(format_type(DType::Bool, &[]), "bool[]");
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_mutations_never_panic() {
    let bytes = sample().to_bytes();
    let (_, meta_off, meta_len) = section(&bytes, SectionKind::META);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for iter in 0..20_000 {
        let mut b = bytes.clone();
        let edits = 1 + rng.below(4);
        for _ in 0..edits {
            // Mostly target META, where the structure is richest.
            let at = if rng.below(4) == 0 {
                rng.below(b.len())
            } else {
                meta_off + rng.below(meta_len)
            };
            match rng.below(4) {
                0 => b[at] ^= 1 << rng.below(8),
                1 => b[at] = rng.next() as u8,
                2 => b[at] = [0, 0xFF, 1, 0x7F][rng.below(4)],
                _ => {
                    let v = [0u32, 1, 2, 3, 0xFFFF_FFFF, 0x8000_0000][rng.below(6)];
                    let at = at.min(b.len() - 4);
                    put_u32(&mut b, at, v);
                }
            }
        }
        if rng.below(8) == 0 {
            b.truncate(rng.below(b.len()));
        }
        // Half the time, fix the checksums so the decoder and validator are exercised.
        if iter % 2 == 0 && b.len() >= 64 {
            fix_checksums(&mut b);
        }
        if let Ok(v) = Artifact::parse(&b) {
            accepted += 1;
            // Whatever was accepted must satisfy the validator and re-encode cleanly.
            let owned = v.to_owned();
            owned.validate().unwrap();
            Artifact::parse(&owned.to_bytes()).unwrap();
        }
    }
    // Some mutations (labels, metadata text, code bytes) are harmless once re-checksummed.
    assert!(accepted > 0);
}
