;; The CPU backend's WebAssembly SIMD kernels besides the matmul (gemm.wat): f32 GELU and its
;; gradient, the Philox words behind every random draw, f32 arithmetic (binary ops with row
;; broadcasting, affine, square …), transposes, strided row copies, column sums, and attention for
;; small heads (the tiny models' 16-wide heads over 8 … 48 tokens, where a matmul call per product
;; costs more than the product). DiT's row-wise fused ops are in rows.wat.
;; Operands are copied into this memory by the callers (elementwise.ts, attention.ts).
;;
;; Compiled by scripts/build-wasm.mjs (wabt) into kernels-wasm.ts; edit this file, then run
;; `npm run build:wasm` (test/cpu/wasm-kernels.test.ts checks the committed bytes are a fresh
;; compile, and every result against the JavaScript it replaces).
;;
;; GELU: the same bits as engine/cpu/scalar-math.ts geluF32 / geluGradF32, two f64 lanes at a
;; time. Those compute in f64 with +, −, ×, ÷, Math.round and a table of powers of two; here every
;; one of those operations is done in the same order on f64x2 lanes (IEEE arithmetic is exact to
;; the bit, and neither JavaScript nor WebAssembly fuses a multiply and an add), Math.round is
;; f64x2.nearest corrected at ties (nearest rounds them to even, Math.round up), the table is 2^n
;; built from its exponent bits, and the f32 result is rounded once at the end, as a Float32Array
;; store rounds it. The constants are the f64 values of the JavaScript expressions.
;;
;; Philox: philox4x32-10 (engine/rng.ts), with the 32×32 → 64-bit products of each round in one
;; i64.mul where JavaScript needs four 16-bit partial products. Words only: the floats drawn from
;; them (uniform, Box–Muller) stay in JavaScript, so they are the same expressions as before.
;;
;; Attention: engine/cpu/fused.ts attentionFwdGemm / attentionBwdGemm step for step (every product
;; summed in f32 in the same order as gemm.wat: 0 + a₀b₀ + a₁b₁ + …; row statistics in f64), with
;; one difference: e^x is expF32 below (relative error ~1e-8, under f32's rounding) where the
;; JavaScript calls Math.exp, so the results agree to f32 rounding, not to the bit.
(module
  (memory (export "memory") 1)

  ;; e^y per lane, as expF32: y clamped to ±100, y = n·ln2 + r (ln2 in two parts), e^r by seven
  ;; Horner steps, times 2^n. pmin / pmax pass NaN through as the JavaScript ternaries do.
  (func $exp (param $y v128) (result v128)
    (local $z v128) (local $zl v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $z (f64x2.pmax (f64x2.pmin (local.get $y) (f64x2.splat (f64.const 100))) (f64x2.splat (f64.const -100))))
    ;; n = Math.round(z · log2 e)
    (local.set $zl (f64x2.mul (local.get $z) (f64x2.splat (f64.const 1.4426950408889634))))
    (local.set $n (f64x2.nearest (local.get $zl)))
    (local.set $n
      (f64x2.add (local.get $n)
        (v128.and
          (f64x2.eq (f64x2.sub (local.get $zl) (local.get $n)) (f64x2.splat (f64.const 0.5)))
          (f64x2.splat (f64.const 1)))))
    ;; r = z − n·LN2_HI − n·LN2_LO
    (local.set $r
      (f64x2.sub
        (f64x2.sub (local.get $z) (f64x2.mul (local.get $n) (f64x2.splat (f64.const 0.6931471803691238))))
        (f64x2.mul (local.get $n) (f64x2.splat (f64.const 1.9082149292705877e-10)))))
    ;; p = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r(1/720 + r·(1/5040)))))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 0.001388888888888889)) (f64x2.mul (local.get $r) (f64x2.splat (f64.const 0.0001984126984126984)))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 0.008333333333333333)) (f64x2.mul (local.get $r) (local.get $p))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 0.041666666666666664)) (f64x2.mul (local.get $r) (local.get $p))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 0.16666666666666666)) (f64x2.mul (local.get $r) (local.get $p))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 0.5)) (f64x2.mul (local.get $r) (local.get $p))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.mul (local.get $r) (local.get $p))))
    (local.set $p (f64x2.add (f64x2.splat (f64.const 1)) (f64x2.mul (local.get $r) (local.get $p))))
    ;; × 2^n: the exponent field n + 1023 (|n| ≤ 145: always a normal number)
    (f64x2.mul (local.get $p)
      (i64x2.shl
        (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $n))) (i64x2.splat (i64.const 1023)))
        (i32.const 52))))

  ;; o[i] = expF32(y[i]) over f64 arrays, pairs (for the tests: ties of Math.round, clamps, NaN)
  (func (export "exp") (param $y i32) (param $o i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (v128.store (local.get $o) (call $exp (v128.load (local.get $y))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $pair))))

  ;; 1 + e^{−2u}, u = c(x + a·x³): −2c·(x + ((a·x)·x)·x), c = √(2/π), a = 0.044715
  (func $one_plus_e (param $x v128) (result v128)
    (f64x2.add (f64x2.splat (f64.const 1))
      (call $exp
        (f64x2.mul (f64x2.splat (f64.const -1.5957691216057308))
          (f64x2.add (local.get $x)
            (f64x2.mul (f64x2.mul (f64x2.mul (f64x2.splat (f64.const 0.044715)) (local.get $x)) (local.get $x)) (local.get $x)))))))

  ;; o[i] = gelu(x[i]) = x / (1 + e^{−2u}) for i < n, f32 in and out, pairs of elements (an odd
  ;; n also computes element n: the caller leaves room for it).
  (func (export "gelu") (param $x i32) (param $o i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $x))))
        (v128.store64_lane 0 (local.get $o)
          (f32x4.demote_f64x2_zero (f64x2.div (local.get $v) (call $one_plus_e (local.get $v)))))
        (local.set $x (i32.add (local.get $x) (i32.const 8)))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (br $pair))))

  ;; o[i] = dy[i]·gelu'(x[i]) with s = 1/(1 + e^{−2u}):
  ;; gelu' = s + ((((2·x)·s)·(1 − s))·c)·(1 + ((3a)·x)·x)
  (func (export "geluBwd") (param $x i32) (param $dy i32) (param $o i32) (param $n i32)
    (local $end i32) (local $v v128) (local $s v128) (local $g v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $x))))
        (local.set $s (f64x2.div (f64x2.splat (f64.const 1)) (call $one_plus_e (local.get $v))))
        (local.set $g
          (f64x2.add (local.get $s)
            (f64x2.mul
              (f64x2.mul
                (f64x2.mul (f64x2.mul (f64x2.mul (f64x2.splat (f64.const 2)) (local.get $v)) (local.get $s))
                  (f64x2.sub (f64x2.splat (f64.const 1)) (local.get $s)))
                (f64x2.splat (f64.const 0.7978845608028654)))
              (f64x2.add (f64x2.splat (f64.const 1))
                (f64x2.mul (f64x2.mul (f64x2.splat (f64.const 0.134145)) (local.get $v)) (local.get $v))))))
        (v128.store64_lane 0 (local.get $o)
          (f32x4.demote_f64x2_zero
            (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $dy))) (local.get $g))))
        (local.set $x (i32.add (local.get $x) (i32.const 8)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 8)))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (br $pair))))

  ;; For counters ctr = (o1·2^32 + o0) + i, i < n: words 0 and 1 of philox4x32-10 over
  ;; (ctr mod 2^32, ctr / 2^32, 0, 0) with key (k0, k1), at dst + 8i and dst + 8i + 4.
  (func (export "philox") (param $dst i32) (param $n i32) (param $o0 i32) (param $o1 i32) (param $k0 i32) (param $k1 i32)
    (local $ctr i64) (local $end i32)
    (local $c0 i64) (local $c1 i64) (local $c2 i64) (local $c3 i64) (local $a i64) (local $b i64)
    (local $p0 i64) (local $p1 i64) (local $r i32)
    (local.set $ctr (i64.or (i64.shl (i64.extend_i32_u (local.get $o1)) (i64.const 32)) (i64.extend_i32_u (local.get $o0))))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $draw
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $c0 (i64.and (local.get $ctr) (i64.const 0xffffffff)))
        (local.set $c1 (i64.and (i64.shr_u (local.get $ctr) (i64.const 32)) (i64.const 0xffffffff)))
        (local.set $c2 (i64.const 0))
        (local.set $c3 (i64.const 0))
        (local.set $a (i64.extend_i32_u (local.get $k0)))
        (local.set $b (i64.extend_i32_u (local.get $k1)))
        (local.set $r (i32.const 10))
        (loop $round
          (local.set $p0 (i64.mul (i64.const 0xD2511F53) (local.get $c0)))
          (local.set $p1 (i64.mul (i64.const 0xCD9E8D57) (local.get $c2)))
          (local.set $c0 (i64.xor (i64.xor (i64.shr_u (local.get $p1) (i64.const 32)) (local.get $c1)) (local.get $a)))
          (local.set $c1 (i64.and (local.get $p1) (i64.const 0xffffffff)))
          (local.set $c2 (i64.xor (i64.xor (i64.shr_u (local.get $p0) (i64.const 32)) (local.get $c3)) (local.get $b)))
          (local.set $c3 (i64.and (local.get $p0) (i64.const 0xffffffff)))
          (local.set $a (i64.and (i64.add (local.get $a) (i64.const 0x9E3779B9)) (i64.const 0xffffffff)))
          (local.set $b (i64.and (i64.add (local.get $b) (i64.const 0xBB67AE85)) (i64.const 0xffffffff)))
          (local.set $r (i32.sub (local.get $r) (i32.const 1)))
          (br_if $round (local.get $r)))
        (i32.store (local.get $dst) (i32.wrap_i64 (local.get $c0)))
        (i32.store offset=4 (local.get $dst) (i32.wrap_i64 (local.get $c1)))
        (local.set $ctr (i64.add (local.get $ctr) (i64.const 1)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $draw))))

  ;; ---- attention for small heads ----------------------------------------------------------

  ;; C[r][c] = Σ_t A[r·sar + t·sat] · B[t·sbt + c] for r < R, c < C4 (a multiple of 4), the sum
  ;; in f32 from 0 in t order, vectorised over c; byte strides. C rows at stride scr bytes.
  ;; Four rows at a time share each B load and keep four independent sums in flight (one row's
  ;; sum is a chain of dependent adds: at the tiny heads' 16 terms that chain was the kernel's
  ;; time); the rows left over (R mod 4) one at a time. Every element's sum is the same either way.
  (func $mm (param $a i32) (param $sar i32) (param $sat i32) (param $b i32) (param $sbt i32)
            (param $c i32) (param $scr i32) (param $R i32) (param $T i32) (param $C4 i32)
    (local $r i32) (local $cc i32) (local $t i32) (local $acc v128) (local $ap i32) (local $bp i32)
    (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $bv v128) (local $cp i32)
    (local.set $r (i32.const 0))
    (block $quads_done (loop $row_quads
      (br_if $quads_done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $R)))
      (local.set $cc (i32.const 0))
      (block $qcols_done (loop $qcols
        (br_if $qcols_done (i32.ge_u (local.get $cc) (local.get $C4)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $acc1 (v128.const f32x4 0 0 0 0))
        (local.set $acc2 (v128.const f32x4 0 0 0 0))
        (local.set $acc3 (v128.const f32x4 0 0 0 0))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $sar))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $cc) (i32.const 2))))
        (local.set $t (local.get $T))
        (block $qk_done (loop $qk
          (br_if $qk_done (i32.eqz (local.get $t)))
          (local.set $bv (v128.load (local.get $bp)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load32_splat (local.get $ap)) (local.get $bv))))
          (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (v128.load32_splat (i32.add (local.get $ap) (local.get $sar))) (local.get $bv))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (v128.load32_splat (i32.add (local.get $ap) (i32.shl (local.get $sar) (i32.const 1)))) (local.get $bv))))
          (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (v128.load32_splat (i32.add (local.get $ap) (i32.mul (local.get $sar) (i32.const 3)))) (local.get $bv))))
          (local.set $ap (i32.add (local.get $ap) (local.get $sat)))
          (local.set $bp (i32.add (local.get $bp) (local.get $sbt)))
          (local.set $t (i32.sub (local.get $t) (i32.const 1)))
          (br $qk)))
        (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $scr))) (i32.shl (local.get $cc) (i32.const 2))))
        (v128.store (local.get $cp) (local.get $acc))
        (v128.store (i32.add (local.get $cp) (local.get $scr)) (local.get $acc1))
        (v128.store (i32.add (local.get $cp) (i32.shl (local.get $scr) (i32.const 1))) (local.get $acc2))
        (v128.store (i32.add (local.get $cp) (i32.mul (local.get $scr) (i32.const 3))) (local.get $acc3))
        (local.set $cc (i32.add (local.get $cc) (i32.const 4)))
        (br $qcols)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $row_quads)))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $R)))
      (local.set $cc (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $cc) (local.get $C4)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $sar))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $cc) (i32.const 2))))
        (local.set $t (local.get $T))
        (block $k_done (loop $k
          (br_if $k_done (i32.eqz (local.get $t)))
          (local.set $acc (f32x4.add (local.get $acc)
            (f32x4.mul (v128.load32_splat (local.get $ap)) (v128.load (local.get $bp)))))
          (local.set $ap (i32.add (local.get $ap) (local.get $sat)))
          (local.set $bp (i32.add (local.get $bp) (local.get $sbt)))
          (local.set $t (i32.sub (local.get $t) (i32.const 1)))
          (br $k)))
        (v128.store (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $scr))) (i32.shl (local.get $cc) (i32.const 2))) (local.get $acc))
        (local.set $cc (i32.add (local.get $cc) (i32.const 4)))
        (br $cols)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; dst[r·dstride + c] = src[r·cols + c] (f32; dst rows padded with zeros to dstride floats), or
  ;; with $tr the transpose: dst[c·dstride + r] = src[r·cols + c] (dst padded to dstride ≥ rows).
  ;; The padding makes every vector of $mm's B operand whole. Rows go by memory.copy, the
  ;; transpose by $transpose's 4×4 blocks.
  (func $pad (param $src i32) (param $rows i32) (param $cols i32) (param $dst i32) (param $dstride i32) (param $dn i32) (param $tr i32)
    (local $r i32)
    (memory.fill (local.get $dst) (i32.const 0) (i32.shl (i32.mul (local.get $dn) (local.get $dstride)) (i32.const 2)))
    (if (local.get $tr) (then
      (call $transpose (local.get $src) (local.get $dst) (local.get $rows) (local.get $cols) (local.get $dstride))
      (return)))
    (local.set $r (i32.const 0))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (memory.copy
        (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $dstride)) (i32.const 2)))
        (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
        (i32.shl (local.get $cols) (i32.const 2)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; dst[r·cols + c] = src[r·sstride + c]: a padded block back to dense rows.
  (func $unpad (param $src i32) (param $sstride i32) (param $rows i32) (param $cols i32) (param $dst i32)
    (local $r i32)
    (local.set $r (i32.const 0))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (memory.copy
        (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
        (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $sstride)) (i32.const 2)))
        (i32.shl (local.get $cols) (i32.const 2)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; e^{x − m} for the f64 value x of each f32 in [p, p + 4n) (two lanes at a time, n even or the
  ;; pair past it harmless), written back as f32; returns Σ of the f64 values in order.
  (func $exp_row (param $p i32) (param $n i32) (param $scale f64) (param $m f64) (result f64)
    (local $end i32) (local $e v128) (local $sum f64)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $pair
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $e (call $exp (f64x2.sub
        (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p))) (f64x2.splat (local.get $scale)))
        (f64x2.splat (local.get $m)))))
      (v128.store64_lane 0 (local.get $p) (f32x4.demote_f64x2_zero (local.get $e)))
      (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 0 (local.get $e))))
      (if (i32.lt_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
        (then (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 1 (local.get $e))))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $pair)))
    (local.get $sum))

  ;; Forward of n heads (as attentionFwdGemm): q [n][l][dqk], k [n][s][dqk], v [n][s][dv] → o
  ;; [n][l][dv], and per row its maximum m (f64, at stat) and Σ e^{x − m} (f64, at stat + 8·n·l),
  ;; from which the caller makes lse = m + ln Σ. `w`: scratch of ws bytes (attention.ts sizes it).
  (func (export "attnFwd") (param $q i32) (param $k i32) (param $v i32) (param $o i32) (param $stat i32)
        (param $n i32) (param $l i32) (param $s i32) (param $dqk i32) (param $dv i32) (param $scale f64) (param $w i32)
    (local $h i32) (local $s4 i32) (local $dv4 i32) (local $kt i32) (local $vp i32) (local $P i32) (local $op i32)
    (local $i i32) (local $j i32) (local $row i32) (local $m f64) (local $x f64) (local $sum f64) (local $inv f64) (local $st i32)
    (local.set $s4 (i32.and (i32.add (local.get $s) (i32.const 3)) (i32.const -4)))
    (local.set $dv4 (i32.and (i32.add (local.get $dv) (i32.const 3)) (i32.const -4)))
    ;; scratch: Kᵀ [dqk][s4] | V [s][dv4] | P [l][s4] (+ a pair) | O [l][dv4]
    (local.set $kt (local.get $w))
    (local.set $vp (i32.add (local.get $kt) (i32.shl (i32.mul (local.get $dqk) (local.get $s4)) (i32.const 2))))
    (local.set $P (i32.add (local.get $vp) (i32.shl (i32.mul (local.get $s) (local.get $dv4)) (i32.const 2))))
    (local.set $op (i32.add (local.get $P) (i32.shl (i32.add (i32.mul (local.get $l) (local.get $s4)) (i32.const 4)) (i32.const 2))))
    (local.set $st (local.get $stat))
    (local.set $h (i32.const 0))
    (block $heads_done (loop $head
      (br_if $heads_done (i32.ge_u (local.get $h) (local.get $n)))
      (call $pad (local.get $k) (local.get $s) (local.get $dqk) (local.get $kt) (local.get $s4) (local.get $dqk) (i32.const 1))
      (call $pad (local.get $v) (local.get $s) (local.get $dv) (local.get $vp) (local.get $dv4) (local.get $s) (i32.const 0))
      ;; S = Q Kᵀ into P's rows
      (call $mm (local.get $q) (i32.shl (local.get $dqk) (i32.const 2)) (i32.const 4) (local.get $kt) (i32.shl (local.get $s4) (i32.const 2))
        (local.get $P) (i32.shl (local.get $s4) (i32.const 2)) (local.get $l) (local.get $dqk) (local.get $s4))
      ;; rows: m = max scale·S, e = e^{scale·S − m}, P = e / Σe
      (local.set $i (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $l)))
        (local.set $row (i32.add (local.get $P) (i32.shl (i32.mul (local.get $i) (local.get $s4)) (i32.const 2))))
        (local.set $m (f64.const -inf))
        (local.set $j (i32.const 0))
        (block $max_done (loop $max
          (br_if $max_done (i32.ge_u (local.get $j) (local.get $s)))
          (local.set $x (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))) (local.get $scale)))
          (if (f64.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $max)))
        (local.set $sum (call $exp_row (local.get $row) (local.get $s) (local.get $scale) (local.get $m)))
        (local.set $inv (f64.div (f64.const 1) (local.get $sum)))
        (local.set $j (i32.const 0))
        (block $norm_done (loop $norm
          (br_if $norm_done (i32.ge_u (local.get $j) (local.get $s)))
          (f32.store (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))
            (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))) (local.get $inv))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $norm)))
        ;; columns s … s4 of P stay out of P·V: zero them (S there came from Kᵀ's zero padding: 0, but e^{−m} is not)
        (memory.fill (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))) (i32.const 0) (i32.shl (i32.sub (local.get $s4) (local.get $s)) (i32.const 2)))
        (f64.store (local.get $st) (local.get $m))
        (f64.store (i32.add (local.get $st) (i32.shl (i32.mul (local.get $n) (local.get $l)) (i32.const 3))) (local.get $sum))
        (local.set $st (i32.add (local.get $st) (i32.const 8)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      ;; O = P V
      (call $mm (local.get $P) (i32.shl (local.get $s4) (i32.const 2)) (i32.const 4) (local.get $vp) (i32.shl (local.get $dv4) (i32.const 2))
        (local.get $op) (i32.shl (local.get $dv4) (i32.const 2)) (local.get $l) (local.get $s4) (local.get $dv4))
      (call $unpad (local.get $op) (local.get $dv4) (local.get $l) (local.get $dv) (local.get $o))
      (local.set $q (i32.add (local.get $q) (i32.shl (i32.mul (local.get $l) (local.get $dqk)) (i32.const 2))))
      (local.set $k (i32.add (local.get $k) (i32.shl (i32.mul (local.get $s) (local.get $dqk)) (i32.const 2))))
      (local.set $v (i32.add (local.get $v) (i32.shl (i32.mul (local.get $s) (local.get $dv)) (i32.const 2))))
      (local.set $o (i32.add (local.get $o) (i32.shl (i32.mul (local.get $l) (local.get $dv)) (i32.const 2))))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $head))))

  ;; Backward of n heads (as attentionBwdGemm): with D_i = Σ_c dO_ic·O_ic (f64), Sᵀ = K Qᵀ,
  ;; dPᵀ = V dOᵀ, Pᵀ_ji = e^{scale·Sᵀ_ji − lse_i}, dSᵀ_ji = (scale·P_ji)·(dPᵀ_ji − D_i):
  ;; dV = Pᵀ dO, dK = dSᵀ Q, dQ = dS K. lse f32 [n][l]; `w` scratch of attention.ts's size.
  (func (export "attnBwd") (param $q i32) (param $k i32) (param $v i32) (param $o i32) (param $lse i32) (param $do i32)
        (param $dq i32) (param $dk i32) (param $dvv i32)
        (param $n i32) (param $l i32) (param $s i32) (param $dqk i32) (param $dv i32) (param $scale f64) (param $w i32)
    (local $h i32) (local $l4 i32) (local $dq4 i32) (local $dv4 i32) (local $mx4 i32)
    (local $qt i32) (local $dot i32) (local $st i32) (local $dpt i32) (local $dop i32) (local $qp i32) (local $kp i32) (local $cb i32)
    (local $d64 i32) (local $l64 i32)
    (local $i i32) (local $j i32) (local $c i32) (local $acc f64) (local $row i32) (local $drow i32) (local $p v128) (local $x v128)
    (local.set $l4 (i32.and (i32.add (local.get $l) (i32.const 3)) (i32.const -4)))
    (local.set $dq4 (i32.and (i32.add (local.get $dqk) (i32.const 3)) (i32.const -4)))
    (local.set $dv4 (i32.and (i32.add (local.get $dv) (i32.const 3)) (i32.const -4)))
    (local.set $mx4 (select (local.get $dq4) (local.get $dv4) (i32.gt_u (local.get $dq4) (local.get $dv4))))
    ;; scratch (floats): Qᵀ dqk×l4 | dOᵀ dv×l4 | Sᵀ s×l4 | dPᵀ s×l4 | dO l×dv4 | Q l×dq4 | K s×dq4 |
    ;; C max(l, s)×mx4 | D, lse as f64, l4 each
    (local.set $qt (local.get $w))
    (local.set $dot (i32.add (local.get $qt) (i32.shl (i32.mul (local.get $dqk) (local.get $l4)) (i32.const 2))))
    (local.set $st (i32.add (local.get $dot) (i32.shl (i32.mul (local.get $dv) (local.get $l4)) (i32.const 2))))
    (local.set $dpt (i32.add (local.get $st) (i32.shl (i32.mul (local.get $s) (local.get $l4)) (i32.const 2))))
    (local.set $dop (i32.add (local.get $dpt) (i32.shl (i32.mul (local.get $s) (local.get $l4)) (i32.const 2))))
    (local.set $qp (i32.add (local.get $dop) (i32.shl (i32.mul (local.get $l) (local.get $dv4)) (i32.const 2))))
    (local.set $kp (i32.add (local.get $qp) (i32.shl (i32.mul (local.get $l) (local.get $dq4)) (i32.const 2))))
    (local.set $cb (i32.add (local.get $kp) (i32.shl (i32.mul (local.get $s) (local.get $dq4)) (i32.const 2))))
    (local.set $d64 (i32.and (i32.add (i32.add (local.get $cb)
      (i32.shl (i32.mul (select (local.get $l) (local.get $s) (i32.gt_u (local.get $l) (local.get $s))) (local.get $mx4)) (i32.const 2))) (i32.const 7)) (i32.const -8)))
    (local.set $l64 (i32.add (local.get $d64) (i32.shl (local.get $l4) (i32.const 3))))
    (local.set $h (i32.const 0))
    (block $heads_done (loop $head
      (br_if $heads_done (i32.ge_u (local.get $h) (local.get $n)))
      ;; D_i and lse_i in f64 (pairs past l: zero)
      (memory.fill (local.get $d64) (i32.const 0) (i32.shl (local.get $l4) (i32.const 4)))
      (local.set $i (i32.const 0))
      (block $d_done (loop $drows
        (br_if $d_done (i32.ge_u (local.get $i) (local.get $l)))
        (local.set $acc (f64.const 0))
        (local.set $c (i32.const 0))
        (block $c_done (loop $cols
          (br_if $c_done (i32.ge_u (local.get $c) (local.get $dv)))
          (local.set $row (i32.shl (i32.add (i32.mul (local.get $i) (local.get $dv)) (local.get $c)) (i32.const 2)))
          (local.set $acc (f64.add (local.get $acc)
            (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $do) (local.get $row)))) (f64.promote_f32 (f32.load (i32.add (local.get $o) (local.get $row)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $cols)))
        (f64.store (i32.add (local.get $d64) (i32.shl (local.get $i) (i32.const 3))) (local.get $acc))
        (f64.store (i32.add (local.get $l64) (i32.shl (local.get $i) (i32.const 3)))
          (f64.promote_f32 (f32.load (i32.add (local.get $lse) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $drows)))
      (call $pad (local.get $q) (local.get $l) (local.get $dqk) (local.get $qt) (local.get $l4) (local.get $dqk) (i32.const 1))
      (call $pad (local.get $do) (local.get $l) (local.get $dv) (local.get $dot) (local.get $l4) (local.get $dv) (i32.const 1))
      (call $pad (local.get $do) (local.get $l) (local.get $dv) (local.get $dop) (local.get $dv4) (local.get $l) (i32.const 0))
      (call $pad (local.get $q) (local.get $l) (local.get $dqk) (local.get $qp) (local.get $dq4) (local.get $l) (i32.const 0))
      (call $pad (local.get $k) (local.get $s) (local.get $dqk) (local.get $kp) (local.get $dq4) (local.get $s) (i32.const 0))
      ;; Sᵀ = K Qᵀ, dPᵀ = V dOᵀ
      (call $mm (local.get $k) (i32.shl (local.get $dqk) (i32.const 2)) (i32.const 4) (local.get $qt) (i32.shl (local.get $l4) (i32.const 2))
        (local.get $st) (i32.shl (local.get $l4) (i32.const 2)) (local.get $s) (local.get $dqk) (local.get $l4))
      (call $mm (local.get $v) (i32.shl (local.get $dv) (i32.const 2)) (i32.const 4) (local.get $dot) (i32.shl (local.get $l4) (i32.const 2))
        (local.get $dpt) (i32.shl (local.get $l4) (i32.const 2)) (local.get $s) (local.get $dv) (local.get $l4))
      ;; Pᵀ and dSᵀ, two i at a time
      (local.set $j (i32.const 0))
      (block $j_done (loop $jrows
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $s)))
        (local.set $row (i32.add (local.get $st) (i32.shl (i32.mul (local.get $j) (local.get $l4)) (i32.const 2))))
        (local.set $drow (i32.add (local.get $dpt) (i32.shl (i32.mul (local.get $j) (local.get $l4)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $i_done (loop $ipairs
          (br_if $i_done (i32.ge_u (local.get $i) (local.get $l)))
          (local.set $x (f64x2.sub
            (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2))))) (f64x2.splat (local.get $scale)))
            (v128.load (i32.add (local.get $l64) (i32.shl (local.get $i) (i32.const 3))))))
          (local.set $p (call $exp (local.get $x)))
          (v128.store64_lane 0 (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2))) (f32x4.demote_f64x2_zero (local.get $p)))
          (v128.store64_lane 0 (i32.add (local.get $drow) (i32.shl (local.get $i) (i32.const 2)))
            (f32x4.demote_f64x2_zero
              (f64x2.mul (f64x2.mul (f64x2.splat (local.get $scale)) (local.get $p))
                (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $drow) (i32.shl (local.get $i) (i32.const 2)))))
                  (v128.load (i32.add (local.get $d64) (i32.shl (local.get $i) (i32.const 3))))))))
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br $ipairs)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jrows)))
      ;; dV = Pᵀ dO, dK = dSᵀ Q (rows j, sums over i), dQ = dS K (rows i, sums over j)
      (call $mm (local.get $st) (i32.shl (local.get $l4) (i32.const 2)) (i32.const 4) (local.get $dop) (i32.shl (local.get $dv4) (i32.const 2))
        (local.get $cb) (i32.shl (local.get $dv4) (i32.const 2)) (local.get $s) (local.get $l) (local.get $dv4))
      (call $unpad (local.get $cb) (local.get $dv4) (local.get $s) (local.get $dv) (local.get $dvv))
      (call $mm (local.get $dpt) (i32.shl (local.get $l4) (i32.const 2)) (i32.const 4) (local.get $qp) (i32.shl (local.get $dq4) (i32.const 2))
        (local.get $cb) (i32.shl (local.get $dq4) (i32.const 2)) (local.get $s) (local.get $l) (local.get $dq4))
      (call $unpad (local.get $cb) (local.get $dq4) (local.get $s) (local.get $dqk) (local.get $dk))
      (call $mm (local.get $dpt) (i32.const 4) (i32.shl (local.get $l4) (i32.const 2)) (local.get $kp) (i32.shl (local.get $dq4) (i32.const 2))
        (local.get $cb) (i32.shl (local.get $dq4) (i32.const 2)) (local.get $l) (local.get $s) (local.get $dq4))
      (call $unpad (local.get $cb) (local.get $dq4) (local.get $l) (local.get $dqk) (local.get $dq))
      (local.set $q (i32.add (local.get $q) (i32.shl (i32.mul (local.get $l) (local.get $dqk)) (i32.const 2))))
      (local.set $dq (i32.add (local.get $dq) (i32.shl (i32.mul (local.get $l) (local.get $dqk)) (i32.const 2))))
      (local.set $k (i32.add (local.get $k) (i32.shl (i32.mul (local.get $s) (local.get $dqk)) (i32.const 2))))
      (local.set $dk (i32.add (local.get $dk) (i32.shl (i32.mul (local.get $s) (local.get $dqk)) (i32.const 2))))
      (local.set $v (i32.add (local.get $v) (i32.shl (i32.mul (local.get $s) (local.get $dv)) (i32.const 2))))
      (local.set $dvv (i32.add (local.get $dvv) (i32.shl (i32.mul (local.get $s) (local.get $dv)) (i32.const 2))))
      (local.set $o (i32.add (local.get $o) (i32.shl (i32.mul (local.get $l) (local.get $dv)) (i32.const 2))))
      (local.set $do (i32.add (local.get $do) (i32.shl (i32.mul (local.get $l) (local.get $dv)) (i32.const 2))))
      (local.set $lse (i32.add (local.get $lse) (i32.shl (local.get $l) (i32.const 2))))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $head))))

  ;; ---- element-wise arithmetic on f32: binary ops with row broadcasting, affine, square … ------

;; o[i] = a[i·sa] op b[i·sb] for i < n, binary op number $op in the order of elementwise.ts
  ;; BINARY_WASM (add sub mul div maximum minimum eq gt ge lt le), with sa, sb = 1 (a row) or 0
  ;; (one value, broadcast: copied as a splat to $tmp, 32 bytes of scratch, and read there every
  ;; step). Four lanes at a time: an n that is not a multiple of 4 also writes up to 3 elements
  ;; past the row (the caller's next row or padding) and reads past a and b. One loop per op,
  ;; alike but for the one expression (a call or a branch per quad cost more than the op).
  ;;
  ;; +, −, ×, ÷ of f32 values give the same bits as the JavaScript's f64 operation rounded to f32
  ;; by the Float32Array store (an f64 holds the exact sum, product or quotient of two f32 values
  ;; to more than 2·24 + 2 bits, so rounding twice is rounding once); maximum / minimum are
  ;; scalar-math.ts's ternaries x ≥ y ? x : y and x ≤ y ? x : y (y when either is NaN, x for −0
  ;; against +0), not f32x4.max / min; comparisons give 1 or 0.
  (func (export "binary") (param $op i32) (param $o i32) (param $a i32) (param $b i32) (param $n i32) (param $sa i32) (param $sb i32) (param $tmp i32)
    (local $end i32) (local $da i32) (local $db i32) (local $x v128) (local $y v128)
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $end (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $da (i32.shl (local.get $sa) (i32.const 4)))
    (local.set $db (i32.shl (local.get $sb) (i32.const 4)))
    (if (i32.eqz (local.get $sa)) (then
      (v128.store (local.get $tmp) (v128.load32_splat (local.get $a)))
      (local.set $a (local.get $tmp))))
    (if (i32.eqz (local.get $sb)) (then
      (v128.store offset=16 (local.get $tmp) (v128.load32_splat (local.get $b)))
      (local.set $b (i32.add (local.get $tmp) (i32.const 16)))))
    (block $done (block $le (block $lt (block $ge (block $gt (block $eq (block $min (block $max (block $div (block $mul (block $sub (block $add
      (br_table $add $sub $mul $div $max $min $eq $gt $ge $lt $le $le (local.get $op)))
      (loop $add_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (f32x4.add (local.get $x) (local.get $y)))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $add_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $sub_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (f32x4.sub (local.get $x) (local.get $y)))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $sub_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $mul_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (f32x4.mul (local.get $x) (local.get $y)))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $mul_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $div_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (f32x4.div (local.get $x) (local.get $y)))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $div_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $max_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.bitselect (local.get $x) (local.get $y) (f32x4.ge (local.get $x) (local.get $y))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $max_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $min_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.bitselect (local.get $x) (local.get $y) (f32x4.le (local.get $x) (local.get $y))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $min_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $eq_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.and (f32x4.eq (local.get $x) (local.get $y)) (f32x4.splat (f32.const 1))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $eq_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $gt_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.and (f32x4.gt (local.get $x) (local.get $y)) (f32x4.splat (f32.const 1))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $gt_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $ge_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.and (f32x4.ge (local.get $x) (local.get $y)) (f32x4.splat (f32.const 1))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $ge_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $lt_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.and (f32x4.lt (local.get $x) (local.get $y)) (f32x4.splat (f32.const 1))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $lt_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $le_q
        (local.set $x (v128.load (local.get $a))) (local.set $y (v128.load (local.get $b)))
        (v128.store (local.get $o) (v128.and (f32x4.le (local.get $x) (local.get $y)) (f32x4.splat (f32.const 1))))
        (local.set $a (i32.add (local.get $a) (local.get $da))) (local.set $b (i32.add (local.get $b) (local.get $db)))
        (br_if $le_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))

  ;; o[i] = f(a[i]) for i < n, unary op number $op in the order of elementwise.ts UNARY_WASM:
  ;; affine ca·x + cb, square, neg, abs, relu (four lanes at a time, up to 3 past the end, as
  ;; "binary"). affine is scalar-math.ts's f64 expression (ca·x rounded to f64, + cb rounded to
  ;; f64; ca and cb are f64) on two f64x2 halves, rounded to f32 once; square is exact in f64
  ;; before that rounding, so f32x4.mul; relu is x > 0 ? x : 0.
  (func (export "unary") (param $op i32) (param $o i32) (param $a i32) (param $n i32) (param $fa f64) (param $fb f64)
    (local $end i32) (local $x v128) (local $ca v128) (local $cb v128)
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $end (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $ca (f64x2.splat (local.get $fa)))
    (local.set $cb (f64x2.splat (local.get $fb)))
    (block $done (block $relu (block $abs (block $neg (block $square (block $affine
      (br_table $affine $square $neg $abs $relu $relu (local.get $op)))
      (loop $affine_q
        (local.set $x (v128.load (local.get $a)))
        (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $ca) (f64x2.promote_low_f32x4 (local.get $x))) (local.get $cb)))
          (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $ca)
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))) (local.get $cb)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br_if $affine_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $square_q
        (local.set $x (v128.load (local.get $a)))
        (v128.store (local.get $o) (f32x4.mul (local.get $x) (local.get $x)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br_if $square_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $neg_q
        (local.set $x (v128.load (local.get $a)))
        (v128.store (local.get $o) (f32x4.neg (local.get $x)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br_if $neg_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $abs_q
        (local.set $x (v128.load (local.get $a)))
        (v128.store (local.get $o) (f32x4.abs (local.get $x)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br_if $abs_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br $done))
      (loop $relu_q
        (local.set $x (v128.load (local.get $a)))
        (v128.store (local.get $o) (v128.bitselect (local.get $x) (v128.const i32x4 0 0 0 0) (f32x4.gt (local.get $x) (v128.const i32x4 0 0 0 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br_if $relu_q (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))

  ;; dst[c·rows + r] = src[r·cols + c]: a [rows, cols] matrix transposed. 4×4 blocks (four v128
  ;; loads, eight shuffles, four v128 stores) over the rows and columns that fill whole blocks,
  ;; walked in 32×32 tiles so both sides stay in L1; the last rows % 4 and cols % 4 one at a time.
  (func (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (call $transpose (local.get $src) (local.get $dst) (local.get $rows) (local.get $cols) (local.get $rows)))

  ;; The same with dst rows dstride floats apart (≥ rows): dst[c·dstride + r] = src[r·cols + c].
  (func $transpose (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $dstride i32)
    (local $r4 i32) (local $c4 i32) (local $r0 i32) (local $c0 i32) (local $r i32) (local $c i32)
    (local $rEnd i32) (local $cEnd i32) (local $s i32) (local $d i32) (local $sr i32) (local $dr i32)
    (local $a v128) (local $b v128) (local $x v128) (local $y v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $sr (i32.shl (local.get $cols) (i32.const 2)))   ;; bytes per src row
    (local.set $dr (i32.shl (local.get $dstride) (i32.const 2)))   ;; bytes per dst row
    (local.set $r0 (i32.const 0))
    (block $tiles_done (loop $tile_rows
      (br_if $tiles_done (i32.ge_u (local.get $r0) (local.get $r4)))
      (local.set $rEnd (select (i32.add (local.get $r0) (i32.const 32)) (local.get $r4) (i32.lt_u (i32.add (local.get $r0) (i32.const 32)) (local.get $r4))))
      (local.set $c0 (i32.const 0))
      (block $cols_done (loop $tile_cols
        (br_if $cols_done (i32.ge_u (local.get $c0) (local.get $c4)))
        (local.set $cEnd (select (i32.add (local.get $c0) (i32.const 32)) (local.get $c4) (i32.lt_u (i32.add (local.get $c0) (i32.const 32)) (local.get $c4))))
        (local.set $r (local.get $r0))
        (block $r_done (loop $block_rows
          (br_if $r_done (i32.ge_u (local.get $r) (local.get $rEnd)))
          (local.set $c (local.get $c0))
          (block $c_done (loop $block_cols
            (br_if $c_done (i32.ge_u (local.get $c) (local.get $cEnd)))
            ;; rows r … r+3, columns c … c+3
            (local.set $s (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2))))
            (local.set $a (v128.load (local.get $s)))
            (local.set $b (v128.load (i32.add (local.get $s) (local.get $sr))))
            (local.set $x (v128.load (i32.add (local.get $s) (i32.shl (local.get $sr) (i32.const 1)))))
            (local.set $y (v128.load (i32.add (local.get $s) (i32.mul (local.get $sr) (i32.const 3)))))
            ;; (a0 b0 a1 b1), (a2 b2 a3 b3), (x0 y0 x1 y1), (x2 y2 x3 y3)
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x) (local.get $y)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x) (local.get $y)))
            ;; column j of the block = (aj bj xj yj), stored as row c + j of dst at column r
            (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $dstride)) (local.get $r)) (i32.const 2))))
            (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $d) (local.get $dr)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $d) (i32.shl (local.get $dr) (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store (i32.add (local.get $d) (i32.mul (local.get $dr) (i32.const 3))) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $block_cols)))
          (local.set $r (i32.add (local.get $r) (i32.const 4)))
          (br $block_rows)))
        (local.set $c0 (local.get $cEnd))
        (br $tile_cols)))
      (local.set $r0 (local.get $rEnd))
      (br $tile_rows)))
    ;; the columns past c4 of rows below r4, then every column of the rows past r4
    (local.set $r (i32.const 0))
    (block $er_done (loop $edge_rows
      (br_if $er_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (select (local.get $c4) (i32.const 0) (i32.lt_u (local.get $r) (local.get $r4))))
      (block $ec_done (loop $edge_cols
        (br_if $ec_done (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $dstride)) (local.get $r)) (i32.const 2)))
          (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $edge_cols)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $edge_rows))))

  ;; Rows of w floats from one layout to another: row i of head h (h < n, i < len) goes from
  ;; src + 4·(so + (h / H)·sB + (h mod H)·sH + i·sL) to dst + 4·(do + (h / H)·dB + (h mod H)·dH + i·dL)
  ;; (offsets and strides in floats): attention operands gathered from where a projection wrote
  ;; them, and gradients scattered back (engine/cpu/attention-layout.ts). Four floats at a time,
  ;; then the w mod 4 left one at a time.
  (func (export "copyRows") (param $src i32) (param $dst i32) (param $n i32) (param $len i32) (param $w i32) (param $H i32)
    (param $so i32) (param $sB i32) (param $sH i32) (param $sL i32) (param $do i32) (param $dB i32) (param $dH i32) (param $dL i32)
    (local $h i32) (local $i i32) (local $c i32) (local $w4 i32) (local $s i32) (local $d i32) (local $hs i32) (local $hd i32)
    (local.set $w4 (i32.and (local.get $w) (i32.const -4)))
    (block $heads_done (loop $heads
      (br_if $heads_done (i32.ge_u (local.get $h) (local.get $n)))
      ;; byte addresses of row 0 of head h on each side
      (local.set $hs (i32.add (local.get $src) (i32.shl (i32.add (local.get $so)
        (i32.add (i32.mul (i32.div_u (local.get $h) (local.get $H)) (local.get $sB)) (i32.mul (i32.rem_u (local.get $h) (local.get $H)) (local.get $sH)))) (i32.const 2))))
      (local.set $hd (i32.add (local.get $dst) (i32.shl (i32.add (local.get $do)
        (i32.add (i32.mul (i32.div_u (local.get $h) (local.get $H)) (local.get $dB)) (i32.mul (i32.rem_u (local.get $h) (local.get $H)) (local.get $dH)))) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $s (i32.add (local.get $hs) (i32.shl (i32.mul (local.get $i) (local.get $sL)) (i32.const 2))))
        (local.set $d (i32.add (local.get $hd) (i32.shl (i32.mul (local.get $i) (local.get $dL)) (i32.const 2))))
        (local.set $c (i32.const 0))
        (block $v_done (loop $quads
          (br_if $v_done (i32.ge_u (local.get $c) (local.get $w4)))
          (v128.store (i32.add (local.get $d) (i32.shl (local.get $c) (i32.const 2))) (v128.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $quads)))
        (block $s_done (loop $singles
          (br_if $s_done (i32.ge_u (local.get $c) (local.get $w)))
          (f32.store (i32.add (local.get $d) (i32.shl (local.get $c) (i32.const 2))) (f32.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $singles)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $heads))))

  ;; ---- column sums ---------------------------------------------------------------------------

  ;; o[c] += x[r·C + c] for r = 0 … R − 1 in order, c < C (f32, four columns at a time): the sum
  ;; over the leading axes that bias gradients are, in the CPU backend's order (its reduce adds
  ;; row after row into a zeroed f32 output), so the same bits.
  (func (export "colSum") (param $x i32) (param $o i32) (param $R i32) (param $C i32)
    (local $r i32) (local $c i32) (local $c4 i32) (local $row i32)
    (local.set $c4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $row (local.get $x))
    (local.set $r (i32.const 0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $R)))
      (local.set $c (i32.const 0))
      (block $vdone (loop $vec
        (br_if $vdone (i32.ge_u (local.get $c) (local.get $c4)))
        (v128.store (i32.add (local.get $o) (i32.shl (local.get $c) (i32.const 2)))
          (f32x4.add (v128.load (i32.add (local.get $o) (i32.shl (local.get $c) (i32.const 2))))
                     (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vec)))
      (block $sdone (loop $scalar
        (br_if $sdone (i32.ge_u (local.get $c) (local.get $C)))
        (f32.store (i32.add (local.get $o) (i32.shl (local.get $c) (i32.const 2)))
          (f32.add (f32.load (i32.add (local.get $o) (i32.shl (local.get $c) (i32.const 2))))
                   (f32.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $scalar)))
      (local.set $row (i32.add (local.get $row) (i32.shl (local.get $C) (i32.const 2))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))
)
