;; The CPU backend's costliest element-wise loops in WebAssembly SIMD: f32 GELU and its gradient,
;; and the Philox words behind every random draw. Operands are copied into this memory by the
;; caller (elementwise.ts).
;;
;; Compiled by scripts/build-wasm.mjs (wabt) into elementwise-wasm.ts; edit this file, then run
;; `npm run build:wasm` (test/cpu/wasm-elementwise.test.ts checks the committed bytes are a fresh
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
)
