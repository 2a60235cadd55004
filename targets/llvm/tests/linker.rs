//! Linker discovery. One test in its own binary, because it changes `NEOC_LLD`.

use neoc_kernel::{Access, Expr, KernelBuilder, LoopKind, Module, ScalarType};
use neoc_llvm::{compile_shared_object, find_linker, LlvmError};

#[test]
fn neoc_lld_is_honoured_and_errors_explain_the_fix() {
    let mut b = KernelBuilder::new("fill");
    let y = b.param("y", ScalarType::F32, 8, Access::Write);
    b.for_loop("i", 0, 8, LoopKind::Serial, |b, i| {
        b.store(y, i, Expr::f32(1.0))
    });
    let module = Module {
        kernels: vec![b.finish()],
    };
    let t = neoc_target_spec::lookup("x86_64-avx2").unwrap();

    let found = find_linker().expect("this machine has rust-lld or ld.lld");
    println!("default linker: {}", found.path.display());

    std::env::set_var("NEOC_LLD", &found.path);
    assert_eq!(find_linker().unwrap().path, found.path);
    let so = compile_shared_object(&module, &t, &t.levels[0], &Default::default()).unwrap();
    assert_eq!(&so[..4], b"\x7fELF");

    std::env::set_var("NEOC_LLD", "/nonexistent/ld.lld");
    let err = compile_shared_object(&module, &t, &t.levels[0], &Default::default()).unwrap_err();
    assert!(matches!(err, LlvmError::LinkerNotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/ld.lld") && msg.contains("NEOC_LLD"),
        "{msg}"
    );
    assert!(msg.contains("install lld"), "{msg}");
    std::env::remove_var("NEOC_LLD");
}
