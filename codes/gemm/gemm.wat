;; Float64 GEMM macro-kernel for codenet: C[mc×nc] += Ã·B̃ over packed panels.
;;
;; This is the source; `npm run build:wasm` (codes/gemm/build.ts) expands the two macros
;; below and assembles two binaries into codes/gemm/wasm-binary.ts:
;;   (FMA $acc $x $y)           $acc = $x·$y + $acc, as f64x2.relaxed_madd in the "relaxed"
;;                              variant and as f64x2.mul + f64x2.add in the "simd" variant.
;;   ;;#repeat u 0..3 … ;;#end  the enclosed lines once per u, with {{expr}} evaluated.
;;
;; Register tile: 6 rows × 4 columns of C = 12 f64x2 accumulators, plus 2 B vectors and one
;; A vector: 15 of the 16 xmm registers (V8 keeps xmm15 as scratch), so nothing spills.
;;
;; Packed layouts (written by $packA and $packB below):
;;   A micro-panel (6 rows): for each p < kc, 6 entries each stored twice, [a0 a0 a1 a1 … a5 a5]:
;;     96 bytes per p. The broadcast is then a plain v128.load whose offset V8 folds into the
;;     address: no shuffle (f64.load + f64x2.splat costs a vmovddup on a port the FMAs contend for)
;;     and no extra lea (v128.load64_splat does not fold its offset). Measured on cache-resident
;;     panels: 15.5-16 GFLOP/s against 12-14 for either broadcast, the pure-FMA peak being ~16.3.
;;   B micro-panel (4 columns): for each p < kc, [b0 b1 b2 b3]: 32 bytes per p.
;; Both are zero-padded to full tiles, so edge tiles run the same kernel into a scratch tile.
(module
  (memory (export "memory") 1 65536)

  ;; C[pc + i·ldc + 8j] += Σ_p Ã[p][i]·B̃[p][j] for the full 6×4 tile; ldc in bytes.
  (func $micro (export "micro") (param $kc i32) (param $pa i32) (param $pb i32) (param $pc i32) (param $ldc i32)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128)
    (local $c30 v128) (local $c31 v128) (local $c40 v128) (local $c41 v128) (local $c50 v128) (local $c51 v128)
    (local $n i32) (local $row i32)
    ;; Main loop, unrolled 4× so the pointer bumps and branch are amortised.
    (local.set $n (i32.shr_u (local.get $kc) (i32.const 2)))
    (if (local.get $n) (then (loop $steps4
      ;;#repeat u 0..3
      (local.set $b0 (v128.load offset={{u*32}} (local.get $pb)))
      (local.set $b1 (v128.load offset={{u*32+16}} (local.get $pb)))
      (local.set $a (v128.load offset={{u*96}} (local.get $pa)))
      (FMA $c00 $a $b0) (FMA $c01 $a $b1)
      (local.set $a (v128.load offset={{u*96+16}} (local.get $pa)))
      (FMA $c10 $a $b0) (FMA $c11 $a $b1)
      (local.set $a (v128.load offset={{u*96+32}} (local.get $pa)))
      (FMA $c20 $a $b0) (FMA $c21 $a $b1)
      (local.set $a (v128.load offset={{u*96+48}} (local.get $pa)))
      (FMA $c30 $a $b0) (FMA $c31 $a $b1)
      (local.set $a (v128.load offset={{u*96+64}} (local.get $pa)))
      (FMA $c40 $a $b0) (FMA $c41 $a $b1)
      (local.set $a (v128.load offset={{u*96+80}} (local.get $pa)))
      (FMA $c50 $a $b0) (FMA $c51 $a $b1)
      ;;#end
      (local.set $pa (i32.add (local.get $pa) (i32.const 384)))
      (local.set $pb (i32.add (local.get $pb) (i32.const 128)))
      (br_if $steps4 (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
    ;; The kc mod 4 remaining steps.
    (local.set $n (i32.and (local.get $kc) (i32.const 3)))
    (if (local.get $n) (then (loop $steps1
      (local.set $b0 (v128.load (local.get $pb)))
      (local.set $b1 (v128.load offset=16 (local.get $pb)))
      (local.set $a (v128.load (local.get $pa)))
      (FMA $c00 $a $b0) (FMA $c01 $a $b1)
      (local.set $a (v128.load offset=16 (local.get $pa)))
      (FMA $c10 $a $b0) (FMA $c11 $a $b1)
      (local.set $a (v128.load offset=32 (local.get $pa)))
      (FMA $c20 $a $b0) (FMA $c21 $a $b1)
      (local.set $a (v128.load offset=48 (local.get $pa)))
      (FMA $c30 $a $b0) (FMA $c31 $a $b1)
      (local.set $a (v128.load offset=64 (local.get $pa)))
      (FMA $c40 $a $b0) (FMA $c41 $a $b1)
      (local.set $a (v128.load offset=80 (local.get $pa)))
      (FMA $c50 $a $b0) (FMA $c51 $a $b1)
      (local.set $pa (i32.add (local.get $pa) (i32.const 96)))
      (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
      (br_if $steps1 (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
    ;; C += accumulators, one row at a time.
    (local.set $row (local.get $pc))
    ;;#repeat r 0..5
    (v128.store (local.get $row) (f64x2.add (v128.load (local.get $row)) (local.get $c{{r}}0)))
    (v128.store offset=16 (local.get $row) (f64x2.add (v128.load offset=16 (local.get $row)) (local.get $c{{r}}1)))
    (local.set $row (i32.add (local.get $row) (local.get $ldc)))
    ;;#end
  )

  ;; One 6×4 tile of C at $pc (row stride $ldc bytes), of which the top-left $mv×$nv part is
  ;; real: full tiles go straight to the micro-kernel, edge tiles through the scratch tile at $tmp.
  (func $tile (param $mv i32) (param $nv i32) (param $kc i32) (param $pa i32) (param $pb i32) (param $pc i32)
      (param $ldc i32) (param $tmp i32)
    (local $i i32) (local $j i32) (local $src i32) (local $dst i32)
    (if (i32.and (i32.eq (local.get $mv) (i32.const 6)) (i32.eq (local.get $nv) (i32.const 4)))
      (then (call $micro (local.get $kc) (local.get $pa) (local.get $pb) (local.get $pc) (local.get $ldc)) (return)))
    ;;#repeat t 0..11
    (v128.store offset={{t*16}} (local.get $tmp) (v128.const i64x2 0 0))
    ;;#end
    (call $micro (local.get $kc) (local.get $pa) (local.get $pb) (local.get $tmp) (i32.const 32))
    (loop $rows
      (local.set $src (i32.add (local.get $tmp) (i32.shl (local.get $i) (i32.const 5))))
      (local.set $dst (i32.add (local.get $pc) (i32.mul (local.get $i) (local.get $ldc))))
      (local.set $j (i32.const 0))
      (loop $cols
        (f64.store (local.get $dst) (f64.add (f64.load (local.get $dst)) (f64.load (local.get $src))))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br_if $cols (i32.lt_s (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $nv))))
      (br_if $rows (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mv))))
  )

  ;; C[mc×nc] (row stride ldc bytes) += packed A block (mc rows) · packed B block (nc columns),
  ;; over 6×4 tiles. The A micro-panel is outermost: it stays in L1 while the B block (sized for L2)
  ;; streams past it. (B outermost, with A streaming from L2, measured 10-15 % slower: the
  ;; duplicated A panel is 3× the bytes of a B panel.)
  (func $macro (export "macro") (param $mc i32) (param $nc i32) (param $kc i32) (param $pa i32) (param $pb i32)
      (param $pc i32) (param $ldc i32) (param $tmp i32)
    (local $jr i32) (local $ir i32) (local $paI i32) (local $pbJ i32) (local $pcI i32) (local $pcIJ i32)
    (local $mv i32) (local $nv i32) (local $aStride i32) (local $bStride i32)
    (local.set $aStride (i32.mul (local.get $kc) (i32.const 96)))
    (local.set $bStride (i32.mul (local.get $kc) (i32.const 32)))
    (local.set $paI (local.get $pa))
    (local.set $pcI (local.get $pc))
    (block $doneI (loop $loopI
      (br_if $doneI (i32.ge_s (local.get $ir) (local.get $mc)))
      (local.set $mv (i32.sub (local.get $mc) (local.get $ir)))
      (if (i32.gt_s (local.get $mv) (i32.const 6)) (then (local.set $mv (i32.const 6))))
      (local.set $jr (i32.const 0))
      (local.set $pbJ (local.get $pb))
      (local.set $pcIJ (local.get $pcI))
      (block $doneJ (loop $loopJ
        (br_if $doneJ (i32.ge_s (local.get $jr) (local.get $nc)))
        (local.set $nv (i32.sub (local.get $nc) (local.get $jr)))
        (if (i32.gt_s (local.get $nv) (i32.const 4)) (then (local.set $nv (i32.const 4))))
        (call $tile (local.get $mv) (local.get $nv) (local.get $kc) (local.get $paI) (local.get $pbJ) (local.get $pcIJ) (local.get $ldc) (local.get $tmp))
        (local.set $jr (i32.add (local.get $jr) (i32.const 4)))
        (local.set $pbJ (i32.add (local.get $pbJ) (local.get $bStride)))
        (local.set $pcIJ (i32.add (local.get $pcIJ) (i32.const 32)))
        (br $loopJ)))
      (local.set $ir (i32.add (local.get $ir) (i32.const 6)))
      (local.set $paI (i32.add (local.get $paI) (local.get $aStride)))
      (local.set $pcI (i32.add (local.get $pcI) (i32.mul (local.get $ldc) (i32.const 6))))
      (br $loopI)))
  )

  ;; Packing, from operands copied raw into this memory. op(A)[i][p] is at $src + i·$si + p·$sp
  ;; (bytes; a transpose just swaps the strides), $src pointing at op(A)[i0][p0]. Writes the
  ;; 6-row micro-panels of alpha·op(A)[0..mc)[0..kc), zero-padded to a multiple of 6 rows.
  ;; A transposed A goes 16 values of p at a time across all panels: walking one panel down all kc
  ;; values with a power-of-two row stride would land every line in the same L1 set and miss on
  ;; each load.
  (func $packA (export "packA") (param $src i32) (param $si i32) (param $sp i32) (param $mc i32) (param $kc i32)
      (param $alpha f64) (param $dst i32)
    (local $pb i32) (local $pe i32) (local $q i32) (local $p i32) (local $s i32) (local $d i32) (local $rows i32)
    (local $r i32) (local $si0 i32) (local $si1 i32) (local $si2 i32) (local $si3 i32) (local $si4 i32) (local $si5 i32) (local $av v128) (local $v v128) (local $block i32)
    (local.set $si1 (local.get $si))
    (local.set $si2 (i32.shl (local.get $si) (i32.const 1)))
    (local.set $si3 (i32.add (local.get $si2) (local.get $si)))
    (local.set $si4 (i32.shl (local.get $si) (i32.const 2)))
    (local.set $si5 (i32.add (local.get $si4) (local.get $si)))
    (local.set $av (f64x2.splat (local.get $alpha)))
    ;; An untransposed A is read along its rows: six sequential streams, no set conflicts, so
    ;; each panel is packed over the whole kc in one go (what the hardware prefetcher likes).
    (local.set $block (select (local.get $kc) (i32.const 16) (i32.eq (local.get $sp) (i32.const 8))))
    (block $doneP (loop $loopP
      (br_if $doneP (i32.ge_s (local.get $pb) (local.get $kc)))
      (local.set $pe (i32.add (local.get $pb) (local.get $block)))
      (if (i32.gt_s (local.get $pe) (local.get $kc)) (then (local.set $pe (local.get $kc))))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $loopQ
        (br_if $doneQ (i32.ge_s (local.get $q) (local.get $mc)))
        (local.set $rows (i32.sub (local.get $mc) (local.get $q)))
        (local.set $s (i32.add (i32.add (local.get $src) (i32.mul (local.get $q) (local.get $si))) (i32.mul (local.get $pb) (local.get $sp))))
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $q) (local.get $kc)) (i32.mul (local.get $pb) (i32.const 6))) (i32.const 4))))
        (local.set $p (local.get $pb))
        (if (i32.ge_s (local.get $rows) (i32.const 6))
          (then
            (if (i32.eq (local.get $si) (i32.const 8))
              (then ;; transposed A: the 6 values are contiguous
                (loop $contig
                  ;;#repeat r 0..5
                  (v128.store offset={{r*16}} (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat offset={{r*8}} (local.get $s))))
                  ;;#end
                  (local.set $s (i32.add (local.get $s) (local.get $sp)))
                  (local.set $d (i32.add (local.get $d) (i32.const 96)))
                  (br_if $contig (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe)))))
              (else (if (i32.eq (local.get $sp) (i32.const 8))
                (then ;; untransposed A: each row is contiguous along p, so take two p at a time
                  (block $pairsDone (loop $pairs
                    (br_if $pairsDone (i32.ge_s (i32.add (local.get $p) (i32.const 1)) (local.get $pe)))
                    (local.set $v (v128.load (local.get $s)))
                    (v128.store (local.get $d) (f64x2.mul (local.get $av) (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
                    (v128.store offset=96 (local.get $d) (f64x2.mul (local.get $av) (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))
                    ;;#repeat r 1..5
                    (local.set $v (v128.load (i32.add (local.get $s) (local.get $si{{r}}))))
                    (v128.store offset={{r*16}} (local.get $d) (f64x2.mul (local.get $av) (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
                    (v128.store offset={{96+r*16}} (local.get $d) (f64x2.mul (local.get $av) (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))
                    ;;#end
                    (local.set $s (i32.add (local.get $s) (i32.const 16)))
                    (local.set $d (i32.add (local.get $d) (i32.const 192)))
                    (local.set $p (i32.add (local.get $p) (i32.const 2)))
                    (br $pairs)))
                  (if (i32.lt_s (local.get $p) (local.get $pe)) (then ;; odd last p of the block
                    ;;#repeat r 0..5
                    (v128.store offset={{r*16}} (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si{{r}})))))
                    ;;#end
                    )))
                (else
                  (loop $strided
                    (v128.store (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (local.get $s))))
                    (v128.store offset=16 (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si)))))
                    (v128.store offset=32 (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si2)))))
                    (v128.store offset=48 (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si3)))))
                    (v128.store offset=64 (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si4)))))
                    (v128.store offset=80 (local.get $d) (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (local.get $si5)))))
                    (local.set $s (i32.add (local.get $s) (local.get $sp)))
                    (local.set $d (i32.add (local.get $d) (i32.const 96)))
                    (br_if $strided (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe)))))
                  ))))
          (else ;; bottom edge: the rows past mc are zeros
            (loop $edge
              (local.set $r (i32.const 0))
              (loop $edgeRow
                (v128.store (i32.add (local.get $d) (i32.shl (local.get $r) (i32.const 4)))
                  (if (result v128) (i32.lt_s (local.get $r) (local.get $rows))
                    (then (f64x2.mul (local.get $av) (v128.load64_splat (i32.add (local.get $s) (i32.mul (local.get $r) (local.get $si))))))
                    (else (v128.const i64x2 0 0))))
                (br_if $edgeRow (i32.lt_s (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const 6))))
              (local.set $s (i32.add (local.get $s) (local.get $sp)))
              (local.set $d (i32.add (local.get $d) (i32.const 96)))
              (br_if $edge (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe))))))
        (local.set $q (i32.add (local.get $q) (i32.const 6)))
        (br $loopQ)))
      (local.set $pb (local.get $pe))
      (br $loopP)))
  )

  ;; op(B)[p][j] is at $src + p·$sp + j·$sj, $src pointing at op(B)[p0][j0]. Writes the 4-column
  ;; micro-panels of op(B)[0..kc)[0..nc), zero-padded to a multiple of 4 columns; same p blocking.
  (func $packB (export "packB") (param $src i32) (param $sp i32) (param $sj i32) (param $kc i32) (param $nc i32) (param $dst i32)
    (local $pb i32) (local $pe i32) (local $t i32) (local $p i32) (local $s i32) (local $d i32) (local $cols i32)
    (local $c i32) (local $sj2 i32) (local $sj3 i32)
    (local.set $sj2 (i32.shl (local.get $sj) (i32.const 1)))
    (local.set $sj3 (i32.add (local.get $sj2) (local.get $sj)))
    (block $doneP (loop $loopP
      (br_if $doneP (i32.ge_s (local.get $pb) (local.get $kc)))
      (local.set $pe (i32.add (local.get $pb) (i32.const 16)))
      (if (i32.gt_s (local.get $pe) (local.get $kc)) (then (local.set $pe (local.get $kc))))
      (local.set $t (i32.const 0))
      (block $doneT (loop $loopT
        (br_if $doneT (i32.ge_s (local.get $t) (local.get $nc)))
        (local.set $cols (i32.sub (local.get $nc) (local.get $t)))
        (local.set $s (i32.add (i32.add (local.get $src) (i32.mul (local.get $t) (local.get $sj))) (i32.mul (local.get $pb) (local.get $sp))))
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $kc)) (i32.shl (local.get $pb) (i32.const 2))) (i32.const 3))))
        (local.set $p (local.get $pb))
        (if (i32.ge_s (local.get $cols) (i32.const 4))
          (then
            (if (i32.eq (local.get $sj) (i32.const 8))
              (then ;; untransposed B: the 4 values are contiguous
                (loop $contig
                  (v128.store (local.get $d) (v128.load (local.get $s)))
                  (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
                  (local.set $s (i32.add (local.get $s) (local.get $sp)))
                  (local.set $d (i32.add (local.get $d) (i32.const 32)))
                  (br_if $contig (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe)))))
              (else
                (loop $strided
                  (f64.store (local.get $d) (f64.load (local.get $s)))
                  (f64.store offset=8 (local.get $d) (f64.load (i32.add (local.get $s) (local.get $sj))))
                  (f64.store offset=16 (local.get $d) (f64.load (i32.add (local.get $s) (local.get $sj2))))
                  (f64.store offset=24 (local.get $d) (f64.load (i32.add (local.get $s) (local.get $sj3))))
                  (local.set $s (i32.add (local.get $s) (local.get $sp)))
                  (local.set $d (i32.add (local.get $d) (i32.const 32)))
                  (br_if $strided (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe)))))))
          (else ;; right edge: the columns past nc are zeros
            (loop $edge
              (local.set $c (i32.const 0))
              (loop $edgeCol
                (f64.store (i32.add (local.get $d) (i32.shl (local.get $c) (i32.const 3)))
                  (if (result f64) (i32.lt_s (local.get $c) (local.get $cols))
                    (then (f64.load (i32.add (local.get $s) (i32.mul (local.get $c) (local.get $sj)))))
                    (else (f64.const 0))))
                (br_if $edgeCol (i32.lt_s (local.tee $c (i32.add (local.get $c) (i32.const 1))) (i32.const 4))))
              (local.set $s (i32.add (local.get $s) (local.get $sp)))
              (local.set $d (i32.add (local.get $d) (i32.const 32)))
              (br_if $edge (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe))))))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $loopT)))
      (local.set $pb (local.get $pe))
      (br $loopP)))
  )

  ;; Row kernel of the decoders (codes/gemm/rows.ts): Z = Â·Y for a few output rows over a few
  ;; long rows Y (R = $r rows at $py, row stride $ldy bytes, $n8 blocks of 8 columns).
  ;; Â is packed in groups of 2 output rows: for each group and each j < R, the 2 entries
  ;; â_{2g, j}, â_{2g+1, j}, each stored twice (32 bytes per j), so a broadcast is a plain load.
  ;; Every entry of Z is the FMA chain over j = 0…R−1 from zero, added to a zero C: exactly what
  ;; $micro computes for the same product (so a decode is bit for bit the GEMM's).
  ;;   $pz ≠ 0: groups g < $gs are stored (row stride $ldz bytes);
  ;;   $ps ≠ 0: the squares of every row of Z are added to its f64x2 accumulator at $ps + 16·row;
  ;;   $pn ≠ 0: the squares of every row of Y are added to its f64x2 accumulator at $pn + 16·j.
  ;; The caller zeroes the accumulators and adds their two lanes: a long pass can be split into
  ;; column chunks (each copied in just before it is used, so it is still in cache).
  ;; Tile: 2 rows × 8 columns = 8 accumulators, 4 Y vectors, 2 Â vectors.
  (func $rows (export "rows") (param $groups i32) (param $gs i32) (param $r i32) (param $n8 i32) (param $pa i32)
      (param $py i32) (param $ldy i32) (param $pz i32) (param $ldz i32) (param $ps i32) (param $pn i32)
    (local $t i32) (local $g i32) (local $j i32) (local $a i32) (local $y i32) (local $z i32) (local $s i32)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128) (local $a0 v128) (local $a1 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (block $doneT (loop $loopT
      (br_if $doneT (i32.ge_s (local.get $t) (local.get $n8)))
      (if (local.get $pn) (then
        (local.set $y (i32.add (local.get $py) (i32.shl (local.get $t) (i32.const 6))))
        (local.set $s (local.get $pn))
        (local.set $j (local.get $r))
        (loop $sumsY
          (local.set $a0 (v128.load (local.get $s)))
          ;;#repeat u 0..3
          (local.set $y0 (v128.load offset={{u*16}} (local.get $y)))
          (FMA $a0 $y0 $y0)
          ;;#end
          (v128.store (local.get $s) (local.get $a0))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $y (i32.add (local.get $y) (local.get $ldy)))
          (br_if $sumsY (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))))
      (local.set $g (i32.const 0))
      (local.set $a (local.get $pa))
      (block $doneG (loop $loopG
        (br_if $doneG (i32.ge_s (local.get $g) (local.get $groups)))
        ;;#repeat u 0..3
        (local.set $c0{{u}} (v128.const i64x2 0 0))
        (local.set $c1{{u}} (v128.const i64x2 0 0))
        ;;#end
        (local.set $y (i32.add (local.get $py) (i32.shl (local.get $t) (i32.const 6))))
        (local.set $j (local.get $r))
        (loop $loopJ
          ;;#repeat u 0..3
          (local.set $y{{u}} (v128.load offset={{u*16}} (local.get $y)))
          ;;#end
          (local.set $a0 (v128.load (local.get $a)))
          (local.set $a1 (v128.load offset=16 (local.get $a)))
          ;;#repeat u 0..3
          (FMA $c0{{u}} $a0 $y{{u}}) (FMA $c1{{u}} $a1 $y{{u}})
          ;;#end
          (local.set $a (i32.add (local.get $a) (i32.const 32)))
          (local.set $y (i32.add (local.get $y) (local.get $ldy)))
          (br_if $loopJ (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))
        (if (i32.and (i32.ne (local.get $pz) (i32.const 0)) (i32.lt_s (local.get $g) (local.get $gs))) (then
          (local.set $z (i32.add (i32.add (local.get $pz) (i32.mul (i32.shl (local.get $g) (i32.const 1)) (local.get $ldz))) (i32.shl (local.get $t) (i32.const 6))))
          ;;#repeat u 0..3
          (v128.store offset={{u*16}} (local.get $z) (f64x2.add (v128.const i64x2 0 0) (local.get $c0{{u}})))
          ;;#end
          (local.set $z (i32.add (local.get $z) (local.get $ldz)))
          ;;#repeat u 0..3
          (v128.store offset={{u*16}} (local.get $z) (f64x2.add (v128.const i64x2 0 0) (local.get $c1{{u}})))
          ;;#end
          ))
        (if (local.get $ps) (then
          (local.set $s (i32.add (local.get $ps) (i32.shl (local.get $g) (i32.const 5))))
          (local.set $a0 (v128.load (local.get $s)))
          (local.set $a1 (v128.load offset=16 (local.get $s)))
          ;;#repeat u 0..3
          (FMA $a0 $c0{{u}} $c0{{u}}) (FMA $a1 $c1{{u}} $c1{{u}})
          ;;#end
          (v128.store (local.get $s) (local.get $a0))
          (v128.store offset=16 (local.get $s) (local.get $a1))))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $loopG)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $loopT)))
  )

  ;; D = Y·G for the sketches of the decoders' search (codes/gemm/rows.ts): Y is R long rows
  ;; (row byte offsets from $py in the i32 table at $prow, 4 per group: a padded group repeats a
  ;; row, its values are not read), G is L × 4 row-major at $pg, D is R × 4 at $pd (row-major,
  ;; 4 rows per group). Bit for bit what $macro computes for gemm(Y, G): the depth L in blocks
  ;; of $kc (the GEMM's KC blocking of this shape), in each an FMA chain from zero, each block's
  ;; sum added to D in order.
  (func $dots (export "dots") (param $groups i32) (param $py i32) (param $prow i32) (param $L i32) (param $kc i32)
      (param $pg i32) (param $pd i32)
    (local $g i32) (local $p0 i32) (local $pe i32) (local $p i32) (local $d i32) (local $gp i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $g01 v128) (local $g23 v128) (local $y v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (block $doneG (loop $loopG
      (br_if $doneG (i32.ge_s (local.get $g) (local.get $groups)))
      (local.set $d (i32.add (local.get $pd) (i32.shl (local.get $g) (i32.const 7))))
      ;;#repeat u 0..7
      (v128.store offset={{u*16}} (local.get $d) (v128.const i64x2 0 0))
      ;;#end
      ;;#repeat u 0..3
      (local.set $r{{u}} (i32.add (local.get $py) (i32.load offset={{u*4}} (i32.add (local.get $prow) (i32.shl (local.get $g) (i32.const 4))))))
      ;;#end
      (local.set $p0 (i32.const 0))
      (block $doneP (loop $loopP
        (br_if $doneP (i32.ge_s (local.get $p0) (local.get $L)))
        (local.set $pe (i32.add (local.get $p0) (local.get $kc)))
        (if (i32.gt_s (local.get $pe) (local.get $L)) (then (local.set $pe (local.get $L))))
        ;;#repeat u 0..3
        (local.set $a{{u}}0 (v128.const i64x2 0 0))
        (local.set $a{{u}}1 (v128.const i64x2 0 0))
        ;;#end
        (local.set $p (local.get $p0))
        (local.set $gp (i32.add (local.get $pg) (i32.shl (local.get $p0) (i32.const 5))))
        (loop $steps
          (local.set $g01 (v128.load (local.get $gp)))
          (local.set $g23 (v128.load offset=16 (local.get $gp)))
          ;;#repeat u 0..3
          (local.set $y (v128.load64_splat (i32.add (local.get $r{{u}}) (i32.shl (local.get $p) (i32.const 3)))))
          (FMA $a{{u}}0 $y $g01) (FMA $a{{u}}1 $y $g23)
          ;;#end
          (local.set $gp (i32.add (local.get $gp) (i32.const 32)))
          (br_if $steps (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $pe))))
        ;;#repeat u 0..3
        (v128.store offset={{u*32}} (local.get $d) (f64x2.add (v128.load offset={{u*32}} (local.get $d)) (local.get $a{{u}}0)))
        (v128.store offset={{u*32+16}} (local.get $d) (f64x2.add (v128.load offset={{u*32+16}} (local.get $d)) (local.get $a{{u}}1)))
        ;;#end
        (local.set $p0 (local.get $pe))
        (br $loopP)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $loopG)))
  )
)
