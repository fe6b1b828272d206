;; The CPU backend's f32 matmul micro-kernel in WebAssembly SIMD (128-bit, f32x4):
;; C[M,N] += A[M,K]·Bt[N,K]ᵀ on operands that the caller (gemm.ts) has copied into this memory.
;;
;; Compiled by scripts/build-wasm.mjs (wabt) into gemm-wasm.ts; edit this file, then run
;; `npm run build:wasm` (test/cpu/wasm-gemm.test.ts checks the committed bytes are a fresh compile).
;;
;; Packing. Both operands arrive with K contiguous (A's rows, Bt's rows). The micro-kernel wants,
;; for each k, 4 consecutive rows of A and 8 consecutive columns of C side by side, so `pack`
;; rearranges them first (one pass over each operand, against N or M multiply-adds per element):
;;   A  → [⌈M/4⌉][K][4]  (a "micro-panel" of 4 rows: the 4 values of one k are 16 bytes apart from
;;                        the next k's), rows past M zero;
;;   Bt → [⌈N/8⌉][K][8]  (a panel of 8 columns: one k is two v128 loads), columns past N zero.
;; Inside a panel every load has a constant offset from one pointer that advances per k.
;;
;; Register blocking. `gemm` computes C in 4×8 tiles. A tile's 32 sums live in 8 v128 locals
;; (c<row><half>: row 0…3, columns 0–3 and 4–7). Per k it loads the two B vectors once, then for
;; each of the 4 rows broadcasts A's value (v128.load32_splat) and does 2 multiplies and 2 adds:
;; 6 loads for 8 f32x4 multiply-adds (64 flops). Why 4×8: V8's optimizing compiler (Node 20,
;; x64, `node --print-wasm-code`) hoists the 4 broadcasts to the top of the loop body, so a k
;; needs 8 accumulators + 2 B + 4 A + 1 product = 15 registers, exactly the xmm0–xmm14 it
;; allocates. Tiles of 5×8, 6×8, 8×8, 3×12 and 4×12 spill accumulators to the stack every k and
;; ran at 20–27 GFLOP/s against 47–49 for 4×8 (kernel alone, 2026-11-26, bench/RESULTS.md's machine).
;; There is no fused multiply-add (relaxed SIMD is not on by default in Node 20): mul then add,
;; both rounded to f32.
;;
;; Order of the loops: panels of B outer, tiles of A inner, so one B panel (8·K floats, 8 KB at
;; K = 256) stays in L1 while the caller's chunk of A rows (gemm.ts sizes it for L2) streams past.
;;
;; Every C element gets C + (((0 + a₀b₀) + a₁b₁) + … + a_{K−1}b_{K−1}) in f32, k in order: the
;; result for a row does not depend on which tile, chunk or thread computed it, nor on M.
;; Tails: padded rows/columns are zero and computed like the rest; a tile that sticks out of C
;; (M mod 4 rows or N mod 8 columns) is parked in the scratch block at `tmp`, and only its part
;; inside C is added (a row of 8 as two v128, a shorter row element by element).
(module
  (memory (export "memory") 1)

  ;; dst[p][k][r] = src[(p·R + r)·K + k] for rows p·R + r < rows, 0 for rows ≤ p·R + r < rowsP
  ;; (R = 4 or 8; rowsP = rows rounded up to R). Four rows at a time: 4 v128 loads take 4 k of
  ;; each row, a 4×4 transpose (shuffles) turns them into 4 k of the 4 rows, each one v128 store
  ;; into its k's slot of the panel. K mod 4 leftover k and groups with rows past `rows` go
  ;; element by element (packRow). (Element by element throughout took ~1 ns a float; this ~0.2.)
  (func (export "pack") (param $src i32) (param $dst i32) (param $rows i32) (param $rowsP i32) (param $K i32) (param $R i32)
    (local $r i32) (local $d i32) (local $stride i32) (local $ld i32) (local $kk i32) (local $k4 i32) (local $q i32)
    (local $panel i32) (local $lane i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $stride (i32.shl (local.get $R) (i32.const 2)))
    (local.set $ld (i32.shl (local.get $K) (i32.const 2)))
    (local.set $panel (local.get $dst))
    ;; rows past `rows` are zero: clear the last panel first (memory.fill), copy only real rows
    (if (i32.lt_u (local.get $rows) (local.get $rowsP))
      (then
        (memory.fill
          (i32.add (local.get $dst) (i32.mul (i32.sub (local.get $rowsP) (local.get $R)) (local.get $ld)))
          (i32.const 0)
          (i32.mul (local.get $R) (local.get $ld)))))
    ;; the bytes of K's whole groups of 4
    (local.set $k4 (i32.and (local.get $ld) (i32.const -16)))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $r) (local.get $rowsP)))
        ;; d = row r's slot for k = 0: its panel's start + its lane (r mod R)·4
        (local.set $d (i32.add (local.get $panel) (local.get $lane)))
        (if (i32.le_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows))
          (then
            (local.set $s0 (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $ld))))
            (local.set $s1 (i32.add (local.get $s0) (local.get $ld)))
            (local.set $s2 (i32.add (local.get $s1) (local.get $ld)))
            (local.set $s3 (i32.add (local.get $s2) (local.get $ld)))
            (local.set $kk (i32.const 0))
            (block $quadsDone
              (loop $quad
                (br_if $quadsDone (i32.ge_u (local.get $kk) (local.get $k4)))
                ;; t0 = (x0[k], x1[k], x0[k+1], x1[k+1]), t1 = the same of rows 2, 3;
                ;; t2, t3 = k+2, k+3 likewise
                (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                  (v128.load (i32.add (local.get $s0) (local.get $kk))) (v128.load (i32.add (local.get $s1) (local.get $kk)))))
                (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                  (v128.load (i32.add (local.get $s0) (local.get $kk))) (v128.load (i32.add (local.get $s1) (local.get $kk)))))
                (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                  (v128.load (i32.add (local.get $s2) (local.get $kk))) (v128.load (i32.add (local.get $s3) (local.get $kk)))))
                (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                  (v128.load (i32.add (local.get $s2) (local.get $kk))) (v128.load (i32.add (local.get $s3) (local.get $kk)))))
                ;; (x0, x1, x2, x3) at k, k+1, k+2, k+3
                (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
                (local.set $d (i32.add (local.get $d) (local.get $stride)))
                (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
                (local.set $d (i32.add (local.get $d) (local.get $stride)))
                (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
                (local.set $d (i32.add (local.get $d) (local.get $stride)))
                (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
                (local.set $d (i32.add (local.get $d) (local.get $stride)))
                (local.set $kk (i32.add (local.get $kk) (i32.const 16)))
                (br $quad)))
            ;; K mod 4 leftover k, one float per row (i32: a bit-exact copy, NaN payloads included)
            (block $restDone
              (loop $rest
                (br_if $restDone (i32.ge_u (local.get $kk) (local.get $ld)))
                (i32.store offset=0 (local.get $d) (i32.load (i32.add (local.get $s0) (local.get $kk))))
                (i32.store offset=4 (local.get $d) (i32.load (i32.add (local.get $s1) (local.get $kk))))
                (i32.store offset=8 (local.get $d) (i32.load (i32.add (local.get $s2) (local.get $kk))))
                (i32.store offset=12 (local.get $d) (i32.load (i32.add (local.get $s3) (local.get $kk))))
                (local.set $d (i32.add (local.get $d) (local.get $stride)))
                (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
                (br $rest))))
          (else
            ;; the last group, partly or wholly past `rows`: its real rows one by one
            (local.set $q (i32.const 0))
            (block $rowsDone
              (loop $row
                (br_if $rowsDone (i32.ge_u (i32.add (local.get $r) (local.get $q)) (local.get $rows)))
                (call $packRow
                  (i32.add (local.get $src) (i32.mul (i32.add (local.get $r) (local.get $q)) (local.get $ld)))
                  (i32.add (local.get $d) (i32.shl (local.get $q) (i32.const 2)))
                  (local.get $K) (local.get $stride))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $row)))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (local.set $lane (i32.add (local.get $lane) (i32.const 16)))
        (if (i32.eq (local.get $lane) (local.get $stride))
          (then
            (local.set $lane (i32.const 0))
            (local.set $panel (i32.add (local.get $panel) (i32.mul (local.get $K) (local.get $stride))))))
        (br $group))))

;; One row into its panel slots: d[k·stride] = s[k] for k < K (i32: bit-exact).
  (func $packRow (param $s i32) (param $d i32) (param $K i32) (param $stride i32)
    (local $e i32)
    (local.set $e (i32.add (local.get $d) (i32.mul (local.get $K) (local.get $stride))))
    (block $done
      (loop $k
        (br_if $done (i32.ge_u (local.get $d) (local.get $e)))
        (i32.store (local.get $d) (i32.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $d (i32.add (local.get $d) (local.get $stride)))
        (br $k))))

  ;; C[M,N] (row stride N) += A·Btᵀ with A packed at $ap ([⌈M/4⌉][K][4]) and Bt at $bp
  ;; ([⌈N/8⌉][K][8]); $tmp: 128 bytes of scratch for tiles that stick out of C. K ≥ 1.
  (func (export "gemm") (param $ap i32) (param $bp i32) (param $cp i32) (param $M i32) (param $N i32) (param $K i32) (param $tmp i32)
    (local $j i32) (local $i i32) (local $pb i32) (local $pa i32) (local $pbk i32) (local $pak i32) (local $paEnd i32)
    (local $c i32) (local $ldc i32) (local $mr i32) (local $nr i32) (local $r i32) (local $q i32) (local $x i32) (local $e i32)
    (local $b0 v128) (local $b1 v128) (local $a v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $ldc (i32.shl (local.get $N) (i32.const 2)))
    (block $panelsDone
      (loop $panel
        (br_if $panelsDone (i32.ge_u (local.get $j) (local.get $N)))
        ;; the panel of columns j … j+7: bp + j·K·4 (8 columns × K floats per panel)
        (local.set $pb (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $j) (local.get $K)) (i32.const 2))))
        (local.set $nr (i32.sub (local.get $N) (local.get $j)))
        (local.set $i (i32.const 0))
        (block $tilesDone
          (loop $tile
            (br_if $tilesDone (i32.ge_u (local.get $i) (local.get $M)))
            ;; the micro-panel of rows i … i+3: ap + i·K·4
            (local.set $pa (i32.add (local.get $ap) (i32.shl (i32.mul (local.get $i) (local.get $K)) (i32.const 2))))
            (local.set $paEnd (i32.add (local.get $pa) (i32.shl (local.get $K) (i32.const 4))))
            (local.set $pak (local.get $pa))
            (local.set $pbk (local.get $pb))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
            (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
            ;; the k loop (K ≥ 1): B's 8 values for k, then A's 4 values one by one, broadcast.
            ;; Not unrolled: unrolled 2, 4 or 8 times it ran at 10–28 GFLOP/s against 45 for this
            ;; loop (same machine and day as above; the copies' registers no longer fit).
            (loop $k
                (local.set $b0 (v128.load offset=0 (local.get $pbk)))
                (local.set $b1 (v128.load offset=16 (local.get $pbk)))
                (local.set $a (v128.load32_splat offset=0 (local.get $pak)))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat offset=4 (local.get $pak)))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat offset=8 (local.get $pak)))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat offset=12 (local.get $pak)))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $pak (i32.add (local.get $pak) (i32.const 16)))
                (local.set $pbk (i32.add (local.get $pbk) (i32.const 32)))
                (br_if $k (i32.lt_u (local.get $pak) (local.get $paEnd))))
            ;; c = &C[i][j]
            (local.set $c (i32.add (local.get $cp) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $mr (i32.sub (local.get $M) (local.get $i)))
            (if (i32.and (i32.ge_u (local.get $mr) (i32.const 4)) (i32.ge_u (local.get $nr) (i32.const 8)))
              (then
                ;; a whole tile: C row += accumulators, two v128 per row
                (v128.store offset=0 (local.get $c) (f32x4.add (v128.load offset=0 (local.get $c)) (local.get $c00)))
                (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c01)))
                (local.set $c (i32.add (local.get $c) (local.get $ldc)))
                (v128.store offset=0 (local.get $c) (f32x4.add (v128.load offset=0 (local.get $c)) (local.get $c10)))
                (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c11)))
                (local.set $c (i32.add (local.get $c) (local.get $ldc)))
                (v128.store offset=0 (local.get $c) (f32x4.add (v128.load offset=0 (local.get $c)) (local.get $c20)))
                (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c21)))
                (local.set $c (i32.add (local.get $c) (local.get $ldc)))
                (v128.store offset=0 (local.get $c) (f32x4.add (v128.load offset=0 (local.get $c)) (local.get $c30)))
                (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c31))))
              (else
                ;; a tile sticking out of C: park it at tmp ([4][8] f32), add the part inside C
                (v128.store offset=0 (local.get $tmp) (local.get $c00))
                (v128.store offset=16 (local.get $tmp) (local.get $c01))
                (v128.store offset=32 (local.get $tmp) (local.get $c10))
                (v128.store offset=48 (local.get $tmp) (local.get $c11))
                (v128.store offset=64 (local.get $tmp) (local.get $c20))
                (v128.store offset=80 (local.get $tmp) (local.get $c21))
                (v128.store offset=96 (local.get $tmp) (local.get $c30))
                (v128.store offset=112 (local.get $tmp) (local.get $c31))
                (if (i32.gt_u (local.get $mr) (i32.const 4)) (then (local.set $mr (i32.const 4))))
                (local.set $r (i32.const 0))
                (block $rowsDone
                  (loop $row
                    (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $mr)))
                    ;; x = &C[i + r][j], q = &tmp[r][0]
                    (local.set $x (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))))
                    (local.set $q (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5))))
                    (if (i32.ge_u (local.get $nr) (i32.const 8))
                      (then
                        ;; all 8 columns inside C (only rows stick out): two v128
                        (v128.store offset=0 (local.get $x) (f32x4.add (v128.load offset=0 (local.get $x)) (v128.load offset=0 (local.get $q))))
                        (v128.store offset=16 (local.get $x) (f32x4.add (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $q)))))
                      (else
                        ;; the last nr < 8 columns, one by one
                        (local.set $e (i32.add (local.get $x) (i32.shl (local.get $nr) (i32.const 2))))
                        (block $colsDone
                          (loop $col
                            (br_if $colsDone (i32.ge_u (local.get $x) (local.get $e)))
                            (f32.store (local.get $x) (f32.add (f32.load (local.get $x)) (f32.load (local.get $q))))
                            (local.set $x (i32.add (local.get $x) (i32.const 4)))
                            (local.set $q (i32.add (local.get $q) (i32.const 4)))
                            (br $col)))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $row)))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $tile)))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $panel))))
)
