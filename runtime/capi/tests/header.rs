//! `include/neoc.h` agrees with `src/lib.rs`: every exported function (`#[no_mangle]
//! pub … extern "C" fn`) is declared in the header with the same parameter names and the
//! C spelling of its Rust types, and every function the header declares is exported.
//! The enum's values are checked too. No cbindgen: the header is written by hand, for
//! people, and this test keeps it honest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

/// A function signature: return type and (name, type) parameters, C spelling, with
/// whitespace normalised.
#[derive(Debug, PartialEq)]
struct Sig {
    ret: String,
    params: Vec<(String, String)>,
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Collapses whitespace and removes it around `*`.
fn norm(c: &str) -> String {
    let s = c.split_whitespace().collect::<Vec<_>>().join(" ");
    s.replace(" *", "*").replace("* ", "*")
}

/// The C spelling of a Rust FFI type.
fn c_type(rust: &str) -> String {
    let t = rust.trim();
    if let Some(inner) = t.strip_prefix("*mut ") {
        return format!("{}*", c_type(inner));
    }
    if let Some(inner) = t.strip_prefix("*const ") {
        let c = c_type(inner);
        return if inner.trim_start().starts_with('*') {
            format!("{c}const*")
        } else {
            format!("const {c}*")
        };
    }
    match t {
        "c_char" => "char",
        "c_void" => "void",
        "u8" => "uint8_t",
        "i32" => "int32_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "usize" => "size_t",
        "NeocModel" => "neoc_model",
        "NeocContext" => "neoc_context",
        "NeocStatus" => "neoc_status",
        other => panic!("no C spelling for Rust type `{other}`: extend header.rs"),
    }
    .to_string()
}

/// Exported functions of the Rust source.
fn rust_sigs(src: &str) -> BTreeMap<String, Sig> {
    let mut out = BTreeMap::new();
    for chunk in src.split("#[no_mangle]").skip(1) {
        let start = chunk.find("fn ").unwrap();
        let decl = &chunk[..chunk[start..].find('{').unwrap() + start];
        assert!(
            decl.contains("pub ") && decl.contains("extern \"C\""),
            "#[no_mangle] item is not `pub extern \"C\"`: {decl}"
        );
        let rest = &decl[start + 3..];
        let open = rest.find('(').unwrap();
        let close = rest.rfind(')').unwrap();
        let name = rest[..open].trim().to_string();
        let params = rest[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, t) = p.split_once(':').unwrap();
                (n.trim().to_string(), norm(&c_type(t)))
            })
            .collect();
        let ret = match rest[close + 1..].trim().strip_prefix("->") {
            Some(r) => norm(&c_type(r)),
            None => "void".to_string(),
        };
        out.insert(name, Sig { ret, params });
    }
    out
}

/// Function declarations of the header (comments and preprocessor lines dropped).
fn header_sigs(h: &str) -> BTreeMap<String, Sig> {
    let mut text = String::new();
    let mut rest = h;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").unwrap() + 2..];
    }
    text.push_str(rest);
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    // Drop the `extern "C" {` guard and its closing brace.
    let text = text.replace("extern \"C\" {", "").replace("\n}", "\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.starts_with("typedef") && s.contains('('))
        .map(parse_c_decl)
        .collect()
}

fn split_c_name(decl: &str) -> (String, String) {
    let d = decl.trim();
    let cut = d
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    (d[cut..].to_string(), norm(&d[..cut]))
}

fn parse_c_decl(stmt: &str) -> (String, Sig) {
    let open = stmt.find('(').unwrap();
    let close = stmt.rfind(')').unwrap();
    let (name, ret) = split_c_name(&stmt[..open]);
    let inner = stmt[open + 1..close].trim();
    let params = if inner == "void" {
        Vec::new()
    } else {
        inner.split(',').map(split_c_name).collect()
    };
    (name, Sig { ret, params })
}

#[test]
fn header_matches_exports() {
    let rust = rust_sigs(&read("src/lib.rs"));
    let header = header_sigs(&read("include/neoc.h"));
    assert!(rust.len() >= 14, "found only {rust:?}");
    let mut problems = Vec::new();
    for (name, sig) in &rust {
        match header.get(name) {
            None => problems.push(format!("{name}: exported but not in neoc.h")),
            Some(h) if h != sig => problems.push(format!("{name}: code {sig:?}\n    header {h:?}")),
            Some(_) => {}
        }
    }
    for name in header.keys() {
        if !rust.contains_key(name) {
            problems.push(format!("{name}: declared in neoc.h but not exported"));
        }
    }
    assert!(
        problems.is_empty(),
        "neoc.h is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn status_values_match() {
    use neoc::NeocStatus::*;
    let h = read("include/neoc.h");
    for (c, v) in [
        ("NEOC_OK", Ok),
        ("NEOC_ERR_NULL_POINTER", NullPointer),
        ("NEOC_ERR_INVALID_ARGUMENT", InvalidArgument),
        ("NEOC_ERR_LOAD", Load),
        ("NEOC_ERR_RUN", Run),
        ("NEOC_ERR_BUFFER_TOO_SMALL", BufferTooSmall),
        ("NEOC_ERR_PANIC", Panic),
    ] {
        assert!(
            h.contains(&format!("{c} = {}", v as i32)),
            "neoc.h: {c} should be {}",
            v as i32
        );
    }
    for (c, v) in [
        ("NEOC_IO_INPUT", neoc::NEOC_IO_INPUT),
        ("NEOC_IO_OUTPUT", neoc::NEOC_IO_OUTPUT),
    ] {
        assert!(
            h.contains(&format!("#define {c} {v}")),
            "neoc.h: {c} should be {v}"
        );
    }
    for d in neoc_runtime::DType::ALL.iter().take(13) {
        let c = format!("NEOC_DTYPE_{}", format!("{d:?}").to_uppercase());
        assert!(
            h.contains(&format!("#define {c} {}", d.code())),
            "neoc.h: {c} should be {}",
            d.code()
        );
    }
}
