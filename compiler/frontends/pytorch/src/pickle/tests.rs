//! Unit tests of the restricted unpickler: hand-made pickles (checked against
//! Python's `pickle.dumps`), refusals, truncation, limits.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

fn run(data: &[u8]) -> Result<Pickle> {
    unpickle(data, "m.pt", "data.pkl", Options::default())
}

#[test]
fn reads_scalars_and_containers() {
    // pickle.dumps({'a': [1, 2.5, None, True], 'b': (300, -2, 'x')}, protocol=2)
    let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88eX\x01\x00\x00\x00bq\x03M,\x01J\xfe\xff\xff\xffX\x01\x00\x00\x00xq\x04\x87q\x05u.";
    let p = run(data).unwrap();
    let a = p.items(p.dict_get(&p.root, "a").unwrap()).unwrap();
    assert_eq!(
        a,
        &[
            PyVal::Int(1),
            PyVal::Float(2.5),
            PyVal::None,
            PyVal::Bool(true)
        ]
    );
    let b = p.items(p.dict_get(&p.root, "b").unwrap()).unwrap();
    assert_eq!(b[0], PyVal::Int(300));
    assert_eq!(b[1], PyVal::Int(-2));
    assert_eq!(b[2], PyVal::Str(Rc::from("x")));
}

#[test]
fn memo_keeps_identity() {
    // l = []; pickle.dumps([l, l], protocol=2) then l was appended to after the memo.
    let data = b"\x80\x02]q\x00(]q\x01h\x01e.";
    let p = run(data).unwrap();
    let items = p.items(&p.root).unwrap();
    assert_eq!(items[0], items[1]);
}

#[test]
fn refuses_unknown_globals() {
    // pickle of os.system('echo') via REDUCE
    let data = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.";
    let e = run(data).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::UnsafeGlobal { .. }), "{msg}");
    assert!(msg.contains("os.system") && msg.contains("data.pkl") && msg.contains("m.pt"));
}

#[test]
fn refuses_script_classes_unless_allowed() {
    let data = b"\x80\x02c__torch__\nNet\nq\x00)\x81}b.";
    assert!(run(data).is_err());
    let p = unpickle(
        data,
        "m.pt",
        "data.pkl",
        Options {
            script_classes: true,
        },
    )
    .unwrap();
    assert!(
        matches!(p.obj(&p.root), Some(Obj::Object { class, state: Some(_) }) if class == "__torch__.Net")
    );
}

#[test]
fn truncation_is_an_error() {
    let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00";
    for n in 0..data.len() {
        let e = run(&data[..n]).unwrap_err();
        assert!(matches!(e, PytorchError::Pickle { .. }), "{e}");
    }
}

#[test]
fn stack_underflow_and_bad_marks_are_errors() {
    for data in [
        &b"\x80\x02."[..],
        b"\x80\x02t.",
        b"\x80\x02(0.",
        b"\x80\x02a.",
        b"\x80\x02h\x05.",
    ] {
        assert!(run(data).is_err(), "{data:?}");
    }
}

#[test]
fn rebuilds_tensor_metadata() {
    // torch._utils._rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict())
    let data = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\nFloatStorage\nq\x02X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04K\x06tq\x05QK\x00K\x02K\x03\x86q\x06K\x03K\x01\x86q\x07\x89ccollections\nOrderedDict\nq\x08)Rq\ttq\nRq\x0b.";
    let p = run(data).unwrap();
    let t = p.tensor(&p.root).unwrap();
    assert_eq!(t.dtype, DType::F32);
    assert_eq!(t.size, vec![2, 3]);
    assert_eq!(t.stride, vec![3, 1]);
    assert_eq!(t.storage.key, "0");
    assert_eq!(t.storage.numel, 6);
}

#[test]
fn deep_nesting_is_flat_to_drop() {
    // 100k nested 1-tuples: no recursion anywhere.
    let mut data = b"\x80\x02N".to_vec();
    data.extend(std::iter::repeat_n(0x85u8, 100_000));
    data.push(b'.');
    let p = run(&data).unwrap();
    drop(p);
}

#[test]
fn big_ints_are_refused() {
    let data = b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.";
    assert!(run(data).is_err());
    let data = b"\x80\x02\x8a\x02\xff\x7f.";
    assert_eq!(run(data).unwrap().root, PyVal::Int(32767));
    let data = b"\x80\x02\x8a\x01\xff.";
    assert_eq!(run(data).unwrap().root, PyVal::Int(-1));
}
