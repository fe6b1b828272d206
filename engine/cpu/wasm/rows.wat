;; The CPU backend's WebAssembly SIMD kernels for DiT's row-wise fused ops (engine/cpu/fused.ts):
;; the gated residual x + gate·y and its backward, and LayerNorm with adaLN modulation, forward and
;; backward, all f32 with rows of D % 4 = 0. Operands are copied into this memory by rows.ts.
;;
;; Compiled by scripts/build-wasm.mjs (wabt) into rows-wasm.ts; edit this file, then run
;; `npm run build:wasm` (test/cpu/wasm-rows.test.ts checks the committed bytes are a fresh compile,
;; and every result against the JavaScript it replaces, bit for bit).
;;
;; The same bits as the JavaScript: it evaluates each element's expression in f64 and rounds once
;; when it stores into a Float32Array; here the same operations run in the same order on f64x2
;; lanes (products of two f32 values are exact in f64) and are rounded to f32 once. Sums over a
;; row stay chains in index order (several rows' chains run side by side); accumulations over the
;; rows of a sample (dgate, dshift, dscale) are rounded to f32 after each row, as the Float32Array
;; accumulates them.
(module
  (memory (export "memory") 1)

  ;; ---- DiT's gated residual (engine/cpu/fused.ts gatedAddFwd / gatedAddBwd), f32, D % 4 = 0 ----
  ;; Four lanes as two f64x2 halves where the JavaScript computes x + g·y in f64 (the product of two
  ;; f32 values is exact in f64; the sum is rounded to f64, then to f32 once by the store): the
  ;; same bits. dgate accumulates in f32 as the JavaScript's Float32Array does (rounded after each
  ;; token), tokens in order.

  ;; o[b, t, j] = x[b, t, j] + g[b, j]·y[b, t, j] for b < N, t < L, j < D
  (func (export "gatedFwd") (param $px i32) (param $pg i32) (param $py i32) (param $po i32) (param $N i32) (param $L i32) (param $D i32)
    (local $b i32) (local $t i32) (local $j i32) (local $rowB i32) (local $gb i32) (local $x v128) (local $g v128) (local $y v128)
    (local.set $rowB (i32.shl (local.get $D) (i32.const 2)))
    (block $b_done (loop $samples
      (br_if $b_done (i32.ge_u (local.get $b) (local.get $N)))
      (local.set $gb (i32.add (local.get $pg) (i32.mul (local.get $b) (local.get $rowB))))
      (local.set $t (i32.const 0))
      (block $t_done (loop $tokens
        (br_if $t_done (i32.ge_u (local.get $t) (local.get $L)))
        (local.set $j (i32.const 0))
        (block $j_done (loop $quads
          (br_if $j_done (i32.ge_u (local.get $j) (local.get $rowB)))
          (local.set $x (v128.load (i32.add (local.get $px) (local.get $j))))
          (local.set $y (v128.load (i32.add (local.get $py) (local.get $j))))
          (local.set $g (v128.load (i32.add (local.get $gb) (local.get $j))))
          (v128.store (i32.add (local.get $po) (local.get $j))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $g)) (f64x2.promote_low_f32x4 (local.get $y)))))
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $g) (local.get $g))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $quads)))
        (local.set $px (i32.add (local.get $px) (local.get $rowB)))
        (local.set $py (i32.add (local.get $py) (local.get $rowB)))
        (local.set $po (i32.add (local.get $po) (local.get $rowB)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tokens)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $samples))))

  ;; dy[b, t, j] = g[b, j]·gr[b, t, j], and with $withY: dg[b, j] = Σ_t gr[b, t, j]·y[b, t, j]
  ;; (from 0, in f32, t in order); without, dg is left alone (the caller zeroes it or has none).
  (func (export "gatedBwd") (param $pr i32) (param $pg i32) (param $py i32) (param $pdg i32) (param $pdy i32)
      (param $N i32) (param $L i32) (param $D i32) (param $withY i32)
    (local $b i32) (local $t i32) (local $j i32) (local $rowB i32) (local $at i32) (local $gb i32)
    (local $g v128) (local $r v128) (local $y v128) (local $acc v128)
    (local.set $rowB (i32.shl (local.get $D) (i32.const 2)))
    (block $b_done (loop $samples
      (br_if $b_done (i32.ge_u (local.get $b) (local.get $N)))
      (local.set $gb (i32.mul (local.get $b) (local.get $rowB)))
      (local.set $j (i32.const 0))
      (block $j_done (loop $quads
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $rowB)))
        (local.set $g (v128.load (i32.add (local.get $pg) (i32.add (local.get $gb) (local.get $j)))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        ;; element (b, t, j) at byte (b·L + t)·D·4 + j
        (local.set $at (i32.add (i32.mul (i32.mul (local.get $b) (local.get $L)) (local.get $rowB)) (local.get $j)))
        (local.set $t (i32.const 0))
        (block $t_done (loop $tokens
          (br_if $t_done (i32.ge_u (local.get $t) (local.get $L)))
          (local.set $r (v128.load (i32.add (local.get $pr) (local.get $at))))
          (v128.store (i32.add (local.get $pdy) (local.get $at)) (f32x4.mul (local.get $g) (local.get $r)))
          (if (local.get $withY) (then
            (local.set $y (v128.load (i32.add (local.get $py) (local.get $at))))
            (local.set $acc
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $acc)) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $r)) (f64x2.promote_low_f32x4 (local.get $y)))))
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc))) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $r) (local.get $r))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))))))))
          (local.set $at (i32.add (local.get $at) (local.get $rowB)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $tokens)))
        (if (local.get $withY) (then (v128.store (i32.add (local.get $pdg) (i32.add (local.get $gb) (local.get $j))) (local.get $acc))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $quads)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $samples))))

  ;; ---- LayerNorm + adaLN modulation (engine/cpu/fused.ts normModulateFwd / Bwd), f32, D % 4 = 0 ----
  ;; As the JavaScript: per row μ = (Σ x in order, f64) / D, v = Σ (x − μ)² in order, r = 1/√(v/D + eps),
  ;; y = ((x − μ)·r)·(1 + sc) + sh in f64 rounded to f32 once; μ and r stored as f32. The same bits.
  ;; A row's sums are chains of dependent f64 adds: four rows at a time keep four chains in flight
  ;; ($stats4); y is four lanes at a time as two f64x2 halves.

  ;; μ and r of the row at x (D floats), one chain each.
  (func $stats1 (param $x i32) (param $D i32) (param $eps f64) (param $out i32)
    (local $j i32) (local $m f64) (local $v f64) (local $d f64)
    (block $done (loop $sum
      (br_if $done (i32.ge_u (local.get $j) (local.get $D)))
      (local.set $m (f64.add (local.get $m) (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $sum)))
    (local.set $m (f64.div (local.get $m) (f64.convert_i32_u (local.get $D))))
    (local.set $j (i32.const 0))
    (block $vdone (loop $var
      (br_if $vdone (i32.ge_u (local.get $j) (local.get $D)))
      (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))) (local.get $m)))
      (local.set $v (f64.add (local.get $v) (f64.mul (local.get $d) (local.get $d))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $var)))
    (f64.store (local.get $out) (local.get $m))
    (f64.store offset=8 (local.get $out)
      (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $v) (f64.convert_i32_u (local.get $D))) (local.get $eps))))))

  ;; The same for the four rows at x, x + D, x + 2D, x + 3D: (μ, r) pairs at out, out + 16, …
  (func $stats4 (param $x i32) (param $D i32) (param $eps f64) (param $out i32)
    (local $j i32) (local $rb i32) (local $p i32) (local $fd f64)
    (local $m0 f64) (local $m1 f64) (local $m2 f64) (local $m3 f64) (local $v0 f64) (local $v1 f64) (local $v2 f64) (local $v3 f64)
    (local $d f64)
    (local.set $rb (i32.shl (local.get $D) (i32.const 2)))
    (local.set $fd (f64.convert_i32_u (local.get $D)))
    (block $done (loop $sum
      (br_if $done (i32.ge_u (local.get $j) (local.get $D)))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $m0 (f64.add (local.get $m0) (f64.promote_f32 (f32.load (local.get $p)))))
      (local.set $m1 (f64.add (local.get $m1) (f64.promote_f32 (f32.load (i32.add (local.get $p) (local.get $rb))))))
      (local.set $m2 (f64.add (local.get $m2) (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $rb) (i32.const 1)))))))
      (local.set $m3 (f64.add (local.get $m3) (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.mul (local.get $rb) (i32.const 3)))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $sum)))
    (local.set $m0 (f64.div (local.get $m0) (local.get $fd)))
    (local.set $m1 (f64.div (local.get $m1) (local.get $fd)))
    (local.set $m2 (f64.div (local.get $m2) (local.get $fd)))
    (local.set $m3 (f64.div (local.get $m3) (local.get $fd)))
    (local.set $j (i32.const 0))
    (block $vdone (loop $var
      (br_if $vdone (i32.ge_u (local.get $j) (local.get $D)))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $d (f64.sub (f64.promote_f32 (f32.load (local.get $p))) (local.get $m0)))
      (local.set $v0 (f64.add (local.get $v0) (f64.mul (local.get $d) (local.get $d))))
      (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $p) (local.get $rb)))) (local.get $m1)))
      (local.set $v1 (f64.add (local.get $v1) (f64.mul (local.get $d) (local.get $d))))
      (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $rb) (i32.const 1))))) (local.get $m2)))
      (local.set $v2 (f64.add (local.get $v2) (f64.mul (local.get $d) (local.get $d))))
      (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.mul (local.get $rb) (i32.const 3))))) (local.get $m3)))
      (local.set $v3 (f64.add (local.get $v3) (f64.mul (local.get $d) (local.get $d))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $var)))
    (f64.store (local.get $out) (local.get $m0))
    (f64.store offset=8 (local.get $out) (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $v0) (local.get $fd)) (local.get $eps)))))
    (f64.store offset=16 (local.get $out) (local.get $m1))
    (f64.store offset=24 (local.get $out) (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $v1) (local.get $fd)) (local.get $eps)))))
    (f64.store offset=32 (local.get $out) (local.get $m2))
    (f64.store offset=40 (local.get $out) (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $v2) (local.get $fd)) (local.get $eps)))))
    (f64.store offset=48 (local.get $out) (local.get $m3))
    (f64.store offset=56 (local.get $out) (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $v3) (local.get $fd)) (local.get $eps))))))

  ;; y, μ, r for rows r < N·L of x [N, L, D] with sh, sc [N, D]; $tmp: 64 bytes of scratch.
  (func (export "normModFwd") (param $px i32) (param $psh i32) (param $psc i32) (param $py i32) (param $pmu i32) (param $prs i32)
      (param $N i32) (param $L i32) (param $D i32) (param $eps f64) (param $tmp i32)
    (local $R i32) (local $r i32) (local $k i32) (local $q i32) (local $rb i32) (local $row i32) (local $j i32) (local $srow i32)
    (local $mu2 v128) (local $rs2 v128) (local $x v128) (local $sc v128) (local $sh v128)
    (local.set $R (i32.mul (local.get $N) (local.get $L)))
    (local.set $rb (i32.shl (local.get $D) (i32.const 2)))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $R)))
      ;; k rows from r: four while they last, then one
      (local.set $k (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $r) (i32.const 4)) (local.get $R))))
      (if (i32.eq (local.get $k) (i32.const 4))
        (then (call $stats4 (i32.add (local.get $px) (i32.mul (local.get $r) (local.get $rb))) (local.get $D) (local.get $eps) (local.get $tmp)))
        (else (call $stats1 (i32.add (local.get $px) (i32.mul (local.get $r) (local.get $rb))) (local.get $D) (local.get $eps) (local.get $tmp))))
      (local.set $q (i32.const 0))
      (block $q_done (loop $each
        (br_if $q_done (i32.ge_u (local.get $q) (local.get $k)))
        (local.set $row (i32.add (local.get $r) (local.get $q)))
        (local.set $mu2 (v128.load64_splat (i32.add (local.get $tmp) (i32.shl (local.get $q) (i32.const 4)))))
        (local.set $rs2 (v128.load64_splat (i32.add (local.get $tmp) (i32.add (i32.shl (local.get $q) (i32.const 4)) (i32.const 8)))))
        (f32.store (i32.add (local.get $pmu) (i32.shl (local.get $row) (i32.const 2))) (f32.demote_f64 (f64x2.extract_lane 0 (local.get $mu2))))
        (f32.store (i32.add (local.get $prs) (i32.shl (local.get $row) (i32.const 2))) (f32.demote_f64 (f64x2.extract_lane 0 (local.get $rs2))))
        ;; sc, sh of the row's sample
        (local.set $srow (i32.mul (i32.div_u (local.get $row) (local.get $L)) (local.get $rb)))
        (local.set $j (i32.const 0))
        (block $j_done (loop $quads
          (br_if $j_done (i32.ge_u (local.get $j) (local.get $rb)))
          (local.set $x (v128.load (i32.add (i32.add (local.get $px) (i32.mul (local.get $row) (local.get $rb))) (local.get $j))))
          (local.set $sc (v128.load (i32.add (i32.add (local.get $psc) (local.get $srow)) (local.get $j))))
          (local.set $sh (v128.load (i32.add (i32.add (local.get $psh) (local.get $srow)) (local.get $j))))
          (v128.store (i32.add (i32.add (local.get $py) (i32.mul (local.get $row) (local.get $rb))) (local.get $j))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x)) (local.get $mu2)) (local.get $rs2)) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (local.get $sc)))) (f64x2.promote_low_f32x4 (local.get $sh))))
              (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))) (local.get $mu2)) (local.get $rs2)) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sc) (local.get $sc))))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $sh) (local.get $sh)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $quads)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $each)))
      (local.set $r (i32.add (local.get $r) (local.get $k)))
      (br $rows))))

  ;; LayerNorm + modulation backward (fused.ts normModulateBwd), f32, D % 4 = 0, the same bits: per
  ;; row, with x̂ = (x − μ)·r and g = dy·(1 + sc) in f64, mean(g) and mean(g·x̂) summed in order
  ;; (lane by lane), dshift += dy and dscale += dy·x̂ in f32 as the Float32Arrays accumulate them
  ;; (rows in order), then dx = r·((g − mean g) − x̂·mean(g·x̂)). μ and r are the forward's f32 ones.
  (func (export "normModBwd") (param $pg i32) (param $px i32) (param $pmu i32) (param $prs i32) (param $psc i32)
      (param $pdx i32) (param $pdsh i32) (param $pdsc i32) (param $N i32) (param $L i32) (param $D i32)
    (local $b i32) (local $t i32) (local $j i32) (local $rb i32) (local $row i32) (local $o i32) (local $so i32)
    (local $mg f64) (local $mgx f64) (local $mu2 v128) (local $rs2 v128) (local $mg2 v128) (local $mgx2 v128)
    (local $gq v128) (local $xq v128) (local $scq v128) (local $dshq v128) (local $dscq v128)
    (local $xh v128) (local $gd v128) (local $gx v128) (local $losh v128) (local $losc v128) (local $hish v128) (local $hisc v128)
    (local.set $rb (i32.shl (local.get $D) (i32.const 2)))
    (memory.fill (local.get $pdsh) (i32.const 0) (i32.mul (local.get $N) (local.get $rb)))
    (memory.fill (local.get $pdsc) (i32.const 0) (i32.mul (local.get $N) (local.get $rb)))
    (block $b_done (loop $samples
      (br_if $b_done (i32.ge_u (local.get $b) (local.get $N)))
      (local.set $so (i32.mul (local.get $b) (local.get $rb)))
      (local.set $t (i32.const 0))
      (block $t_done (loop $tokens
        (br_if $t_done (i32.ge_u (local.get $t) (local.get $L)))
        (local.set $row (i32.add (i32.mul (local.get $b) (local.get $L)) (local.get $t)))
        (local.set $o (i32.mul (local.get $row) (local.get $rb)))
        (local.set $mu2 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $pmu) (i32.shl (local.get $row) (i32.const 2)))))))
        (local.set $rs2 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $prs) (i32.shl (local.get $row) (i32.const 2)))))))
        (local.set $mg (f64.const 0))
        (local.set $mgx (f64.const 0))
        (local.set $j (i32.const 0))
        (block $a_done (loop $pass_a
          (br_if $a_done (i32.ge_u (local.get $j) (local.get $rb)))
          (local.set $gq (v128.load (i32.add (i32.add (local.get $pg) (local.get $o)) (local.get $j))))
          (local.set $xq (v128.load (i32.add (i32.add (local.get $px) (local.get $o)) (local.get $j))))
          (local.set $scq (v128.load (i32.add (i32.add (local.get $psc) (local.get $so)) (local.get $j))))
          (local.set $dshq (v128.load (i32.add (i32.add (local.get $pdsh) (local.get $so)) (local.get $j))))
          (local.set $dscq (v128.load (i32.add (i32.add (local.get $pdsc) (local.get $so)) (local.get $j))))
          ;; $lo half
          (local.set $xh (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (local.get $xq)) (local.get $mu2)) (local.get $rs2)))
          (local.set $gd (f64x2.mul (f64x2.promote_low_f32x4 (local.get $gq)) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (local.get $scq)))))
          (local.set $mg (f64.add (local.get $mg) (f64x2.extract_lane 0 (local.get $gd))))
          (local.set $mg (f64.add (local.get $mg) (f64x2.extract_lane 1 (local.get $gd))))
          (local.set $gx (f64x2.mul (local.get $gd) (local.get $xh)))
          (local.set $mgx (f64.add (local.get $mgx) (f64x2.extract_lane 0 (local.get $gx))))
          (local.set $mgx (f64.add (local.get $mgx) (f64x2.extract_lane 1 (local.get $gx))))
          (local.set $losh (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $dshq)) (f64x2.promote_low_f32x4 (local.get $gq)))))
          (local.set $losc (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $dscq)) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $gq)) (local.get $xh)))))
          ;; $hi half
          (local.set $xh (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xq) (local.get $xq))) (local.get $mu2)) (local.get $rs2)))
          (local.set $gd (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gq) (local.get $gq))) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $scq) (local.get $scq))))))
          (local.set $mg (f64.add (local.get $mg) (f64x2.extract_lane 0 (local.get $gd))))
          (local.set $mg (f64.add (local.get $mg) (f64x2.extract_lane 1 (local.get $gd))))
          (local.set $gx (f64x2.mul (local.get $gd) (local.get $xh)))
          (local.set $mgx (f64.add (local.get $mgx) (f64x2.extract_lane 0 (local.get $gx))))
          (local.set $mgx (f64.add (local.get $mgx) (f64x2.extract_lane 1 (local.get $gx))))
          (local.set $hish (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $dshq) (local.get $dshq))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gq) (local.get $gq))))))
          (local.set $hisc (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $dscq) (local.get $dscq))) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gq) (local.get $gq))) (local.get $xh)))))
          (v128.store (i32.add (i32.add (local.get $pdsh) (local.get $so)) (local.get $j)) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $losh) (local.get $hish)))
          (v128.store (i32.add (i32.add (local.get $pdsc) (local.get $so)) (local.get $j)) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $losc) (local.get $hisc)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $pass_a)))
        (local.set $mg2 (f64x2.splat (f64.div (local.get $mg) (f64.convert_i32_u (local.get $D)))))
        (local.set $mgx2 (f64x2.splat (f64.div (local.get $mgx) (f64.convert_i32_u (local.get $D)))))
        (local.set $j (i32.const 0))
        (block $b2_done (loop $pass_b
          (br_if $b2_done (i32.ge_u (local.get $j) (local.get $rb)))
          (local.set $gq (v128.load (i32.add (i32.add (local.get $pg) (local.get $o)) (local.get $j))))
          (local.set $xq (v128.load (i32.add (i32.add (local.get $px) (local.get $o)) (local.get $j))))
          (local.set $scq (v128.load (i32.add (i32.add (local.get $psc) (local.get $so)) (local.get $j))))
          (v128.store (i32.add (i32.add (local.get $pdx) (local.get $o)) (local.get $j))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.mul (local.get $rs2) (f64x2.sub (f64x2.sub (f64x2.mul (f64x2.promote_low_f32x4 (local.get $gq)) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (local.get $scq)))) (local.get $mg2)) (f64x2.mul (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (local.get $xq)) (local.get $mu2)) (local.get $rs2)) (local.get $mgx2)))))
              (f32x4.demote_f64x2_zero (f64x2.mul (local.get $rs2) (f64x2.sub (f64x2.sub (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gq) (local.get $gq))) (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $scq) (local.get $scq))))) (local.get $mg2)) (f64x2.mul (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xq) (local.get $xq))) (local.get $mu2)) (local.get $rs2)) (local.get $mgx2)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $pass_b)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tokens)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $samples))))

)
