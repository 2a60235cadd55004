#!/usr/bin/env bash
# GPU checks of neoc's CUDA target, run on the GPU machine from a pack made by
# scripts/gpu-pack. Builds nothing: needs the NVIDIA driver, python3 and PyTorch.
#  1. every packed test model runs on the GPU and is compared with its onnxruntime
#     reference (case.json tolerances: fp32's, or a 16-bit pack's from gpu-pack
#     --precision);
#  2. benchmark artifacts (batch 1 and 32) are timed with neoc-cuda-run, PyTorch eager and
#     torch.compile (fp32 and fp16) with bench_torch.py, and one table is printed.
# Environment: ITERS (default 50), SKIP_TORCH=1, SKIP_COMPILE=1 (no torch.compile).
set -uo pipefail
cd "$(dirname "$0")"
ITERS=${ITERS:-50}
echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
    || echo "(nvidia-smi not available)"
echo "target: $(cat TARGET 2>/dev/null)"

echo "== correctness (every test model vs its reference)"
pass=0; fail=0; failed=()
for d in models/*/; do
    name=$(basename "$d")
    read -r rtol atol < <(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['rtol'], c['atol'])" "$d/case.json")
    if out=$(./bin/neoc-cuda-run "$d/model.neo" --inputs "$d/inputs" --expected "$d/expected" \
            --rtol "$rtol" --atol "$atol" 2>&1); then
        pass=$((pass + 1)); status=PASS
    else
        fail=$((fail + 1)); failed+=("$name"); status=FAIL
    fi
    echo "$status $name"
    echo "$out" | grep -E "^(RESULT|error)" | sed 's/^/    /'
done
echo "correctness: $pass passed, $fail failed ${failed[*]:-}"

echo "== benchmarks"
results=$(mktemp)
for f in bench/*.neo; do
    [ -e "$f" ] || continue
    b=$(basename "$f" .neo)            # NAME-bB-PREC
    line=$(./bin/neoc-cuda-run "$f" --bench "$ITERS" --warmup 10 2>&1 | grep -E "^(BENCH|error)")
    echo "$b: $line"
    ms=$(echo "$line" | awk '/^BENCH/ {print $4}')
    echo "{\"key\": \"$b\", \"mode\": \"neoc\", \"median_ms\": \"${ms:-error}\"}" >> "$results"
    # the same without CUDA graph replay (one launch per plan step)
    line=$(NEOC_CUDA_GRAPHS=0 ./bin/neoc-cuda-run "$f" --bench "$ITERS" --warmup 10 2>&1 | grep -E "^(BENCH|error)")
    echo "$b (no graph): $line"
    ms=$(echo "$line" | awk '/^BENCH/ {print $4}')
    echo "{\"key\": \"$b\", \"mode\": \"neoc-nograph\", \"median_ms\": \"${ms:-error}\"}" >> "$results"
done
models=$(ls bench/*.neo 2>/dev/null | xargs -n1 basename | sed 's/-b[0-9]*-[a-z]*[0-9]*\.neo$//' | sort -u | tr '\n' ' ')
if [ "${SKIP_TORCH:-0}" != 1 ] && [ -n "$models" ]; then
    modes="eager compile"; [ "${SKIP_COMPILE:-0}" = 1 ] && modes=eager
    # shellcheck disable=SC2086
    python3 bench_torch.py --models $models --modes $modes --iters "$ITERS" | tee -a "$results"
fi
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
neoc, nograph, torch = {}, {}, {}
for r in rows:
    if r.get("mode") in ("neoc", "neoc-nograph"):
        name, b, prec = r["key"].rsplit("-", 2)
        (neoc if r["mode"] == "neoc" else nograph)[(name, int(b[1:]), prec)] = r["median_ms"]
    elif "model" in r:
        torch[(r["model"], r["batch"], r["precision"], r["mode"])] = r.get("median_ms", "err")
keys = sorted({k[:3] for k in torch} | set(neoc))
print(f"{'model':<14}{'batch':>6}{'prec':>6}{'neoc ms':>12}{'no graph':>12}{'eager ms':>12}{'compile ms':>12}")
for m, b, p in keys:
    print(f"{m:<14}{b:>6}{p:>6}{str(neoc.get((m, b, p), '-')):>12}{str(nograph.get((m, b, p), '-')):>12}"
          f"{str(torch.get((m, b, p, 'eager'), '-')):>12}{str(torch.get((m, b, p, 'compile'), '-')):>12}")
print("neoc: median ms per run including input/output copies (with and without CUDA graph "
      "replay); PyTorch: CUDA-event median, data on the GPU")
PY
[ "$fail" = 0 ]
