#!/usr/bin/env bash
# Every NVIDIA check and timing in one go (the lent GPU's time is scarce), from the repo root:
#   source .devcarry/setup.sh && bash bench/gpu-run.sh        (QUICK=1: tiny sizes, for lavapipe)
# PARTS="golden fused xl" runs only the named parts (default: all, in the order below). A session
# has 15 minutes of device time and 10 per command, so split the parts over two calls, e.g.
#   PARTS="gradcheck golden bandwidth attention-mixed fused xl-mixed xl"   (~4 minutes on the H200, run 8)
#   PARTS="matmul torch-xl"                                              (matmul tables, PyTorch's XL figures)
#   SWEEP=1 XL_LIMIT=100 PARTS="matmul attention-mixed xl-direct noswizzle"  (limits sum to 535 s < 600)
#   SWEEP=1 TUNE=1 XL_LIMIT=80 PARTS="gradcheck golden fused xl-mixed xl"   (the f32 attention sweep, its
#     picks then in the XL parts; limits sum to 580 s)
# DEADLINE=S ends the run within S seconds (parts cut or skipped; see cap below). XL_LIMIT=S caps each XL part at S seconds. TUNE=1 hands the attention sweeps' fastest tiles to the
# later parts (AVDIT_MIXED_TILES; with SWEEP=1 also the f32 kernels' AVDIT_ATTENTION_TILES), and part
# fused's choice of whole-tile accumulate loops per f32 kernel (AVDIT_ATTENTION_WHOLE_TILES), and part
# matmul's verdicts on transposed weight copies for f32 forward products (AVDIT_MATMUL_WEIGHT_T) and,
# with SWEEP=1, on v2's 256×128 tile at N = 1152 (AVDIT_MATMUL_V2_ALT) and on f32 products on the
# tensor cores (AVDIT_MATMUL_F32X3, only if part golden-x3 passed in the same call), and part fused's on
# f32 attention through the same split (AVDIT_ATTENTION_F32X3, likewise).
# Shaders run without Dawn's index clamping and workgroup zeroing (engine/webgpu/device.ts); part
# `robust` times v2 and v4 at 4096³ (NN, NT, TN) with them (AVDIT_ROBUSTNESS=1) beside part `matmul`'s
# figures for the same shapes. If gradcheck or golden fails, the later parts run with them on.
# Part `noswizzle` times v2 at 4096³ with its transposed tiles in the plain layout (AVDIT_MATMUL_SWIZZLE=0).
# AVDIT_DAWN_ENABLE=toggle,… adds any Dawn toggles.
# AVDIT_MIXED_ATTENTION=0 keeps --precision mixed's attention on the f32 kernels (if the tensor-core
# attention fails on the card, or to measure what it brings).
# The model's attention on GPUs is matmul + softmax + matmul from 64 queries on by default (model/layers/
# attention.ts ATTENTION_DEFAULTS); AVDIT_ATTENTION=fused PARTS=xl times the XL step with the fused kernels.
# BUNDLE=FILE.tgz packs $OUT into one archive after every part (the device tool returns at most 8
# files, and what was packed before a time-out still comes back).
# Each part has its own time limit so one failure cannot eat the rest; outputs go to $OUT.
set -u
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
OUT=${OUT:-bench/results/gpu-run}; mkdir -p "$OUT"
q=${QUICK:+--quick}
PARTS=${PARTS:-gradcheck golden matmul golden-x3 robust noswizzle bandwidth attention-mixed fused xl-mixed xl-direct xl xl-ab xl-ab-mixed torch-xl}
want() { [[ " $PARTS " == *" $1 "* ]]; }
# DEADLINE=S: the whole run ends within S seconds of its start (the device tool's call limit, or the
# session's device time left): each part's limit is cut to what is left (less 10 s for the bundle),
# and a part with under 20 s left is skipped, so the bundle of the parts that ran comes back.
START=$(date +%s)
cap() { local s=$1; if [ -n "${DEADLINE:-}" ]; then local left=$(( DEADLINE - ($(date +%s) - START) - 10 )); [ "$left" -lt "$s" ] && s=$left; fi; echo "$s"; }
part() { local name=$1 secs; secs=$(cap "$2"); shift 2; want "$name" || return 0
  if [ "$secs" -lt 20 ]; then echo "=== $name: skipped, ${secs}s left before DEADLINE=${DEADLINE}s"; return 0; fi
  echo "=== $name (limit ${secs}s)"; local t=$(date +%s)
  timeout "$secs" "$@" > "$OUT/$name.txt" 2>&1; local rc=$?
  tail -n "${TAILN:-25}" "$OUT/$name.txt"; echo "=== $name: rc=$rc, $(( $(date +%s) - t ))s"
  [ -z "${BUNDLE:-}" ] || tar -czf "$BUNDLE" -C "$OUT" .; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
# The adapter, its features and the kernels this engine runs there (the run's first record).
node bin/avdit.mjs device 2>&1 | tee "$OUT/device.txt" | grep -v '^Warning'
part gradcheck 30 node bin/avdit.mjs gradcheck --backend webgpu --cases 3
TAILN=8 part golden 150 node --import tsx --test test/webgpu/model-golden.test.ts test/webgpu/attention.test.ts test/webgpu/attention-mixed.test.ts test/webgpu/attention-x3.test.ts test/webgpu/attention-heads.test.ts test/webgpu/matmul.test.ts test/webgpu/matmul-x3.test.ts test/webgpu/mixed-precision.test.ts test/webgpu/reduce-nn.test.ts test/webgpu/poison.test.ts test/webgpu/weight-copies.test.ts
want golden && grep "^not ok" "$OUT/golden.txt" 2>/dev/null | sed 's/^/=== failed: /'
# Kernels run without Dawn's shader safety nets, and row kernels on subgroup shuffles, since session 8
# (both new on NVIDIA): if gradcheck fails, or a golden test of poison, row reductions or the models,
# the later parts run with the old ways. (Run 9 took this turn for failures of other tests' own
# making, and timed the XL steps with both off: the match is narrow since.)
if { want gradcheck && ! grep -q ", 0 failed" "$OUT/gradcheck.txt" 2>/dev/null; } \
  || { want golden && grep -Ei "^not ok [0-9]+ - .*(poison|row reduction|softmax|layerNorm|reduce|sum and max|AV-DiT|DiT forward|mixed precision \()" "$OUT/golden.txt" 2>/dev/null | grep -viq "one-pass"; }; then
  echo "=== a correctness part failed: AVDIT_ROBUSTNESS=1 AVDIT_ROW_SUBGROUPS=0 for the parts below"; export AVDIT_ROBUSTNESS=1 AVDIT_ROW_SUBGROUPS=0
fi
# The tensor-core attention runs on hardware for the first time in the golden part: if it fails
# there, the mixed XL part runs with mixed precision's attention in f32 instead (and says so).
if want golden && grep "^not ok .*mixed attention" "$OUT/golden.txt" 2>/dev/null | grep -vq "one pass"; then
  echo "=== the tensor-core attention failed its tests: AVDIT_MIXED_ATTENTION=0 for the parts below"; export AVDIT_MIXED_ATTENTION=0
fi
# The f32 attention's batched staging (the default on GPUs since the fifteenth session) runs on hardware
# first here too: if the default f32 attention fails, the later parts stage by the loop (run 8's form).
if want golden && grep -Eq "^not ok [0-9]+ - (attention forward and backward match|attention staged with batched loads|the autograd attention op)" "$OUT/golden.txt" 2>/dev/null; then
  echo "=== the f32 attention failed its tests: AVDIT_ATTENTION_STAGING=loop for the parts below"; export AVDIT_ATTENTION_STAGING=loop
fi
# v4 with a bias (its accumulators loaded as result fragments) also runs on hardware first here: if it
# fails, the mixed XL part runs the f16 v3 kernel instead (and says so); the f32 parts are unaffected.
MIXED_MATMUL=
if want golden && grep -q "^not ok .*matmul v4" "$OUT/golden.txt" 2>/dev/null; then
  echo "=== the tensor-core matmul failed its tests: AVDIT_MATMUL=v3 for the mixed XL part"; MIXED_MATMUL=v3
fi
# --ablate: the default v2 / v4 with their products, global loads, staging stores or barriers cut
# out (tenth session): what bounds them (about 30 s).
# With SWEEP=1 only the square shapes and the sweep's (XL's other shapes were measured in run 11).
# (The verdict files come after the ablations: the limit leaves room for both, ~45 sweep configs.)
TAILN=40 part matmul $([ -n "${SWEEP:-}" ] && echo 360 || echo 240) node --import tsx bench/gpu-matmul.ts --runs 3 --ablate ${SWEEP:+--sweep --shapes square,sweep} $q
# f32 products on the tensor cores (v4 `:x3`, twentieth session) inside the models: the layer and
# model goldens at their f32 tolerances with every f32 product split, in the config part matmul's
# sweep found fastest (matmul-f32x3.txt) or else the default one (AVDIT_MATMUL_F32X3=1). TUNE=1 takes
# part matmul's verdict on it only if this passed. (The split's own tests, every form, run in part
# golden: a form that fails there, say x3's scale-back builtin, does not block the one chosen here.)
# The f32 attention through the same split (twenty-first session) runs here too, at every length
# (AVDIT_ATTENTION_F32X3=all: the tiny models' sequences are short): TUNE=1 takes part fused's verdict
# on it only if this passed.
X3CFG=1; if [ -s "$OUT/matmul-f32x3.txt" ] && [ "$(cat "$OUT/matmul-f32x3.txt")" != off ]; then X3CFG=$(cat "$OUT/matmul-f32x3.txt"); fi
TAILN=8 part golden-x3 120 env AVDIT_MATMUL_F32X3=$X3CFG AVDIT_ATTENTION_F32X3=all node --import tsx --test test/webgpu/model-golden.test.ts test/webgpu/layer-goldens.test.ts
want golden-x3 && grep "^not ok" "$OUT/golden-x3.txt" 2>/dev/null | sed 's/^/=== failed (x3): /'
TAILN=12 part robust 60 env AVDIT_ROBUSTNESS=1 node --import tsx bench/gpu-matmul.ts --variants v2,v4 --shapes square --runs 3 --no-torch --no-check $q
# v2 without the XOR swizzle of its transposed tiles (ninth session; NN and NT transpose A, NT B).
TAILN=12 part noswizzle 45 env AVDIT_MATMUL_SWIZZLE=0 node --import tsx bench/gpu-matmul.ts --variants v2 --shapes square --runs 3 --no-torch --no-check $q
TAILN=16 part bandwidth 45 node --import tsx bench/gpu-bandwidth.ts $q
TAILN=20 part attention-mixed 150 node --import tsx bench/gpu-attention-mixed.ts $q
# TUNE=1: the later parts run the mixed attention with the tiles this sweep found fastest per shape
# (else with the committed defaults; in run 8 the sweep's picks made the XL step's attention slower).
if [ -n "${TUNE:-}" ] && want attention-mixed && [ -s "$OUT/mixed-tiles.json" ] && [ -z "$q" ]; then
  export AVDIT_MIXED_TILES="$(cat "$OUT/mixed-tiles.json")"; echo "=== AVDIT_MIXED_TILES=$AVDIT_MIXED_TILES"
  # and the one-pass forward (lazy rescaling) if the sweep found it faster and part golden's one-pass
  # tests passed in this call (its earlier forms failed them on the H200; AVDIT_MIXED_ONEPASS=1 refuses
  # tensor cores until they pass, so `force`)
  if [ "$(cat "$OUT/mixed-onepass.txt" 2>/dev/null)" = 1 ]; then
    if [ -s "$OUT/golden.txt" ] && grep -q "^ok .*one pass (lazy rescaling)" "$OUT/golden.txt" && grep -q "^ok .*one-pass forward" "$OUT/golden.txt"; then
      export AVDIT_MIXED_ONEPASS=force; echo "=== AVDIT_MIXED_ONEPASS=force"
    else echo "=== AVDIT_MIXED_ONEPASS not set: part golden's one-pass tests did not pass in this call"; fi
  fi
  # and the double-buffered forms of the kernels where they were faster (a list such as fwd,dkdv)
  if [ -s "$OUT/mixed-db.txt" ]; then export AVDIT_MIXED_DB="$(cat "$OUT/mixed-db.txt")"; echo "=== AVDIT_MIXED_DB=$AVDIT_MIXED_DB"; fi
fi
# (With SWEEP=1 the f32 tile sweep adds about 80 configs: a longer limit.)
TAILN=40 part fused $([ -n "${SWEEP:-}" ] && echo 240 || echo 150) node --import tsx bench/gpu-fused.ts ${SWEEP:+--variants} $q
# TUNE=1: f32 attention through the x3 split on the tensor cores (AVDIT_ATTENTION_F32X3=1) if part fused
# found it faster than the f32 kernels at every shape it runs at and part golden-x3 passed in this
# call; with SWEEP=1 with its fastest tiles (added to AVDIT_MIXED_TILES).
if [ -n "${TUNE:-}" ] && want fused && [ "$(cat "$OUT/attention-x3.txt" 2>/dev/null)" = 1 ] && [ -z "$q" ]; then
  if [ -s "$OUT/golden-x3.txt" ] && grep -q "^# fail 0" "$OUT/golden-x3.txt"; then
    export AVDIT_ATTENTION_F32X3=1; echo "=== AVDIT_ATTENTION_F32X3=1"
    if [ -s "$OUT/attention-x3-tiles.json" ]; then
      export AVDIT_MIXED_TILES="$(node -e 'const [a, b] = process.argv.slice(1); console.log(JSON.stringify({ ...JSON.parse(a || "{}"), ...JSON.parse(b) }))' "${AVDIT_MIXED_TILES:-}" "$(cat "$OUT/attention-x3-tiles.json")")"
      echo "=== AVDIT_MIXED_TILES=$AVDIT_MIXED_TILES"
    fi
  else echo "=== AVDIT_ATTENTION_F32X3 not set: part golden-x3 did not pass in this call"; fi
fi
# TUNE=1 with SWEEP=1: the XL parts run the f32 attention with the thread layouts and tiles the fused
# sweep found fastest per shape (AVDIT_ATTENTION_TILES).
if [ -n "${TUNE:-}" ] && want fused && [ -s "$OUT/attention-tiles.json" ] && [ -z "$q" ]; then
  export AVDIT_ATTENTION_TILES="$(cat "$OUT/attention-tiles.json")"; echo "=== AVDIT_ATTENTION_TILES=$AVDIT_ATTENTION_TILES"
fi
# TUNE=1: and the f32 kernels whose accumulate loops ran faster over whole tiles (any part fused run).
if [ -n "${TUNE:-}" ] && want fused && [ -s "$OUT/attention-whole.txt" ] && [ -z "$q" ]; then
  export AVDIT_ATTENTION_WHOLE_TILES="$(cat "$OUT/attention-whole.txt")"; echo "=== AVDIT_ATTENTION_WHOLE_TILES=$AVDIT_ATTENTION_WHOLE_TILES"
fi
# TUNE=1: v2's tile on its side where it wastes fewer columns (N = 1152) if the sweep (SWEEP=1) found
# it faster there (AVDIT_MATMUL_V2_ALT).
if [ -n "${TUNE:-}" ] && [ -s "$OUT/matmul-v2-alt.txt" ] && [ -z "$q" ]; then
  export AVDIT_MATMUL_V2_ALT="$(cat "$OUT/matmul-v2-alt.txt")"; echo "=== AVDIT_MATMUL_V2_ALT=$AVDIT_MATMUL_V2_ALT"
fi
# TUNE=1: the f32 parts on transposed weight copies if part matmul found v2's NN faster than its NT
# at XL's forward shapes (AVDIT_MATMUL_WEIGHT_T).
if [ -n "${TUNE:-}" ] && [ -s "$OUT/matmul-weight-t.txt" ] && [ -z "$q" ]; then
  export AVDIT_MATMUL_WEIGHT_T="$(cat "$OUT/matmul-weight-t.txt")"; echo "=== AVDIT_MATMUL_WEIGHT_T=$AVDIT_MATMUL_WEIGHT_T"
fi
# TUNE=1: f32 products on the tensor cores (AVDIT_MATMUL_F32X3) if the sweep (SWEEP=1) found the split's
# best config faster than v2's best and part golden-x3 passed in this call.
if [ -n "${TUNE:-}" ] && [ -s "$OUT/matmul-f32x3.txt" ] && [ -z "$q" ]; then
  if [ -s "$OUT/golden-x3.txt" ] && grep -q "^# fail 0" "$OUT/golden-x3.txt"; then
    export AVDIT_MATMUL_F32X3="$(cat "$OUT/matmul-f32x3.txt")"; echo "=== AVDIT_MATMUL_F32X3=$AVDIT_MATMUL_F32X3"
  else echo "=== AVDIT_MATMUL_F32X3 not set: part golden-x3 did not pass in this call"; fi
fi
# TUNE=1: mixed precision's big products in the staged v4 config part matmul's sweep found more
# than 3% faster than the default (AVDIT_MATMUL_V4), where it did.
if [ -n "${TUNE:-}" ] && [ -s "$OUT/matmul-v4.txt" ] && [ "$(cat "$OUT/matmul-v4.txt")" != off ] && [ -z "$q" ]; then
  export AVDIT_MATMUL_V4="$(cat "$OUT/matmul-v4.txt")"; echo "=== AVDIT_MATMUL_V4=$AVDIT_MATMUL_V4"
fi
L=$(cap "${XL_LIMIT:-150}"); TAILN=60 part xl-mixed "$L" env ${MIXED_MATMUL:+AVDIT_MATMUL=$MIXED_MATMUL} node --import tsx bench/gpu-xl.ts --budget $(( L - 40 )) --mixed --profile $q
# Mixed precision with the frozen weights' f16 copies read straight from memory (v4 `:gb`, or
# DIRECT=…:gb:ga for the activations too): worth running after part `matmul` with SWEEP=1 in the
# same call, whose fastest `:gb` form it then takes (else DIRECT, else the first `:gb` config).
if [ -z "${DIRECT:-}" ] && [ -s "$OUT/matmul-direct.txt" ]; then DIRECT=$(cat "$OUT/matmul-direct.txt"); echo "=== DIRECT=$DIRECT (part matmul's fastest :gb form)"; fi
L=$(cap "${XL_LIMIT:-150}"); TAILN=60 part xl-direct "$L" env AVDIT_MATMUL_DIRECT=${DIRECT:-v4:128x128x32:2x4:gb} node --import tsx bench/gpu-xl.ts --budget $(( L - 40 )) --mixed --profile $q
L=$(cap "${XL_LIMIT:-170}"); TAILN=60 part xl "$L" node --import tsx bench/gpu-xl.ts --budget $(( L - 40 )) --profile $q
# Each f32 option weighed above (v2's alternative tile, transposed weights, whole-tile attention
# loops) on and off in turn inside the XL denoising step (about 40 s).
L=$(cap 100); TAILN=10 part xl-ab "$L" node --import tsx bench/gpu-xl.ts --ab --budget $(( L - 20 )) $q
# The same for mixed precision (composed attention, double-buffered attention tiles, the weights' f16 copies staged through fragments: v4 :gb:fs).
L=$(cap 100); TAILN=7 part xl-ab-mixed "$L" node --import tsx bench/gpu-xl.ts --ab --mixed --budget $(( L - 20 )) $q
TAILN=8 part torch-xl 150 python3 bench/torch_xl.py
ls -la "$OUT"
