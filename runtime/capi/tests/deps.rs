//! libneoc links the runtime and nothing of the compiler: `cargo tree -e normal` (the
//! test-only dependency on the driver does not count) names no compiler crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn capi_depends_on_no_compiler_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "neoc-capi",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tree.contains("neoc-runtime"), "{tree}");
    for banned in [
        "inkwell",
        "llvm-sys",
        "prost",
        "petgraph",
        "neoc-ir",
        "neoc-driver",
    ] {
        assert!(
            !tree.contains(banned),
            "neoc-capi depends on {banned}:\n{tree}"
        );
    }
}
