/* rnnlab._kernels: the AVX-512 float32 kernels behind rnnlab.native.
 *
 * What is here: a packed SGEMM (Dense layers, input projections, weight gradients, per-step
 * recurrent products); the LSTM forward and backward time loops; the GRU forward time loop;
 * the packing of weights into panels; and single passes for the training step: the finite
 * check of inputs and gradients, the Adam step, the sum of squares behind gradient clipping,
 * and softmax cross-entropy from logits.
 *
 * Why: on this project's reference machine NumPy's OpenBLAS runs its AVX2 (Haswell) SGEMM
 * kernel, half the FMA width the CPU has; torch.nn.LSTM runs oneDNN's fused AVX-512 kernel.
 * These kernels give rnnlab the same width and fuse the gate nonlinearities into the
 * recurrent GEMM. Everything here is float32. The Python side, rnnlab/native.py, alone
 * decides whether a kernel serves a call (native.serves / native.why_not), checks shapes,
 * dtypes and contiguity, packs the weights, and otherwise leaves the call to NumPy; it passes
 * every argument by keyword, with the names given in the comment above each entry point.
 *
 * Why one file of ~1,500 lines: the kernels share the register-tile GEMM, the vector math
 * (exp, σ, tanh) and the thread runner, which C shares without exported symbols only inside
 * one translation unit. Its sections: threads, vector math, GEMM tile, LSTM forward, GRU
 * forward, LSTM backward, packing, Python glue (argument parsing, buffers), loss, optimizer.
 *
 * Layouts
 *   packed B (K x N):  [ceil(N/64) panels][K][64], zero padded; panel p holds columns
 *                      p*64 .. p*64+63 of B, or, for the LSTM, the columns a column map chose.
 *   LSTM gate order:   torch's [i; f; g; o] rows. The packed W_hh^T (H x 4H) interleaves
 *                      them so that panel p holds i, f, g, o of units 16p .. 16p+15: the
 *                      four gates of a unit come out of one 4-vector register tile, and the
 *                      cell update runs in registers right after the dot products.
 *
 * Threads: each call starts (nthreads - 1) POSIX threads and joins them before returning. The
 * time loops split the batch rows among them (rows never interact), so they never wait for
 * each other inside a sequence.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_simd.h"

#define NR 64    /* columns of a packed panel (4 AVX-512 vectors, 8 AVX2, 16 portable) */
#define MAX_THREADS 64

/* Blocking parameters, read at run time: rnnlab.native_tuning sets them per CPU
 * microarchitecture (set_tuning); these are the defaults. None of them changes a result: every
 * element of C is one tile lane's sum in k order whatever the blocks (a partial sum stored to
 * C and loaded back is exact). */
typedef struct {
    int kc;            /* depth of a cache block: a 128 x 64 float panel chunk is 32 KiB (L1) */
    int rb;            /* rows of a work item of the parallel GEMM (row-major A, panel-major) */
    int rbt;           /* rows of a packed block of a transposed A (gemm_rows_outer) */
    int kb_lstm;        /* the LSTM forward's depth block (0: none), see lstm_fwd_part */
    int spread_threads; /* start helper threads off the caller's CPU (start_elsewhere) */
    int gather_rows;    /* batch-major LSTM loops: contiguous copies of each step's rows
                           (lstm_fwd_local, lstm_bwd_args.dloc) */
    int depth_outer;    /* GEMM with a row-major A: depth blocks outer (gemm_depth_outer) */
    int stream_stores;  /* the LSTM loops write what only a later pass reads (the forward's gate
                           activations, the backward's copy of δ) with streaming stores */
    int dynamic_split;  /* the depth-outer GEMM's threads take work items from a shared
                           counter instead of equal shares (gemm_depth_shared), and the LSTM
                           forward's units split claims each step's panels
                           (lstm_fwd_units_shared) */
} tuning_t;
static tuning_t tune = {128, 48, 192, KB_LSTM, 0, 0, 0, 0, 0};
#define CHUNKS (16 / VL) /* vectors of one gate's 16 units in a fused tile */

/* the module's name: _kernels_avx512, _kernels_avx2 or _kernels_generic */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)
#define MODULE_NAME "_kernels_" STR(ISA_ID)

/* ---------------------------------------------------------------- threads */

typedef void (*worker_fn)(void *ctx, int tid, int nth);

typedef struct {
    worker_fn fn;
    void *ctx;
    int tid, nth;
    atomic_int *gate; /* 0: wait, 1: run, -1: cancelled */
} thread_arg;

/* Flush denormals to zero (FTZ) and read them as zero (DAZ) while a kernel runs: saturated
 * gates make e^x and products of tiny numbers land below 1.2e-38, where x86 arithmetic takes a
 * microcode assist per operation (a trained char-LSTM ran 8x slower without this). */
#if SIMD_X86
#define FTZ_DAZ 0x8040u
static unsigned int denormals_off(void) {
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | FTZ_DAZ);
    return old;
}
static void denormals_restore(unsigned int old) { _mm_setcsr(old); }
#elif defined(__aarch64__)
/* FPCR.FZ (bit 24): flush denormal inputs and results to zero */
static unsigned int denormals_off(void) {
    uint64_t old;
    __asm__ volatile("mrs %0, fpcr" : "=r"(old));
    __asm__ volatile("msr fpcr, %0" : : "r"(old | (1ull << 24)));
    return (unsigned int)old;
}
static void denormals_restore(unsigned int old) {
    uint64_t v = old;
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}
#else
static unsigned int denormals_off(void) { return 0; }
static void denormals_restore(unsigned int old) { (void)old; }
#endif

static void *thread_main(void *p) {
    thread_arg *a = (thread_arg *)p;
    denormals_off();
    int g;
    while ((g = atomic_load_explicit(a->gate, memory_order_acquire)) == 0) sched_yield();
    if (g > 0) a->fn(a->ctx, a->tid, a->nth);
    return NULL;
}

/* Thread attributes that start a new thread on the CPUs this process may use other than the
 * calling thread's, or NULL (tune.spread_threads off, nth threads would not fit, or the CPUs
 * are unknown). Linux starts a new thread on its creator's CPU and moves it only later: on
 * a 2-vCPU Xeon (family 6 model 207) both threads of a few-millisecond GEMM shared one CPU
 * long enough to cut the two-thread speed-up from 1.9x to 1.4x. */
static pthread_attr_t *start_elsewhere(int nth, pthread_attr_t *attr) {
#if defined(__linux__)
    cpu_set_t allowed;
    if (!tune.spread_threads || nth < 2 || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return NULL;
    const int here = sched_getcpu();
    if (here < 0 || here >= CPU_SETSIZE || !CPU_ISSET(here, &allowed) ||
        CPU_COUNT(&allowed) < nth)
        return NULL;
    CPU_CLR(here, &allowed);
    if (pthread_attr_init(attr) != 0) return NULL;
    if (pthread_attr_setaffinity_np(attr, sizeof allowed, &allowed) != 0) {
        pthread_attr_destroy(attr);
        return NULL;
    }
    return attr;
#else
    (void)nth;
    (void)attr;
    return NULL;
#endif
}

/* Run fn(ctx, tid, nth) for tid = 0 .. nth-1, tid 0 on the calling thread. The threads wait at
 * a gate until all of them exist; if the system refuses one, the others are cancelled and the
 * work runs on the calling thread alone. */
static void run_parallel(worker_fn fn, void *ctx, int nth) {
    pthread_t threads[MAX_THREADS];
    thread_arg args[MAX_THREADS];
    atomic_int gate;
    atomic_init(&gate, 0);
    if (nth < 1) nth = 1;
    if (nth > MAX_THREADS) nth = MAX_THREADS;
    int started = 1;
    pthread_attr_t attr, *spread = start_elsewhere(nth, &attr);
    for (int t = 1; t < nth; t++) {
        args[t] = (thread_arg){fn, ctx, t, nth, &gate};
        if (pthread_create(&threads[t], spread, thread_main, &args[t]) != 0) break;
        started++;
    }
    if (spread) pthread_attr_destroy(spread);
    int n = started == nth ? nth : 1;
    atomic_store_explicit(&gate, n == nth ? 1 : -1, memory_order_release);
    unsigned int csr = denormals_off();
    fn(ctx, 0, n);
    denormals_restore(csr);
    for (int t = 1; t < started; t++) pthread_join(threads[t], NULL);
}

/* A barrier for the threads of one run_parallel call that split each step of a time loop:
 * spins briefly (a step is tens of microseconds), then yields the core, so a descheduled
 * partner costs a wait, not a core spinning against it. */
typedef struct {
    atomic_int count, phase;
    int n;
} step_barrier;

static void barrier_wait(step_barrier *b) {
    const int phase = atomic_load_explicit(&b->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_store_explicit(&b->phase, phase + 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&b->phase, memory_order_acquire) == phase; spins++)
        if (spins > 4000) sched_yield();
}

/* Copy rows lo .. hi-1 of n floats: row b from src + b*lds to dst + b*ldd, with streaming stores
 * where asked and dst is vector-aligned (data read only by a later pass; vsfence() before
 * another thread reads it). The batch-major loops' gathers and copy-outs. */
static void copy_rows(float *dst, long ldd, const float *src, long lds, long lo, long hi, long n,
                      int stream) {
    for (long b = lo; b < hi; b++) {
        float *d = dst + b * ldd;
        const float *f = src + b * lds;
        if (stream && n % VL == 0 && (uintptr_t)d % (sizeof(float) * VL) == 0)
            for (long j = 0; j < n; j += VL) vstream(d + j, vload(f + j));
        else
            memcpy(d, f, sizeof(float) * (size_t)n);
    }
}

/* A store, or a streaming one (p vector-aligned) */
static inline void vput(float *p, vf v, int stream) {
    if (stream)
        vstream(p, v);
    else
        vstore(p, v);
}

/* ---------------------------------------------------------------- vector math
 * vexp, vsigmoid, vtanh and the rest: _simd.h, one definition per instruction set. */

/* ---------------------------------------------------------------- GEMM tile
 * acc[r][v] += sum_k A(r, k) * B[k][v*VS .. v*VS + VL-1] for r < mr, v < NV, with A(r, k) at
 * a[r*a_rs + k*a_cs] and B's row k at bp + k*b_step, vector v read by LOAD(pointer, v). mr,
 * NV and VS are constants after inlining, so acc stays in registers. The one inner loop of
 * every kernel: the GEMM (NV = GV, VS = VL), the LSTM (the 4 gates of VL units, VS = 16), the
 * GRU (3 gates, VS = 16) and the SimpleRNN (as the GEMM). */
#define TILE_LOOP(mr, NV, VS, LOAD, b_step)                                               \
    for (int k = 0; k < kc; k++) {                                                        \
        const float *bk = bp + (long)k * (b_step);                                        \
        vf bv[NV];                                                                        \
        for (int v = 0; v < (NV); v++) bv[v] = LOAD(bk + (v) * (VS), v);                  \
        const float *ak = a + (long)k * a_cs;                                             \
        for (int r = 0; r < (mr); r++) {                                                  \
            const vf av = vset1(ak[(long)r * a_rs]);                                      \
            for (int v = 0; v < (NV); v++) acc[r][v] = vfma(av, bv[v], acc[r][v]);        \
        }                                                                                 \
    }
#define LOAD_MASKED(p, v) vload_m((p), m[v])
#define LOAD_PLAIN(p, v) vload(p)

/* One GEMM register tile: C(mr x ncols) (=|+=) A(mr x kc) B(kc x ncols) [+ bias] for
 * ncols <= GV*VL, B's row k at bp + k*b_rs (64 for a packed panel, the matrix's row stride for
 * an unpacked one). */
#define DEFINE_GEMM_TILE(mr)                                                              \
    static void gemm_tile_##mr(int kc, const float *a, long a_rs, long a_cs,              \
                               const float *bp, long b_rs, float *c, long ldc, int ncols, \
                               int accumulate, const float *bias) {                       \
        vf acc[mr][GV];                                                                   \
        vmask m[GV];                                                                      \
        const int full = ncols >= GV * VL;                                                \
        for (int v = 0; v < GV; v++) m[v] = vmask_n(ncols - VL * v);                      \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < GV; v++) {                                                \
                if (accumulate)                                                           \
                    acc[r][v] = full ? vload(c + (long)r * ldc + VL * v)                  \
                                     : vload_m(c + (long)r * ldc + VL * v, m[v]);         \
                else if (bias)                                                            \
                    acc[r][v] = full ? vload(bias + VL * v) : vload_m(bias + VL * v, m[v]); \
                else                                                                      \
                    acc[r][v] = vzero();                                                  \
            }                                                                             \
        if (b_rs == NR) { /* packed: zero padded, plain loads (a masked load costs a uop   \
                             on the FMA ports of Intel cores) */                           \
            TILE_LOOP(mr, GV, VL, LOAD_PLAIN, NR)                                         \
        } else {                                                                          \
            TILE_LOOP(mr, GV, VL, LOAD_MASKED, b_rs)                                      \
        }                                                                                 \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < GV; v++) {                                                \
                if (full) vstore(c + (long)r * ldc + VL * v, acc[r][v]);                  \
                else vstore_m(c + (long)r * ldc + VL * v, m[v], acc[r][v]);               \
            }                                                                             \
    }

DEFINE_GEMM_TILE(1)
DEFINE_GEMM_TILE(2)
DEFINE_GEMM_TILE(3)
DEFINE_GEMM_TILE(4)
DEFINE_GEMM_TILE(5)
DEFINE_GEMM_TILE(6)

/* Call tile##_mr(args) for mr = min(rows, MAX) (MAX <= 6, a tile shape constant of _simd.h) */
#define TILE_SWITCH(tile, rows, MAX, ...)                                                 \
    switch ((rows) < (MAX) ? (rows) : (MAX)) {                                            \
    case 6: tile##_6(__VA_ARGS__); break;                                                 \
    case 5: tile##_5(__VA_ARGS__); break;                                                 \
    case 4: tile##_4(__VA_ARGS__); break;                                                 \
    case 3: tile##_3(__VA_ARGS__); break;                                                 \
    case 2: tile##_2(__VA_ARGS__); break;                                                 \
    default: tile##_1(__VA_ARGS__); break;                                                \
    }

/* C(rows m0 .. m1-1, panel columns up to ncols) for one depth block: tiles of MR_GEMM rows x
 * GV*VL columns, rows in the outer loop, so that a row tile's A (MR_GEMM x kc) stays in L1
 * across the panel's column tiles. (One column tile per panel on AVX-512; on AVX2 four 16-column
 * tiles, whose B rows are 256 bytes apart: a 16-column B sub-panel of kc rows falls in a quarter
 * of L1's sets, and the columns-outer order, which kept it there across the row tiles, ran the
 * C3 weight-gradient GEMM at 108 GFLOP/s against 121 for this order, 2026-12-06, Intel Xeon
 * family 6 model 207 with AVX2 forced.) */
static void gemm_block(int m0, int m1, int kc, const float *a, long a_rs, long a_cs,
                       const float *bp, long b_rs, float *c, long ldc, int ncols, int accumulate,
                       const float *bias) {
    for (int m = m0; m < m1; m += MR_GEMM)
        for (int sc = 0; sc < ncols; sc += GV * VL) {
            TILE_SWITCH(gemm_tile, m1 - m, MR_GEMM, kc, a + (long)(m - m0) * a_rs, a_rs, a_cs,
                        bp + sc, b_rs, c + (long)(m - m0) * ldc + sc, ldc, ncols - sc,
                        accumulate, bias ? bias + sc : NULL)
        }
}

/* The share of C = A B (+ bias | + C) that thread tid of nth computes.
 * A(M x K) at a[m*a_rs + k*a_cs]. B(K x N): panel p (columns 64p ..) starts at b + p*b_ps and
 * its row k at + k*b_rs — packed: b_ps = 64K, b_rs = 64; a plain row-major matrix with row
 * stride ldb: b_ps = 64, b_rs = ldb. C row-major with row stride ldc. Work items are
 * (panel, block of tune.rb rows), panel-major, split into nth contiguous ranges. A transposed A
 * (a_rs == 1) is instead split by row blocks, each block copied into tile order once per
 * depth block and used against all panels (its rows would otherwise be a whole row apart).
 * Each element of C is one tile lane's sum in k order, whatever the split: thread counts
 * change no bit. */
typedef struct {
    int M, N, K;
    const float *a;
    long a_rs, a_cs;
    const float *b;
    long b_ps, b_rs;
    const float *bias;
    float *c;
    long ldc;
    int beta;
    struct gemm_share *share; /* the threads' shared work counter (gemm_depth_shared), or NULL */
} gemm_args;

/* The depth-outer GEMM's work split at run time (gemm_depth_shared): claimed[d * chunks + r]
 * is set by the thread that takes depth block d of rows chunk r; done[r] counts the depth
 * blocks finished on rows chunk r. */
typedef struct gemm_share {
    atomic_int *claimed;
    atomic_int *done;
    int chunks;
} gemm_share;

/* Copy A(m0 .. m1-1, k0 .. k0+kc-1) of a transposed A (row m of A is column m of the
 * stored matrix) into tile order: abuf[tile][k][r], tile = MR_GEMM rows. */
static void pack_a_block(const gemm_args *g, int m0, int m1, int k0, int kc, float *abuf) {
    for (int k = 0; k < kc; k++) {
        const float *src = g->a + (long)(k0 + k) * g->a_cs + m0;
        for (int m = m0; m < m1; m += MR_GEMM) {
            int mr = m1 - m < MR_GEMM ? m1 - m : MR_GEMM;
            float *dst = abuf + (long)(m - m0) * kc + (long)k * mr;
            for (int r = 0; r < mr; r += VL) {
                const vmask mk = vmask_n(mr - r);
                vstore_m(dst + r, mk, vload_m(src + (m - m0) + r, mk));
            }
        }
    }
}

/* A transposed A, rows outer: this thread's blocks of rows (the rows split into a multiple of
 * nth blocks of at most tune.rbt rows, so that the threads get equal shares); each (rows x kc)
 * block of A is packed once (into L2: its rows would otherwise be a whole row apart) and used
 * against every panel of B (row tiles outer within a panel, as in gemm_block). */
static void gemm_panels(const gemm_args *g, int p0, int p1);

static void gemm_rows_outer(const gemm_args *g, int tid, int nth) {
    const int panels = (g->N + NR - 1) / NR;
    int per = (g->M + nth * tune.rbt - 1) / (nth * tune.rbt); /* blocks per thread */
    int rows = (g->M + nth * per - 1) / (nth * per);
    rows = (rows + MR_GEMM - 1) / MR_GEMM * MR_GEMM;
    const int tblocks = (g->M + rows - 1) / rows;
    const int lo = tblocks * tid / nth, hi = tblocks * (tid + 1) / nth;
    const int kcap = g->K < tune.kc ? (g->K > 0 ? g->K : 1) : tune.kc;
    const size_t abytes = (sizeof(float) * (size_t)rows * kcap + 63) / 64 * 64;
    float *abuf = hi > lo ? aligned_alloc(64, abytes) : NULL;
    if (hi > lo && !abuf) { /* no memory for the block: the panel-major order needs none */
        gemm_args one = *g;
        for (int blk = lo; blk < hi; blk++) {
            int m0 = blk * rows, m1 = m0 + rows < g->M ? m0 + rows : g->M;
            one.M = m1 - m0;
            one.a = g->a + (long)m0 * g->a_rs;
            one.c = g->c + (long)m0 * g->ldc;
            gemm_panels(&one, 0, panels);
        }
        return;
    }
    for (int blk = lo; blk < hi; blk++) {
        int m0 = blk * rows, m1 = m0 + rows < g->M ? m0 + rows : g->M;
        for (int k0 = 0; k0 < g->K || k0 == 0; k0 += tune.kc) {
            int kc = g->K - k0 < tune.kc ? g->K - k0 : tune.kc;
            int accumulate = k0 > 0 || g->beta;
            pack_a_block(g, m0, m1, k0, kc, abuf);
            for (int p = 0; p < panels; p++) {
                int ncols = g->N - p * NR < NR ? g->N - p * NR : NR;
                const float *bias = g->bias ? g->bias + (long)p * NR : NULL;
                const float *bp = g->b + (long)p * g->b_ps + (long)k0 * g->b_rs;
                for (int m = m0; m < m1; m += MR_GEMM)
                    for (int sc = 0; sc < ncols; sc += GV * VL) {
                        int mr = m1 - m < MR_GEMM ? m1 - m : MR_GEMM;
                        TILE_SWITCH(gemm_tile, mr, MR_GEMM, kc, abuf + (long)(m - m0) * kc, 1,
                                    mr, bp + sc, g->b_rs, g->c + (long)m * g->ldc + p * NR + sc,
                                    g->ldc, ncols - sc, accumulate, bias ? bias + sc : NULL)
                    }
            }
            if (g->K == 0) break;
        }
    }
    free(abuf);
}

/* Panel-major: work items (panel, block of tune.rb rows) it0 .. it1-1, A read in place. */
static void gemm_items(const gemm_args *g, long it0, long it1) {
    const int blocks = (g->M + tune.rb - 1) / tune.rb;
    for (long it = it0; it < it1; it++) {
        int p = (int)(it / blocks), blk = (int)(it % blocks);
        int ncols = g->N - p * NR;
        if (ncols > NR) ncols = NR;
        int m0 = blk * tune.rb, m1 = m0 + tune.rb < g->M ? m0 + tune.rb : g->M;
        const float *bpanel = g->b + (long)p * g->b_ps;
        const float *bias = g->bias ? g->bias + (long)p * NR : NULL;
        for (int k0 = 0; k0 < g->K || k0 == 0; k0 += tune.kc) {
            int kc = g->K - k0 < tune.kc ? g->K - k0 : tune.kc;
            int accumulate = k0 > 0 || g->beta;
            gemm_block(m0, m1, kc, g->a + (long)m0 * g->a_rs + (long)k0 * g->a_cs, g->a_rs,
                       g->a_cs, bpanel + (long)k0 * g->b_rs, g->b_rs,
                       g->c + (long)m0 * g->ldc + p * NR, g->ldc, ncols, accumulate, bias);
            if (g->K == 0) break;
        }
    }
}

/* All rows of panels p0 .. p1-1 (panel-major order) */
static void gemm_panels(const gemm_args *g, int p0, int p1) {
    const long blocks = (g->M + tune.rb - 1) / tune.rb;
    gemm_items(g, p0 * blocks, p1 * blocks);
}

/* Rows m0 .. m1-1 of a row-major A, depth k0 .. k0+kc-1, against every panel */
static void gemm_depth_rows(const gemm_args *g, int m0, int m1, int k0, int kc) {
    const int panels = (g->N + NR - 1) / NR;
    for (int p = 0; p < panels; p++) {
        const int ncols = g->N - p * NR < NR ? g->N - p * NR : NR;
        gemm_block(m0, m1, kc, g->a + (long)m0 * g->a_rs + k0, g->a_rs, 1,
                   g->b + (long)p * g->b_ps + (long)k0 * g->b_rs, g->b_rs,
                   g->c + (long)m0 * g->ldc + p * NR, g->ldc, ncols, k0 > 0 || g->beta,
                   g->bias ? g->bias + (long)p * NR : NULL);
    }
}

/* Whether gemm_depth_outer's order serves: tune.depth_outer, a row-major A, and rows enough for
 * a block of tune.rb rows per thread */
static int depth_outer_serves(const gemm_args *g, int nth) {
    return tune.depth_outer && g->a_cs == 1 && g->M >= (long)nth * tune.rb;
}

/* With tune.depth_outer, a row-major A with rows enough for a block of tune.rb rows per thread:
 * this thread's share of the rows (the rows split evenly, in whole tiles), the depth blocks
 * outer, then the thread's blocks of tune.rb rows, then the panels. A is read from memory once (the
 * panel-major order of gemm_items reads it once per panel), and each kc-deep block of B (kc x
 * N) stays in L2 across the thread's row blocks. On an Intel Xeon (family 6 model 207, AVX-512,
 * two threads, 2026-12-06, interleaved medians) this ran the C3 weight-gradient GEMM
 * (2048 x 8192 x 768) at 280 GFLOP/s against 246 and the C3 input gradient at 252 against 224;
 * on the AVX2 path it changed nothing measurable. Off elsewhere: not measured on AMD Zen, whose
 * L2 is half this core's. */
static void gemm_depth_outer(const gemm_args *g, int tid, int nth) {
    const int tiles = (g->M + MR_GEMM - 1) / MR_GEMM;
    const int lo = tiles * tid / nth * MR_GEMM, end = tiles * (tid + 1) / nth * MR_GEMM;
    const int hi = end < g->M ? end : g->M;
    for (int k0 = 0; k0 < g->K || k0 == 0; k0 += tune.kc) {
        const int kc = g->K - k0 < tune.kc ? g->K - k0 : tune.kc;
        for (int m0 = lo; m0 < hi; m0 += tune.rb)
            gemm_depth_rows(g, m0, m0 + tune.rb < hi ? m0 + tune.rb : hi, k0, kc);
        if (g->K == 0) break;
    }
}

/* Depth block d of rows chunk r (tune.rb rows) for every panel, once block d-1 of it is done
 * (by whichever thread took it: a running one, see gemm_depth_shared). */
static void gemm_depth_item(const gemm_args *g, int d, int r) {
    gemm_share *sh = g->share;
    for (int spins = 0; atomic_load_explicit(&sh->done[r], memory_order_acquire) < d; spins++)
        if (spins > 4000) sched_yield();
    const int k0 = d * tune.kc, m0 = r * tune.rb;
    gemm_depth_rows(g, m0, m0 + tune.rb < g->M ? m0 + tune.rb : g->M, k0,
                    g->K - k0 < tune.kc ? g->K - k0 : tune.kc);
    atomic_store_explicit(&sh->done[r], d + 1, memory_order_release);
}

/* The k-th (0 <= k < n) of n work items in the order thread tid of nth tries to claim them:
 * its own equal share front to back, then each other thread's share (the next thread's first)
 * from its end — so that two threads meet in the middle of the slower one's share. The one
 * claiming order of gemm_depth_shared and lstm_fwd_units_shared. */
static int claim_order(int k, int tid, int nth, int n) {
    for (int j = 0; j < nth; j++) {
        const int owner = (tid + j) % nth, lo = n * owner / nth, hi = n * (owner + 1) / nth;
        if (k < hi - lo) return j == 0 ? lo + k : hi - 1 - k;
        k -= hi - lo;
    }
    return n - 1; /* not reached: the shares cover 0 .. n-1 */
}

/* gemm_depth_outer's order with work taken at run time: in each depth block a thread does the
 * unclaimed chunks of its own equal share of the rows chunks, front to back, then those still
 * unclaimed in the others' shares, back to front. Where the two vCPUs run at one speed, each
 * does its own share as with equal shares (its rows of C stay in its cache); where one runs
 * slower for a while (a busy hyperthread sibling on a shared host), the other takes the end of
 * its share. A thread leaves a depth block only when every chunk of it is claimed, so a wait for
 * block d-1 of a chunk is a wait for a running thread. */
static void gemm_depth_shared(const gemm_args *g, int tid, int nth) {
    gemm_share *sh = g->share;
    const int blocks = g->K ? (g->K + tune.kc - 1) / tune.kc : 1, n = sh->chunks;
    for (int d = 0; d < blocks; d++) {
        atomic_int *claimed = sh->claimed + (long)d * n;
        for (int k = 0; k < n; k++) {
            const int r = claim_order(k, tid, nth, n);
            if (!atomic_exchange_explicit(&claimed[r], 1, memory_order_relaxed))
                gemm_depth_item(g, d, r);
        }
    }
}

static void gemm_part(const gemm_args *g, int tid, int nth) {
    const int panels = (g->N + NR - 1) / NR;
    if (g->share) {
        gemm_depth_shared(g, tid, nth);
        return;
    }
    if (g->a_rs == 1 && g->a_cs != 1 && g->M >= nth * MR_GEMM) {
        gemm_rows_outer(g, tid, nth);
        return;
    }
    if (depth_outer_serves(g, nth)) {
        gemm_depth_outer(g, tid, nth);
        return;
    }
    const long items = (long)panels * ((g->M + tune.rb - 1) / tune.rb);
    gemm_items(g, items * tid / nth, items * (tid + 1) / nth);
}

static void gemm_worker(void *ctx, int tid, int nth) { gemm_part((const gemm_args *)ctx, tid, nth); }

/* ---------------------------------------------------------------- LSTM forward
 * One step for rows r0 .. r0+mr-1 and units 16p .. 16p+15:
 *   a = x_t W_ih^T + b + h_{t-1} W_hh^T   (accumulators start from the input projection)
 *   i, f, o = σ(a_i, a_f, a_o)   g = tanh a_g
 *   c_t = f c_{t-1} + i g        h_t = o tanh c_t
 *   masked rows (mask[t, b] == 0) carry h_{t-1}, c_{t-1}. */
typedef struct {
    int T, B, H, I;
    const float *x;      /* (T, B, I), or (B, T, I) when batch-major */
    const float *wip;    /* packed W_ih^T, gate-interleaved like wp: [H/16][I][64] */
    const float *bias;   /* (4H) b_ih + b_hh, gate-interleaved */
    const float *gin;    /* x W_ih^T + b computed before the call for all steps, laid out like
                            x, or NULL: each tile accumulates b + x_t W_ih^T itself */
    const float *wp;     /* packed W_hh^T: [H/16][H][64] */
    const float *h0;     /* (B, H) */
    const float *c0;     /* (B, H) */
    float *hs;           /* (T, B, H), or (B, T, H) when batch-major */
    float *cs;           /* (T, B, H) when cs_t = B*H; (B, H) updated in place when cs_t = 0 */
    long cs_t;
    float *acts;         /* (T, B, 4H) torch order, or NULL */
    float *tcs;          /* (T, B, H), or NULL */
    const uint8_t *mask; /* (T, B), or (B, T) when batch-major, or NULL */
    long ts, rs;         /* element strides of step t and batch row b in x, gin, hs and mask,
                            per feature: x[t, b] at x + (t*ts + b*rs) * I, hs[t, b] at
                            hs + (t*ts + b*rs) * H, mask[t, b] at mask[t*ts + b*rs] */
    step_barrier *bar;   /* the threads split the units of every step (lstm_fwd_units_worker),
                            or NULL: they split the rows (lstm_fwd_worker) */
    float *xg, *hg;      /* this thread's copy of step t's rows of x_t (B x I) and h_{t-1}
                            (B x H), read by the tiles instead of x and h_{t-1}, or NULL */
    int acts_nt;         /* store acts with streaming stores (see py_lstm_forward) */
    atomic_int *claimed; /* under the units split with tune.dynamic_split: claimed[p] == t + 1
                            once a thread took panel p of step t (lstm_fwd_units_shared), or
                            NULL: each thread runs its own panels */
} lstm_fwd_args;

/* The cell update of rows r0 .. r0+mr-1, units u .. u+VL-1, from the gate sums acc[r][0..3]
 * (in scope: s, t, r0, u, B, H, G, ts, rs, h_prev, hp_rs, c_prev, c_out). */
#define LSTM_CELL_UPDATE(mr)                                                              \
    for (int r = 0; r < (mr); r++) {                                                      \
        const long b = r0 + r, off = b * H + u;                                           \
        vf i = vsigmoid(acc[r][0]), f = vsigmoid(acc[r][1]);                              \
        vf g = vtanh(acc[r][2]), o = vsigmoid(acc[r][3]);                                 \
        vf cp = vload(c_prev + off);                                                      \
        vf cn = vfma(f, cp, vmul(i, g));                                                  \
        vf tc = vtanh(cn);                                                                \
        vf h = vmul(o, tc);                                                               \
        if (s->mask && !s->mask[t * ts + b * rs]) {                                       \
            h = vload(h_prev + b * hp_rs + u);                                            \
            cn = cp;                                                                      \
        }                                                                                 \
        vstore(s->hs + (t * ts + b * rs) * H + u, h);                                     \
        vstore(c_out + off, cn);                                                          \
        if (s->tcs) vstore(s->tcs + (long)t * B * H + off, tc);                           \
        if (s->acts) {                                                                    \
            float *ac = s->acts + ((long)t * B + b) * G + u;                              \
            vput(ac, i, s->acts_nt);                                                      \
            vput(ac + H, f, s->acts_nt);                                                  \
            vput(ac + 2L * H, g, s->acts_nt);                                             \
            vput(ac + 3L * H, o, s->acts_nt);                                             \
        }                                                                                 \
    }

/* The step's state pointers (in scope: s, t) */
#define LSTM_STEP_STATE                                                                   \
    const int B = s->B, H = s->H;                                                         \
    const long G = 4L * H, ts = s->ts, rs = s->rs;                                        \
    const float *h_prev = t ? s->hs + (t - 1) * ts * H : s->h0;                           \
    const long hp_rs = t ? rs * H : H; /* row stride of h_prev */                         \
    const float *c_prev = t ? s->cs + (long)(t - 1) * s->cs_t : s->c0;                    \
    float *c_out = s->cs + (long)t * s->cs_t;                                             \
    (void)B;                                                                              \
    (void)G;                                                                              \
    (void)c_prev;                                                                         \
    (void)c_out;

/* The gate sums' start: x W_ih^T + b computed before the call (gin), or the bias */
#define LSTM_ACC_START(mr)                                                                \
    if (s->gin) {                                                                         \
        const float *gin = s->gin + (t * ts + r0 * rs) * G + (long)p * NR + VL * c;       \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < 4; v++) acc[r][v] = vload(gin + r * rs * G + 16 * v);     \
    } else {                                                                              \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < 4; v++)                                                   \
                acc[r][v] = vload(s->bias + (long)p * NR + VL * c + 16 * v);              \
    }

#define DEFINE_LSTM_FWD_TILE(mr)                                                          \
    static void lstm_fwd_tile_##mr(const lstm_fwd_args *s, int t, int r0, int p, int c) {  \
        LSTM_STEP_STATE                                                                   \
        const long u = 16L * p + VL * c; /* units u .. u+VL-1 */                          \
        vf acc[mr][4];                                                                    \
        const long a_cs = 1;                                                              \
        LSTM_ACC_START(mr)                                                                \
        if (!s->gin) { /* a = b + x_t W_ih^T, then + h W_hh^T below, in the same registers */ \
            const int kc = s->I;                                                          \
            const float *a = s->xg ? s->xg + (long)r0 * kc : s->x + (t * ts + r0 * rs) * kc; \
            const float *bp = s->wip + (long)p * kc * NR + VL * c;                        \
            const long a_rs = s->xg ? kc : rs * kc;                                       \
            TILE_LOOP(mr, 4, 16, LOAD_PLAIN, NR)                                          \
        }                                                                                 \
        const int kc = H;                                                                 \
        const float *a = s->hg ? s->hg + (long)r0 * H : h_prev + r0 * hp_rs;               \
        const float *bp = s->wp + (long)p * H * NR + VL * c;                              \
        const long a_rs = s->hg ? H : hp_rs;                                              \
        TILE_LOOP(mr, 4, 16, LOAD_PLAIN, NR)                                              \
        LSTM_CELL_UPDATE(mr)                                                              \
    }

/* The same step with the depth in blocks (tune.kb_lstm > 0; KB_LSTM by default on the narrower
 * paths): one call adds
 * depth k0 .. k1-1 of the x part (x_part) or of the h part to the gate sums of rows r0 ..
 * r0+mr-1 kept in buf (row r0 + r at buf + r*4*VL; first: start them), and with last, applies
 * the cell update. All row tiles of a block run before the next block, so the block's packed
 * weights stay in L1 across them: a whole gate group's ((I + H) x 4 cache lines) would not fit,
 * and a VL-unit chunk uses half of each line it loads. Same sums in the same order as
 * lstm_fwd_tile: the same bits. */
#define DEFINE_LSTM_FWD_PART(mr)                                                          \
    static void lstm_fwd_part_##mr(const lstm_fwd_args *s, int t, int r0, int p, int c,   \
                                   int x_part, int k0, int k1, int first, int last,       \
                                   float *buf) {                                          \
        LSTM_STEP_STATE                                                                   \
        const long u = 16L * p + VL * c;                                                  \
        vf acc[mr][4];                                                                    \
        const long a_cs = 1;                                                              \
        if (first) {                                                                      \
            LSTM_ACC_START(mr)                                                            \
        } else {                                                                          \
            for (int r = 0; r < (mr); r++)                                                \
                for (int v = 0; v < 4; v++) acc[r][v] = vload(buf + (r * 4 + v) * VL);    \
        }                                                                                 \
        const int kc = k1 - k0;                                                           \
        if (x_part) {                                                                     \
            const float *a = (s->xg ? s->xg + (long)r0 * s->I                             \
                                    : s->x + (t * ts + r0 * rs) * s->I) + k0;             \
            const float *bp = s->wip + ((long)p * s->I + k0) * NR + VL * c;               \
            const long a_rs = s->xg ? s->I : rs * s->I;                                   \
            TILE_LOOP(mr, 4, 16, LOAD_PLAIN, NR)                                          \
        } else if (kc > 0) {                                                              \
            const float *a = (s->hg ? s->hg + (long)r0 * H : h_prev + r0 * hp_rs) + k0;    \
            const float *bp = s->wp + ((long)p * H + k0) * NR + VL * c;                   \
            const long a_rs = s->hg ? H : hp_rs;                                          \
            TILE_LOOP(mr, 4, 16, LOAD_PLAIN, NR)                                          \
        }                                                                                 \
        if (last) {                                                                       \
            LSTM_CELL_UPDATE(mr)                                                          \
        } else {                                                                          \
            for (int r = 0; r < (mr); r++)                                                \
                for (int v = 0; v < 4; v++) vstore(buf + (r * 4 + v) * VL, acc[r][v]);    \
        }                                                                                 \
    }

DEFINE_LSTM_FWD_PART(1)
DEFINE_LSTM_FWD_PART(2)
DEFINE_LSTM_FWD_PART(3)
DEFINE_LSTM_FWD_PART(4)
DEFINE_LSTM_FWD_PART(5)
DEFINE_LSTM_FWD_PART(6)

DEFINE_LSTM_FWD_TILE(1)
DEFINE_LSTM_FWD_TILE(2)
DEFINE_LSTM_FWD_TILE(3)
DEFINE_LSTM_FWD_TILE(4)
DEFINE_LSTM_FWD_TILE(5)
DEFINE_LSTM_FWD_TILE(6)

/* ---------------------------------------------------------------- GRU forward
 * Per step t, for batch rows b (torch.nn.GRU's variant; xp = W_ih x_t + b_ih with b_hr, b_hz
 * folded in, computed for all steps before the call):
 *   [a_r, a_z, q'] = h W_hh^T (one register tile: 3 gates x VL units x MR_GRU rows)
 *   r = σ(xp_r + a_r)   z = σ(xp_z + a_z)   q = q' + b_hn   n = tanh(xp_n + r q)
 *   h' = n + z (h - n)                      masked rows carry h. */
typedef struct {
    int T, B, H;
    const float *xp;     /* (T, B, 3H) */
    const float *wp;     /* W_hh^T packed gate-interleaved: [H/16][H][48] */
    const float *b_hn;   /* (H) */
    const float *h0;     /* (B, H) */
    float *hs;           /* (T, B, H) */
    float *gates;        /* (T, B, 3H) r, z, n, or NULL */
    float *hn;           /* (T, B, H) q, or NULL */
    const uint8_t *mask; /* (T, B), or NULL */
} gru_fwd_args;

#define DEFINE_GRU_FWD_TILE(mr)                                                           \
    static void gru_fwd_tile_##mr(const gru_fwd_args *s, int t, int r0, int p, int c) {   \
        const int B = s->B, H = s->H, kc = H;                                             \
        const long G = 3L * H, a_rs = H, a_cs = 1;                                        \
        const float *h_prev = t ? s->hs + (long)(t - 1) * B * H : s->h0;                  \
        vf acc[mr][3];                                                                    \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < 3; v++) acc[r][v] = vzero();                              \
        const float *a = h_prev + (long)r0 * H, *bp = s->wp + (long)p * H * 48 + VL * c;  \
        TILE_LOOP(mr, 3, 16, LOAD_PLAIN, 48)                                              \
        const long u = 16L * p + VL * c;                                                  \
        const vf bn = vload(s->b_hn + u);                                                 \
        for (int r = 0; r < (mr); r++) {                                                  \
            const long b = r0 + r, off = b * H + u;                                       \
            const float *xr = s->xp + ((long)t * B + b) * G + u;                          \
            vf rg = vsigmoid(vadd(vload(xr), acc[r][0]));                                 \
            vf zg = vsigmoid(vadd(vload(xr + H), acc[r][1]));                             \
            vf q = vadd(acc[r][2], bn);                                                   \
            vf ng = vtanh(vfma(rg, q, vload(xr + 2L * H)));                               \
            vf hp = vload(h_prev + off);                                                  \
            vf h = vfma(zg, vsub(hp, ng), ng);                                            \
            if (s->mask && !s->mask[(long)t * B + b]) h = hp;                             \
            vstore(s->hs + (long)t * B * H + off, h);                                     \
            if (s->gates) {                                                               \
                float *g = s->gates + ((long)t * B + b) * G + u;                          \
                vstore(g, rg);                                                            \
                vstore(g + H, zg);                                                        \
                vstore(g + 2L * H, ng);                                                   \
            }                                                                             \
            if (s->hn) vstore(s->hn + (long)t * B * H + off, q);                          \
        }                                                                                 \
    }

DEFINE_GRU_FWD_TILE(1)
DEFINE_GRU_FWD_TILE(2)
DEFINE_GRU_FWD_TILE(3)
DEFINE_GRU_FWD_TILE(4)
DEFINE_GRU_FWD_TILE(5)
DEFINE_GRU_FWD_TILE(6)

/* The forward time loops of the fused cells: this thread's batch rows lo .. hi-1 (see
 * lstm_fwd_worker for why rows), every step, every 16-unit panel and VL-unit chunk of it, in
 * tiles of up to MAX rows. */
#define ROW_TILE_TIME_LOOP(tile, MAX, s, lo, hi)                                          \
    for (int t = 0; t < (s)->T; t++)                                                      \
        for (int p = 0; p < (s)->H / 16; p++)                                             \
            for (int c = 0; c < CHUNKS; c++)                                              \
                for (int r0 = (lo); r0 < (hi); r0 += (MAX)) {                             \
                    TILE_SWITCH(tile, (hi) - r0, MAX, s, t, r0, p, c)                     \
                }

static void gru_fwd_worker(void *ctx, int tid, int nth) {
    gru_fwd_args *s = (gru_fwd_args *)ctx;
    const int lo = s->B * tid / nth, hi = s->B * (tid + 1) / nth;
    ROW_TILE_TIME_LOOP(gru_fwd_tile, MR_GRU, s, lo, hi)
}

/* One step t of rows lo .. hi-1 and 16-unit panels p0 .. p1-1: whole-depth tiles, or with
 * tune.kb_lstm > 0 depth blocks [x part (unless gin) | h part] whose gate sums wait in buf
 * (4 VL floats per row), the block's packed weights staying in L1 across the row tiles. */
static void lstm_fwd_step(const lstm_fwd_args *s, int t, int lo, int hi, int p0, int p1,
                          float *buf) {
    for (int p = p0; p < p1; p++)
        for (int c = 0; c < CHUNKS; c++) {
            if (!buf) {
                for (int r0 = lo; r0 < hi; r0 += MR_LSTM) {
                    TILE_SWITCH(lstm_fwd_tile, hi - r0, MR_LSTM, s, t, r0, p, c)
                }
                continue;
            }
            int first = 1;
            for (int x_part = s->gin ? 0 : 1; x_part >= 0; x_part--) {
                const int depth = x_part ? s->I : s->H, kb = tune.kb_lstm;
                for (int k0 = 0; k0 < depth || (k0 == 0 && !x_part); k0 += kb) {
                    const int k1 = depth - k0 < kb ? depth : k0 + kb;
                    const int last = !x_part && k1 >= depth;
                    for (int r0 = lo; r0 < hi; r0 += MR_LSTM) {
                        TILE_SWITCH(lstm_fwd_part, hi - r0, MR_LSTM, s, t, r0, p, c, x_part, k0,
                                    k1, first, last, buf + (long)(r0 - lo) * 4 * VL)
                    }
                    first = 0;
                    if (last) break;
                }
            }
        }
}

/* The sums buffer of the depth-blocked step for `rows` rows, or NULL (whole-depth tiles: no
 * blocking asked, or no memory for the sums) */
static float *lstm_fwd_buf(int rows) {
    return tune.kb_lstm > 0 && rows > 0 ? malloc(sizeof(float) * 4 * VL * (size_t)rows) : NULL;
}

/* With tune.gather_rows, a batch-major loop (rows T steps apart) reads step t's rows of x_t and
 * h_{t-1} from a contiguous copy per thread (lstm_fwd_gather): rows 4 KiB-multiples apart
 * share L1 sets and a page each. Returns the thread's args (the copy's pointers set; the
 * caller frees loc->xg), or s itself when there is nothing to gather or no memory. */
static const lstm_fwd_args *lstm_fwd_local(const lstm_fwd_args *s, lstm_fwd_args *loc) {
    if (!tune.gather_rows || s->rs == 1 || s->T < 2) return s;
    const size_t n = (size_t)s->B * ((s->gin ? 0 : s->I) + s->H);
    float *buf = malloc(sizeof(float) * (n ? n : 1));
    if (!buf) return s;
    *loc = *s;
    loc->xg = s->gin ? NULL : buf;
    loc->hg = buf + (s->gin ? 0 : (size_t)s->B * s->I);
    return loc;
}

/* Copy step t's rows lo .. hi-1 of x_t (unless the projection was computed first) and of
 * h_{t-1} into the thread's buffers (row b at xg + b*I, hg + b*H) */
static void lstm_fwd_gather(const lstm_fwd_args *s, int t, int lo, int hi) {
    LSTM_STEP_STATE
    if (s->xg) copy_rows(s->xg, s->I, s->x + t * ts * s->I, rs * s->I, lo, hi, s->I, 0);
    copy_rows(s->hg, H, h_prev, hp_rs, lo, hi, H, 0);
}

/* Rows of the batch never interact, so each thread can own a contiguous range of rows for the
 * whole sequence and run it with no barrier: it reads only its own rows of h_{t-1}, and the
 * packed weights (read-only) sit in every core's cache — when they fit in it: each thread
 * streams all of them every step. */
static void lstm_fwd_worker(void *ctx, int tid, int nth) {
    lstm_fwd_args loc;
    const lstm_fwd_args *s = lstm_fwd_local((const lstm_fwd_args *)ctx, &loc);
    const int lo = s->B * tid / nth, hi = s->B * (tid + 1) / nth;
    float *buf = lstm_fwd_buf(hi - lo);
    for (int t = 0; t < s->T; t++) {
        if (s->hg) lstm_fwd_gather(s, t, lo, hi);
        lstm_fwd_step(s, t, lo, hi, 0, s->H / 16, buf);
    }
    vsfence(); /* the streaming stores of acts are visible before the threads join */
    free(buf);
    if (s == &loc) free(loc.xg ? loc.xg : loc.hg);
}

/* Step t's panels taken at run time (tune.dynamic_split): a thread runs its own panels front
 * to back, then the others' not yet taken from their ends (claim_order), each panel by
 * whichever thread claims it first (claimed[p]: t before step t, t + 1 once taken). Where one
 * vCPU runs slower for a while (a busy hyperthread sibling), the other takes over the end of its
 * share instead of waiting at the step's barrier; in calm spells each thread runs its own
 * share, whose weights its cache holds. A panel's sums are the same whichever thread computes
 * them. */
static void lstm_fwd_units_shared(const lstm_fwd_args *s, int t, int tid, int nth, float *buf) {
    const int P = s->H / 16;
    for (int k = 0; k < P; k++) {
        const int p = claim_order(k, tid, nth, P);
        int expected = t;
        if (atomic_compare_exchange_strong_explicit(&s->claimed[p], &expected, t + 1,
                                                    memory_order_relaxed, memory_order_relaxed))
            lstm_fwd_step(s, t, 0, s->B, p, p + 1, buf);
    }
}

/* The units split: each thread owns a range of 16-unit panels for the whole sequence, all
 * rows, so it streams only its share of the packed weights every step (which may then stay in
 * its core's L2 across steps); a barrier per step, since step t + 1 reads all of h_t. */
static void lstm_fwd_units_worker(void *ctx, int tid, int nth) {
    lstm_fwd_args loc;
    const lstm_fwd_args *s = lstm_fwd_local((const lstm_fwd_args *)ctx, &loc);
    const int P = s->H / 16, p0 = P * tid / nth, p1 = P * (tid + 1) / nth;
    float *buf = lstm_fwd_buf(s->B);
    for (int t = 0; t < s->T; t++) {
        if (s->hg) lstm_fwd_gather(s, t, 0, s->B);
        if (s->claimed && nth > 1)
            lstm_fwd_units_shared(s, t, tid, nth, buf);
        else
            lstm_fwd_step(s, t, 0, s->B, p0, p1, buf);
        if (nth > 1) barrier_wait(s->bar); /* nth is 1 if the system refused a thread */
    }
    vsfence(); /* the streaming stores of acts are visible before the threads join */
    free(buf);
    if (s == &loc) free(loc.xg ? loc.xg : loc.hg);
}

/* ---------------------------------------------------------------- LSTM backward
 * Per step t = T-1 .. 0, with dh, dc the gradients arriving at h_t, c_t:
 *   dh += d_out[t]
 *   dc_cell = dc + dh o (1 - tanh² c_t)
 *   δi = dc_cell g i(1-i)   δf = dc_cell c_{t-1} f(1-f)   δg = dc_cell i (1-g²)
 *   δo = dh tanh c_t o(1-o)                               → d_pre[t] (torch gate order)
 *   dc ← dc_cell f          dh ← δ W_hh                   (one GEMM over all 4H gates)
 * Masked rows pass dh, dc through unchanged and get δ = 0. */
typedef struct {
    int T, B, H;
    const float *acts;  /* (T, B, 4H) torch order */
    const float *cs;    /* (T, B, H) */
    const float *c0;    /* (B, H) */
    const float *tcs;   /* (T, B, H) tanh c_t, or NULL: recomputed from cs */
    const float *d_out; /* (T, B, H), or (B, T, H) when batch-major, or NULL */
    const float *wp;    /* packed W_hh (4H x H): [H/64][4H][64] */
    const uint8_t *mask; /* (T, B), or (B, T) when batch-major */
    float *dh, *dc;     /* (B, H) in: gradients at the final states; out: at the initial */
    float *d_pre;       /* (T, B, 4H), or (B, T, 4H) when batch-major */
    float *d_pre_t;     /* (4H, ldt): δ transposed, column t*B + b; or NULL */
    long ldt;
    float *dbias;       /* (B, 4H) zeros in; row b gets Σ_t δ of batch row b (summed in step
                           order by whichever thread owns the row: thread counts change no bit) */
    long ts, rs;        /* strides of step t and row b in d_out, d_pre and mask, per feature,
                           as in lstm_fwd_args; acts, cs and tcs are time-major either way */
    step_barrier *bar;  /* the units split (lstm_bwd_units_worker), or NULL: the rows split */
    float *dloc;        /* with tune.gather_rows and a batch-major d_pre: two (B, 4H) buffers
                           for δ_t (step t in the (t & 1)-th), which the cells write, the GEMM
                           and the transpose read, and which is then copied to d_pre (unless
                           dx is computed in the loop: then nothing reads d_pre); or NULL */
    const float *wxp;   /* packed W_ih (4H x I): [I/64][4H][64], or NULL: dx is not computed */
    float *dx;          /* with wxp: dx_t = δ_t W_ih for every step, laid out as d_out (per
                           feature I) */
    int I;
} lstm_bwd_args;

/* Where δ of step t, row 0 is, and the row stride: the contiguous step buffer, or d_pre (rows
 * of a batch-major d_pre are T steps apart: 2^k-multiples of 4 KiB at the bench's shapes, which
 * share L1 and L2 sets, so the per-step GEMM re-reads its A rows from L3) */
static float *delta_rows(const lstm_bwd_args *s, int t, long *lds) {
    const long G = 4L * s->H;
    *lds = s->dloc ? G : s->rs * G;
    return s->dloc ? s->dloc + (long)(t & 1) * s->B * G : s->d_pre + t * s->ts * G;
}

/* Copy δ_t of rows lo .. hi-1, gate columns g0 .. g1-1 from the step buffer to d_pre */
static void delta_copy_out(const lstm_bwd_args *s, int t, int lo, int hi, long g0, long g1) {
    if (!s->dloc || s->dx) return;
    long lds;
    const float *src = delta_rows(s, t, &lds);
    const long G = 4L * s->H; /* d_pre is read after the loop (dx): streaming stores may serve */
    copy_rows(s->d_pre + t * s->ts * G + g0, s->rs * G, src + g0, lds, lo, hi, g1 - g0,
              tune.stream_stores);
}

/* Pack Wᵀ with its columns picked: out[p][k][j] = w[cols[64p + j]][k] (w: R x K row-major),
 * columns past n zero. 16 source rows x 16 k at a time through the block transpose: one pass,
 * where NumPy needs a gather and a transposing copy (the LSTM's packed forward weights,
 * rebuilt after every optimizer step). Partial blocks go through a zero-padded copy. */
static void pack_transposed(const float *w, long K, const int64_t *cols, long n, float *out) {
    const long panels = (n + NR - 1) / NR;
    float tmp[16 * 16] __attribute__((aligned(64)));
    float tr[16 * 16] __attribute__((aligned(64)));
    for (long p = 0; p < panels; p++)
        for (long j0 = 0; j0 < NR; j0 += 16) {
            const float *rows[16];
            int whole = 1;
            for (int i = 0; i < 16; i++) {
                long j = p * NR + j0 + i;
                rows[i] = j < n ? w + cols[j] * K : NULL;
                whole &= rows[i] != NULL;
            }
            for (long k0 = 0; k0 < K; k0 += 16) {
                const long kc = K - k0 < 16 ? K - k0 : 16;
                float *dst = out + (p * K + k0) * NR + j0;
                if (whole && kc == 16) {
                    const float *src[16];
                    for (int i = 0; i < 16; i++) src[i] = rows[i] + k0;
                    transpose16_rows(src, dst, NR, 0);
                    continue;
                }
                for (int i = 0; i < 16; i++) {
                    memset(tmp + 16 * i, 0, sizeof(float) * 16);
                    if (rows[i]) memcpy(tmp + 16 * i, rows[i] + k0, sizeof(float) * (size_t)kc);
                }
                transpose16(tmp, 16, tr, 16, 0); /* tr[kk] = k0 + kk of the 16 rows */
                for (long kk = 0; kk < kc; kk++) memcpy(dst + kk * NR, tr + 16 * kk, sizeof(float) * 16);
            }
        }
}

/* δ_t of rows lo .. hi-1, gate columns g0 .. g1-1 (multiples of 16), also into d_pre_t
 * (column t*B + b), 16 x 16 blocks at a time, so
 * that the weight gradients δᵀ [x | h] become a GEMM whose A rows are contiguous. */
static void transpose_deltas(const lstm_bwd_args *s, int t, int lo, int hi, long g0, long g1) {
    const long col0 = (long)t * s->B;
    long lds;
    const float *src = delta_rows(s, t, &lds); /* δ of (t, row 0) */
    for (long g = g0; g < g1; g += 16) {
        int b = lo;
        for (; b + 16 <= hi; b += 16)
            transpose16(src + b * lds + g, lds, s->d_pre_t + g * s->ldt + col0 + b, s->ldt, 1);
        for (; b < hi; b++)
            for (long j = 0; j < 16; j++)
                s->d_pre_t[(g + j) * s->ldt + col0 + b] = src[b * lds + g + j];
    }
}

/* Store the four gate δ's of (row, units u .. u+15) and add them to the thread's bias-gradient
 * sums db (the bias gradient is Σ δ over rows and steps: summed here, while δ is in registers,
 * instead of by a pass over all of δ afterwards). */
static inline void store_deltas(const lstm_bwd_args *s, float *dp, float *db, vf di,
                                       vf df, vf dg, vf d_o) {
    const long H = s->H;
    vstore(dp, di);
    vstore(dp + H, df);
    vstore(dp + 2 * H, dg);
    vstore(dp + 3 * H, d_o);
    if (db) {
        vstore(db, vadd(vload(db), di));
        vstore(db + H, vadd(vload(db + H), df));
        vstore(db + 2 * H, vadd(vload(db + 2 * H), dg));
        vstore(db + 3 * H, vadd(vload(db + 3 * H), d_o));
    }
}

/* The cell part of backward step t for rows lo .. hi-1 and units u0 .. u1-1: δ_t into d_pre
 * (and the bias sums), dc carried to step t-1, and dh set up for the GEMM dh += δ_t W_hh: 0,
 * or carried unchanged by masked rows (whose δ is 0). */
static void lstm_bwd_cells(const lstm_bwd_args *s, int t, int lo, int hi, long u0, long u1) {
    const int B = s->B, H = s->H;
    const long G = 4L * H, ts = s->ts, rs = s->rs;
    const vf one = vset1(1.0f);
    long lds;
    float *delta = delta_rows(s, t, &lds); /* δ of (t, row 0) */
    for (long b = lo; b < hi; b++)
        for (long u = u0; u < u1; u += VL) {
            const long off = b * H + u, boff = (long)t * B * H + off;
            const float *ac = s->acts + ((long)t * B + b) * G + u;
            float *dp = delta + b * lds + u;
            vf dh = vload(s->dh + off);
            if (s->d_out) dh = vadd(dh, vload(s->d_out + (t * ts + b * rs) * H + u));
            if (s->mask && !s->mask[t * ts + b * rs]) {
                vf z = vzero();
                store_deltas(s, dp, NULL, z, z, z, z);
                vstore(s->dh + off, dh); /* carried; the GEMM adds δ W_hh = 0 */
                continue;
            }
            vf i = vload(ac), f = vload(ac + H);
            vf gg = vload(ac + 2 * H), o = vload(ac + 3 * H);
            /* tanh c_t: stored by the forward, or recomputed (cheaper than its memory traffic) */
            vf tc = s->tcs ? vload(s->tcs + boff) : vtanh(vload(s->cs + boff));
            vf cp = vload(t ? s->cs + boff - (long)B * H : s->c0 + off);
            vf dc = vload(s->dc + off);
            dc = vfma(vmul(dh, o), vfnma(tc, tc, one), dc);
            store_deltas(s, dp, s->dbias + b * G + u, vmul(vmul(dc, gg), vmul(i, vsub(one, i))),
                         vmul(vmul(dc, cp), vmul(f, vsub(one, f))),
                         vmul(vmul(dc, i), vfnma(gg, gg, one)),
                         vmul(vmul(dh, tc), vmul(o, vsub(one, o))));
            vstore(s->dc + off, vmul(dc, f));
            vstore(s->dh + off, vzero());
        }
}

/* dx_t = δ_t W_ih: the GEMM of rows lo .. hi-1 (δ_t at a, row stride a_rs), panels p0 .. p1-1
 * of dx's I columns, while δ_t is in cache (after the loop, dx = δ W_ih would read all of δ
 * from memory again, and the batch-major loop would first copy δ out to d_pre for it). */
static void lstm_bwd_dx(const lstm_bwd_args *s, int t, int lo, int hi, int p0, int p1,
                        const float *a, long a_rs) {
    const long G = 4L * s->H, I = s->I;
    gemm_args g = {hi - lo, (int)I, (int)G, a + lo * a_rs, a_rs, 1, s->wxp, G * NR, NR, NULL,
                   s->dx + (t * s->ts + lo * s->rs) * I, s->rs * I, 0};
    if (hi > lo && p1 > p0) gemm_panels(&g, p0, p1);
}

/* As in the forward, each thread can own a range of rows: no barriers (see lstm_fwd_worker),
 * but each streams all of the packed W_hh (and W_ih, for dx) every step. */
static void lstm_bwd_worker(void *ctx, int tid, int nth) {
    lstm_bwd_args *s = (lstm_bwd_args *)ctx;
    const int B = s->B, H = s->H;
    const long G = 4L * H;
    const int lo = B * tid / nth, hi = B * (tid + 1) / nth;
    gemm_args g = {hi - lo, H, (int)G, NULL, s->rs * G, 1, s->wp, G * NR, NR, NULL,
                   s->dh + (long)lo * H, H, 1};
    for (int t = s->T - 1; t >= 0; t--) {
        lstm_bwd_cells(s, t, lo, hi, 0, H);
        long lds;
        const float *delta = delta_rows(s, t, &lds);
        g.a = delta + lo * lds;
        g.a_rs = lds;
        if (hi > lo) gemm_part(&g, 0, 1); /* dh += δ_t W_hh for this thread's rows */
        if (s->wxp) lstm_bwd_dx(s, t, lo, hi, 0, (s->I + NR - 1) / NR, delta, lds);
        if (s->d_pre_t) transpose_deltas(s, t, lo, hi, 0, G);
        delta_copy_out(s, t, lo, hi, 0, G);
    }
    vsfence(); /* the streaming stores of d_pre_t are visible before the threads join */
}

/* The units split: each thread owns a range of 64-unit panels of dh (the packed W_hh's panels)
 * and those units' δ, for all rows, so it streams only its share of W_hh every step; a barrier
 * between δ_t and the GEMM, which reads all of δ_t. Step t-1's cell part touches only this
 * thread's units of dh, dc, d_pre[t-1]: no second barrier. */
static void lstm_bwd_units_worker(void *ctx, int tid, int nth) {
    lstm_bwd_args *s = (lstm_bwd_args *)ctx;
    const int B = s->B, H = s->H, P = (H + NR - 1) / NR;
    const long G = 4L * H;
    const int p0 = P * tid / nth, p1 = P * (tid + 1) / nth;
    const long u0 = (long)p0 * NR, u1 = (long)p1 * NR < H ? (long)p1 * NR : H;
    gemm_args g = {B, H, (int)G, NULL, 0, 1, s->wp, G * NR, NR, NULL, s->dh, H, 1};
    for (int t = s->T - 1; t >= 0; t--) {
        lstm_bwd_cells(s, t, 0, B, u0, u1);
        if (nth > 1) barrier_wait(s->bar); /* nth is 1 if the system refused a thread */
        g.a = delta_rows(s, t, &g.a_rs);
        if (p1 > p0) gemm_panels(&g, p0, p1); /* dh[:, units] += δ_t W_hh[:, units] */
        if (s->wxp) { /* dx_t's panels split as dh's are */
            const int PI = (s->I + NR - 1) / NR;
            lstm_bwd_dx(s, t, 0, B, PI * tid / nth, PI * (tid + 1) / nth, g.a, g.a_rs);
        }
        for (long q = 0; q < 4; q++) {
            if (s->d_pre_t) transpose_deltas(s, t, 0, B, q * H + u0, q * H + u1);
            delta_copy_out(s, t, 0, B, q * H + u0, q * H + u1);
        }
    }
    vsfence();
}

/* A time loop whose threads split each step's units (at most `most` threads), with the step
 * barrier at *bar, without the GIL. */
static void run_units(worker_fn fn, void *ctx, step_barrier **bar, int nth, int most) {
    step_barrier b;
    if (nth > most) nth = most;
    atomic_init(&b.count, 0);
    atomic_init(&b.phase, 0);
    b.n = nth;
    *bar = &b;
    Py_BEGIN_ALLOW_THREADS
    run_parallel(fn, ctx, nth);
    Py_END_ALLOW_THREADS
    *bar = NULL;
}

/* A time loop whose threads split the B batch rows (at most B threads), without the GIL. */
static void run_rows(worker_fn fn, void *ctx, int T, int B, int H, int nth) {
    if (!T || !B || !H) return;
    if (nth > B) nth = B;
    Py_BEGIN_ALLOW_THREADS
    run_parallel(fn, ctx, nth);
    Py_END_ALLOW_THREADS
}


/* ---------------------------------------------------------------- Python glue */

/* The x86 features that decide the paths: name -> present (nothing elsewhere). */
static const char *const X86_FEATURES[] = {"avx512f", "avx512dq", "avx512bw", "avx512vl",
                                           "avx2", "fma", NULL};

static int has_feature(const char *name) {
#if SIMD_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx512f")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx512dq")) return __builtin_cpu_supports("avx512dq");
    if (!strcmp(name, "avx512bw")) return __builtin_cpu_supports("avx512bw");
    if (!strcmp(name, "avx512vl")) return __builtin_cpu_supports("avx512vl");
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2");
    if (!strcmp(name, "fma")) return __builtin_cpu_supports("fma");
#endif
    (void)name;
    return 0;
}

/* True if this CPU runs this module's instruction set (the generic one runs anywhere). */
static int cpu_ok(void) {
    static int ok = -1;
    if (ok < 0) {
#if defined(RNNLAB_ISA_AVX512)
        ok = has_feature("avx512f") && has_feature("avx512dq") && has_feature("fma");
#elif defined(RNNLAB_ISA_AVX2)
        ok = has_feature("avx2") && has_feature("fma");
#else
        ok = 1;
#endif
    }
    return ok;
}

/* ---------------------------------------------------------------- argument parsing
 * The entry points with several arguments are METH_FASTCALL | METH_KEYWORDS and read them with
 * parse_args, by position or by keyword (rnnlab.native passes keywords). Why not
 * PyArg_ParseTupleAndKeywords: measured here at 1.3-3 µs more per call than a positional
 * PyArg_ParseTuple (a tuple and a dict are built, and each name is found by string
 * comparison), as much as a whole per-step recurrent GEMM at B = 32, H = 128. This parser
 * reads the vectorcall's argument array as it is, and compares the call site's keyword names
 * (which Python interns) with interned copies of its own by pointer first, by value only if
 * that fails: a call by keyword costs what a positional call did. */
#define MAX_ARGS 24

typedef struct {
    const char *fn;                  /* the function's name, for errors */
    const char *fmt;                 /* per argument: L long long, i int, p truth value,
                                        f float, O object; a '|' before the optional ones */
    const char *names[MAX_ARGS + 1]; /* NULL-terminated, in the order of fmt */
    PyObject *interned[MAX_ARGS];    /* filled on first use */
} argspec;

/* Store each argument through the pointer given for it (in the order of fmt); optional
 * arguments that did not come keep the value their variable holds. 0, or -1 with an error. */
static int parse_args(argspec *spec, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      ...) {
    int n = 0;
    while (spec->names[n]) n++;
    const char *bar = strchr(spec->fmt, '|');
    const int required = bar ? (int)(bar - spec->fmt) : n;
    if (!spec->interned[n - 1]) {
        for (int i = 0; i < n; i++) {
            if (!spec->interned[i]) spec->interned[i] = PyUnicode_InternFromString(spec->names[i]);
            if (!spec->interned[i]) return -1;
        }
    }
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", spec->fn, n,
                     nargs);
        return -1;
    }
    PyObject *vals[MAX_ARGS] = {0};
    for (Py_ssize_t i = 0; i < nargs; i++) vals[i] = args[i];
    const Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t j = 0; j < nk; j++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, j);
        int idx = -1;
        if (nargs + j < n && spec->interned[nargs + j] == key) idx = (int)(nargs + j);
        for (int i = 0; idx < 0 && i < n; i++)
            if (spec->interned[i] == key) idx = i;
        for (int i = 0; idx < 0 && i < n; i++)
            if (PyUnicode_CompareWithASCIIString(key, spec->names[i]) == 0) idx = i;
        if (idx < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                         spec->fn, key);
            return -1;
        }
        if (vals[idx]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         spec->fn, spec->names[idx]);
            return -1;
        }
        vals[idx] = args[nargs + j];
    }
    va_list ap;
    va_start(ap, kwnames);
    int k = 0, status = 0;
    for (const char *c = spec->fmt; *c && status == 0; c++) {
        if (*c == '|') continue;
        void *dst = va_arg(ap, void *);
        PyObject *v = vals[k];
        if (!v) {
            if (k < required) {
                PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", spec->fn,
                             spec->names[k]);
                status = -1;
            }
            k++;
            continue;
        }
        switch (*c) {
        case 'L': {
            long long x = PyLong_AsLongLong(v);
            if (x == -1 && PyErr_Occurred()) status = -1;
            else *(long long *)dst = x;
            break;
        }
        case 'i': {
            long x = PyLong_AsLong(v);
            if (x == -1 && PyErr_Occurred()) {
                status = -1;
            } else if (x < INT_MIN || x > INT_MAX) {
                PyErr_Format(PyExc_OverflowError, "%s(): %s = %ld does not fit an int",
                             spec->fn, spec->names[k], x);
                status = -1;
            } else {
                *(int *)dst = (int)x;
            }
            break;
        }
        case 'p': {
            int x = PyObject_IsTrue(v);
            if (x < 0) status = -1;
            else *(int *)dst = x;
            break;
        }
        case 'f': {
            double x = PyFloat_AsDouble(v);
            if (x == -1.0 && PyErr_Occurred()) status = -1;
            else *(float *)dst = (float)x;
            break;
        }
        default: /* 'O' */
            *(PyObject **)dst = v;
        }
        k++;
    }
    va_end(ap);
    return status;
}

/* A float32 C-contiguous buffer of at least `need` elements, or NULL for None when allowed. */
static int get_f32(PyObject *obj, Py_buffer *view, Py_ssize_t need, int writable, int optional,
                   const char *name) {
    view->obj = NULL;
    view->buf = NULL;
    if (obj == Py_None) {
        if (optional) return 0;
        PyErr_Format(PyExc_TypeError, "%s: expected a float32 array, got None", name);
        return -1;
    }
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != 4 || !view->format || strcmp(view->format, "f") != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected float32 data, got format '%s'", name,
                     view->format ? view->format : "?");
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    if (view->len / 4 < need) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd elements, got %zd", name,
                     need, view->len / 4);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static int get_u8(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *name) {
    view->obj = NULL;
    view->buf = NULL;
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->itemsize != 1 || view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes (uint8/bool), got %zd of size %zd",
                     name, need, view->len, view->itemsize);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void release_all(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
}

static int check_cpu(void) {
    if (!cpu_ok()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "rnnlab." MODULE_NAME ": this CPU cannot run the " STR(ISA_ID) " path");
        return -1;
    }
    return 0;
}

static int check_dims(long long v, const char *name) {
    if (v < 0 || v > INT32_MAX / 4) {
        PyErr_Format(PyExc_ValueError, "%s: expected 0 <= value < 2^29, got %lld", name, v);
        return -1;
    }
    return 0;
}

/* gemm(M, N, K, a, a_rs, a_cs, b, b_ps, b_rs, bias, c, ldc, accumulate, threads) */
static PyObject *py_gemm(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
    static argspec spec = {"gemm", "LLLOLLOLLOOLpi",
                            {"M", "N", "K", "a", "a_rs", "a_cs", "b", "b_ps", "b_rs", "bias",
                             "c", "ldc", "accumulate", "threads", NULL}};
    long long M, N, K, a_rs, a_cs, b_ps, b_rs, ldc;
    int beta, nth;
    PyObject *oa, *ob, *obias, *oc;
    if (parse_args(&spec, args, nargs, kwnames, &M, &N, &K, &oa, &a_rs, &a_cs, &ob, &b_ps, &b_rs,
                   &obias, &oc, &ldc, &beta, &nth))
        return NULL;
    if (check_cpu() || check_dims(M, "M") || check_dims(N, "N") || check_dims(K, "K")) return NULL;
    if (a_rs < 0 || a_cs < 0 || b_ps < 0 || b_rs < 0 || ldc < N) {
        PyErr_SetString(PyExc_ValueError, "gemm: negative stride or ldc < N");
        return NULL;
    }
    /* Only columns < N are read (masked loads), in either layout, except that a B whose rows
     * are NR apart (packed panels, or a plain B of NR columns) is read in whole rows of NR. */
    long long panels = (N + NR - 1) / NR;
    long long b_need = (K && N) ? (panels - 1) * b_ps + (K - 1) * b_rs + N - (panels - 1) * NR : 0;
    if (K && N && b_rs == NR) b_need = (panels - 1) * b_ps + K * NR;
    Py_buffer v[4];
    memset(v, 0, sizeof v);
    long long a_need = (M && K) ? (M - 1) * a_rs + (K - 1) * a_cs + 1 : 0;
    long long c_need = M ? (M - 1) * ldc + N : 0;
    if (get_f32(oa, &v[0], a_need, 0, 0, "a") ||
        get_f32(ob, &v[1], b_need, 0, 0, "b") ||
        get_f32(obias, &v[2], N, 0, 1, "bias") ||
        get_f32(oc, &v[3], c_need, 1, 0, "c")) {
        release_all(v, 4);
        return NULL;
    }
    gemm_args g = {(int)M, (int)N, (int)K, v[0].buf, a_rs, a_cs, v[1].buf, b_ps, b_rs,
                   v[2].buf, v[3].buf, ldc, beta, NULL};
    gemm_share share;
    if (tune.dynamic_split && nth > 1 && depth_outer_serves(&g, nth)) {
        share.chunks = (int)((M + tune.rb - 1) / tune.rb);
        const size_t blocks = K ? (size_t)((K + tune.kc - 1) / tune.kc) : 1;
        share.done = calloc((size_t)share.chunks * (blocks + 1), sizeof(atomic_int));
        share.claimed = share.done + share.chunks;
        if (share.done) g.share = &share; /* else: the equal shares */
    }
    if (M && N) {
        Py_BEGIN_ALLOW_THREADS
        run_parallel(gemm_worker, &g, nth);
        Py_END_ALLOW_THREADS
    }
    if (g.share) free((void *)share.done);
    release_all(v, 4);
    Py_RETURN_NONE;
}

/* lstm_forward(T, B, H, I, x, w_ih, bias, gates_in, w_hh, h0, c0, hs, cs, cs_step, acts,
 *              tanh_cs, mask, batch_major, threads): gates_in None: each step's register tiles
 *              accumulate b + x_t W_ih^T + h W_hh^T; else it holds x W_ih^T + b for all steps,
 *              laid out as x. w_ih, w_hh: packed gate-interleaved; cs_step = B*H: cs keeps
 *              every step (T, B, H), 0: cs is one (B, H) state. batch_major: x, gates_in, hs
 *              and mask are (B, T, ...) instead of (T, B, ...); the cache (cs, acts, tanh_cs)
 *              is time-major either way. */
static PyObject *py_lstm_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    static argspec spec = {"lstm_forward", "iiiiOOOOOOOOOLOOOpi|p",
                            {"T", "B", "H", "I", "x", "w_ih", "bias", "gates_in", "w_hh", "h0",
                             "c0", "hs", "cs", "cs_step", "acts", "tanh_cs", "mask",
                             "batch_major", "threads", "split_units", NULL}};
    int T, B, H, I, nth, batch_major, split_units = 0;
    long long cs_t;
    PyObject *ox, *owip, *obias, *ogin, *owp, *oh0, *oc0, *ohs, *ocs, *oacts, *otcs, *omask;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &I, &ox, &owip, &obias, &ogin, &owp,
                   &oh0, &oc0, &ohs, &ocs, &cs_t, &oacts, &otcs, &omask, &batch_major, &nth,
                   &split_units))
        return NULL;
    const int gin_all = ogin != Py_None;
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H") ||
        check_dims(I, "I"))
        return NULL;
    if (H % 16 != 0 || (cs_t != 0 && cs_t != (long long)B * H)) {
        PyErr_Format(PyExc_ValueError, "lstm_forward: H must be a multiple of 16 (got %d) and "
                     "cs_step 0 or B*H (got %lld)", H, cs_t);
        return NULL;
    }
    long long BH = (long long)B * H;
    Py_buffer v[12];
    memset(v, 0, sizeof v);
    if (get_f32(ox, &v[0], (long long)T * B * I, 0, 0, "x") ||
        get_f32(owip, &v[1], (long long)I * H * 4, 0, 0, "w_ih") ||
        get_f32(obias, &v[2], 4LL * H, 0, 0, "bias") ||
        (gin_all && get_f32(ogin, &v[3], T * BH * 4, 0, 0, "gates_in")) ||
        get_f32(owp, &v[4], (long long)H * H * 4, 0, 0, "w_hh") ||
        get_f32(oh0, &v[5], BH, 0, 0, "h0") || get_f32(oc0, &v[6], BH, 0, 0, "c0") ||
        get_f32(ohs, &v[7], T * BH, 1, 0, "hs") ||
        get_f32(ocs, &v[8], cs_t ? T * BH : BH, 1, 0, "cs") ||
        get_f32(oacts, &v[9], T * BH * 4, 1, 1, "acts") ||
        get_f32(otcs, &v[10], T * BH, 1, 1, "tanh_cs") ||
        get_u8(omask, &v[11], (long long)T * B, "mask")) {
        release_all(v, 12);
        return NULL;
    }
    lstm_fwd_args s = {T, B, H, I, v[0].buf, v[1].buf, v[2].buf, v[3].buf,
                       v[4].buf, v[5].buf, v[6].buf, v[7].buf, v[8].buf, cs_t, v[9].buf,
                       v[10].buf, v[11].buf, batch_major ? 1 : B, batch_major ? T : 1, NULL};
    /* The gate activations are read only by the backward, after the loop (from memory: they
     * are T x B x 4H floats): streaming stores spare the loop their cache pollution and the
     * reads for ownership — where one tile writes whole cache lines (a gate's 16 units in one
     * vector: AVX-512) and the array is aligned. */
    s.acts_nt = tune.stream_stores && CHUNKS == 1 && s.acts && (uintptr_t)s.acts % 64 == 0;
    if (split_units && nth > 1 && T && B && H) { /* at most one thread per 16-unit panel */
        /* the panels' claims (lstm_fwd_units_shared); without memory, each thread its own */
        s.claimed = tune.dynamic_split ? calloc((size_t)H / 16, sizeof(atomic_int)) : NULL;
        run_units(lstm_fwd_units_worker, &s, &s.bar, nth, H / 16);
        free(s.claimed);
    } else
        run_rows(lstm_fwd_worker, &s, T, B, H, nth);
    release_all(v, 12);
    Py_RETURN_NONE;
}

/* gru_forward(T, B, H, x_proj, w_hh, b_hn, h0, hs, gates, hn, mask, threads): see
 * gru_fwd_args */
static PyObject *py_gru_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    static argspec spec = {"gru_forward", "iiiOOOOOOOOi",
                            {"T", "B", "H", "x_proj", "w_hh", "b_hn", "h0", "hs", "gates", "hn",
                             "mask", "threads", NULL}};
    int T, B, H, nth;
    PyObject *oxp, *owp, *obn, *oh0, *ohs, *og, *ohn, *omask;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &oxp, &owp, &obn, &oh0, &ohs, &og,
                   &ohn, &omask, &nth))
        return NULL;
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "gru_forward: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    long long BH = (long long)B * H;
    Py_buffer v[8];
    memset(v, 0, sizeof v);
    if (get_f32(oxp, &v[0], T * BH * 3, 0, 0, "x_proj") ||
        get_f32(owp, &v[1], (long long)H * H * 3, 0, 0, "w_hh") ||
        get_f32(obn, &v[2], H, 0, 0, "b_hn") || get_f32(oh0, &v[3], BH, 0, 0, "h0") ||
        get_f32(ohs, &v[4], T * BH, 1, 0, "hs") ||
        get_f32(og, &v[5], T * BH * 3, 1, 1, "gates") ||
        get_f32(ohn, &v[6], T * BH, 1, 1, "hn") ||
        get_u8(omask, &v[7], (long long)T * B, "mask")) {
        release_all(v, 8);
        return NULL;
    }
    gru_fwd_args s = {T, B, H, v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, v[5].buf,
                      v[6].buf, v[7].buf};
    run_rows(gru_fwd_worker, &s, T, B, H, nth);
    release_all(v, 8);
    Py_RETURN_NONE;
}

/* lstm_backward(T, B, H, acts, cs, c0, tanh_cs, d_out, w_hh, mask, dh, dc, d_pre, d_pre_t,
 *               ld_pre_t, d_bias, batch_major, threads, split_units=0, w_ih=None, dx=None,
 *               I=0); w_hh: W_hh packed (4H x H); d_pre_t: δ transposed, (4H, ld_pre_t);
 *               d_bias: (B, 4H) zeros; w_ih: W_ih packed (4H x I) and dx (laid out as d_out,
 *               I features): dx = δ W_ih computed in the loop (then d_pre's contents are
 *               undefined when the loop gathers δ: only dx is its use) */
static PyObject *py_lstm_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
    static argspec spec = {"lstm_backward", "iiiOOOOOOOOOOOLOpi|pOOi",
                            {"T", "B", "H", "acts", "cs", "c0", "tanh_cs", "d_out", "w_hh",
                             "mask", "dh", "dc", "d_pre", "d_pre_t", "ld_pre_t", "d_bias",
                             "batch_major", "threads", "split_units", "w_ih", "dx", "I", NULL}};
    int T, B, H, nth, batch_major, split_units = 0, I = 0;
    long long ldt;
    PyObject *oacts, *ocs, *oc0, *otcs, *odout, *owp, *omask, *odh, *odc, *odpre, *odpt, *odb;
    PyObject *owx = Py_None, *odx = Py_None;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &oacts, &ocs, &oc0, &otcs, &odout,
                   &owp, &omask, &odh, &odc, &odpre, &odpt, &ldt, &odb, &batch_major, &nth,
                   &split_units, &owx, &odx, &I))
        return NULL;
    if ((owx == Py_None) != (odx == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "lstm_backward: expected w_ih and dx both or neither");
        return NULL;
    }
    if (owx != Py_None && check_dims(I, "I")) return NULL;
    if (odpt != Py_None && (ldt < (long long)T * B || ldt > (1LL << 26))) {
        PyErr_Format(PyExc_ValueError, "lstm_backward: expected T*B <= ld_pre_t <= 2^26, got %lld", ldt);
        return NULL;
    }
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "lstm_backward: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    long long BH = (long long)B * H, panels = (H + NR - 1) / NR;
    Py_buffer v[14];
    memset(v, 0, sizeof v);
    if (get_f32(owx, &v[12], (I + NR - 1) / NR * 4LL * H * NR, 0, 1, "w_ih") ||
        get_f32(odx, &v[13], (long long)T * B * I, 1, 1, "dx") ||
        get_f32(odb, &v[11], (long long)B * 4 * H, 1, 0, "d_bias") ||
        get_f32(odpt, &v[10], 4 * (long long)H * ldt, 1, 1, "d_pre_t") ||
        get_f32(oacts, &v[0], T * BH * 4, 0, 0, "acts") ||
        get_f32(ocs, &v[1], T * BH, 0, 0, "cs") || get_f32(oc0, &v[2], BH, 0, 0, "c0") ||
        get_f32(otcs, &v[3], T * BH, 0, 1, "tanh_cs") ||
        get_f32(odout, &v[4], T * BH, 0, 1, "d_out") ||
        get_f32(owp, &v[5], panels * 4 * H * NR, 0, 0, "w_hh") ||
        get_u8(omask, &v[6], (long long)T * B, "mask") ||
        get_f32(odh, &v[7], BH, 1, 0, "dh") || get_f32(odc, &v[8], BH, 1, 0, "dc") ||
        get_f32(odpre, &v[9], T * BH * 4, 1, 0, "d_pre")) {
        release_all(v, 14);
        return NULL;
    }
    lstm_bwd_args s = {T, B, H, v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, v[5].buf,
                       v[6].buf, v[7].buf, v[8].buf, v[9].buf, v[10].buf, ldt, v[11].buf,
                       batch_major ? 1 : B, batch_major ? T : 1, NULL, NULL, v[12].buf,
                       v[13].buf, I};
    if (tune.gather_rows && batch_major && T > 1 && B > 1)
        s.dloc = malloc(sizeof(float) * 2 * (size_t)BH * 4); /* NULL: δ stays in d_pre */
    if (split_units && nth > 1 && T && B && H) /* at most one thread per 64-unit panel of dh */
        run_units(lstm_bwd_units_worker, &s, &s.bar, nth, (H + NR - 1) / NR);
    else
        run_rows(lstm_bwd_worker, &s, T, B, H, nth);
    free(s.dloc);
    release_all(v, 14);
    Py_RETURN_NONE;
}

typedef struct {
    const float *b;
    float *out;
    long long K, N, ldb, Kout, row0, group, gstride;
} pack_args;

/* Rows of the thread's share of pack()'s K rows, each read once (row outer, its panels
 * inner: the rows of a batch-major source are T steps apart, and a panel-outer order read
 * each once per panel); a whole panel's 64 floats in vector moves. */
static void pack_rows(void *ctx, int tid, int nth) {
    const pack_args *a = (const pack_args *)ctx;
    const long long k0 = a->K * tid / nth, k1 = a->K * (tid + 1) / nth;
    const long long panels = (a->N + NR - 1) / NR;
    for (long long k = k0; k < k1; k++) {
        const long long src = a->group == 1 ? k : k / a->group + (k % a->group) * a->gstride;
        const float *row = a->b + src * a->ldb;
        for (long long p = 0; p < panels; p++) {
            float *dst = a->out + (p * a->Kout + a->row0 + k) * NR;
            const long long n0 = p * NR, nc = a->N - n0 < NR ? a->N - n0 : NR;
            if (nc == NR) {
                for (int j = 0; j < NR; j += VL) vstore(dst + j, vload(row + n0 + j));
                continue;
            }
            memcpy(dst, row + n0, (size_t)nc * sizeof(float));
            memset(dst + nc, 0, (size_t)(NR - nc) * sizeof(float));
        }
    }
}

/* pack(b, K, N, ldb, out, K_out, row0, group=1, group_stride=0, threads=1): K rows of the
 * row-major b (row stride ldb, N columns) into rows row0 .. row0+K-1 of the packed out [P][K_out][64];
 * out's padding columns are zeroed. Row k of the packed block is row
 * (k / group) + (k % group) * group_stride of b: group = 1 packs rows in order; group = B,
 * group_stride = T packs a batch-major (B, T, N) array in time-major order (row t*B + b from
 * b's row b*T + t). */
static PyObject *py_pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
    static argspec spec = {"pack", "OLLLOLL|LLi",
                            {"b", "K", "N", "ldb", "out", "K_out", "row0", "group",
                             "group_stride", "threads", NULL}};
    long long K, N, ldb, row0, Kout, group = 1, gstride = 0;
    int nth = 1;
    PyObject *ob, *oout;
    if (parse_args(&spec, args, nargs, kwnames, &ob, &K, &N, &ldb, &oout, &Kout, &row0, &group,
                   &gstride, &nth))
        return NULL;
    if (check_dims(K, "K") || check_dims(N, "N") || check_dims(Kout, "K_out") || ldb < N ||
        row0 < 0 || row0 + K > Kout || group < 1 || gstride < 0 || K % group != 0) {
        PyErr_SetString(PyExc_ValueError, "pack: bad sizes (need ldb >= N, row0 + K <= K_out, "
                        "group >= 1 dividing K, group_stride >= 0)");
        return NULL;
    }
    long long panels = (N + NR - 1) / NR;
    long long last = K ? (K - 1) / group + (group - 1) * gstride : 0; /* highest row read */
    if (group == 1) last = K ? K - 1 : 0;
    Py_buffer v[2];
    memset(v, 0, sizeof v);
    if (get_f32(ob, &v[0], K && N ? last * ldb + N : 0, 0, 0, "b") ||
        get_f32(oout, &v[1], panels * Kout * NR, 1, 0, "out")) {
        release_all(v, 2);
        return NULL;
    }
    pack_args a = {v[0].buf, v[1].buf, K, N, ldb, Kout, row0, group, gstride};
    if (nth > K) nth = K > 0 ? (int)K : 1;
    Py_BEGIN_ALLOW_THREADS
    if (nth > 1)
        run_parallel(pack_rows, &a, nth);
    else
        pack_rows(&a, 0, 1);
    Py_END_ALLOW_THREADS
    release_all(v, 2);
    Py_RETURN_NONE;
}

/* pack_t(w, R, K, columns, out): Wᵀ with picked columns into [P][K][64] (see
 * pack_transposed) */
static PyObject *py_pack_t(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames) {
    static argspec spec = {"pack_t", "OLLOO",
                            {"w", "R", "K", "columns", "out", NULL}};
    long long R, K;
    PyObject *ow, *ocols, *oout;
    if (parse_args(&spec, args, nargs, kwnames, &ow, &R, &K, &ocols, &oout))
        return NULL;
    if (check_cpu() || check_dims(R, "R") || check_dims(K, "K")) return NULL;
    Py_buffer v[3];
    memset(v, 0, sizeof v);
    if (get_f32(ow, &v[0], R * K, 0, 0, "w")) return NULL;
    if (PyObject_GetBuffer(ocols, &v[1], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        release_all(v, 3);
        return NULL;
    }
    long long n = v[1].len / 8;
    if (v[1].itemsize != 8 || !v[1].format ||
        (strcmp(v[1].format, "q") != 0 && strcmp(v[1].format, "l") != 0)) {
        release_all(v, 3);
        PyErr_SetString(PyExc_TypeError, "pack_t: expected columns as int64 row indices");
        return NULL;
    }
    const int64_t *cols = v[1].buf;
    for (long long j = 0; j < n; j++)
        if (cols[j] < 0 || cols[j] >= R) {
            release_all(v, 3);
            PyErr_Format(PyExc_ValueError, "pack_t: column %lld picks row %lld of %lld", j,
                         (long long)cols[j], R);
            return NULL;
        }
    if (get_f32(oout, &v[2], (n + NR - 1) / NR * K * NR, 1, 0, "out")) {
        release_all(v, 3);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    pack_transposed(v[0].buf, (long)K, cols, (long)n, v[2].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 3);
    Py_RETURN_NONE;
}

/* same(a, b): True if the two buffers hold the same bytes (memcmp; for the packed-weight cache). */
static PyObject *py_same(PyObject *self, PyObject *args) {
    Py_buffer a, b;
    if (!PyArg_ParseTuple(args, "y*y*", &a, &b)) return NULL;
    int equal = a.len == b.len;
    if (equal) {
        Py_BEGIN_ALLOW_THREADS
        equal = memcmp(a.buf, b.buf, (size_t)a.len) == 0;
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return PyBool_FromLong(equal);
}

/* all_finite(a): False if the float32 buffer holds an Inf or a NaN (exponent bits all ones).
 * One pass at memory speed, no temporary: the input check of every layer call. */
static int all_finite_rows(const float *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        int bad = 0;
        for (int v = 0; v < 4; v++) bad |= vnonfinite(vload(p + i + VL * v));
        if (bad) return 0;
    }
    for (; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, p + i, sizeof bits);
        if ((bits & 0x7f800000u) == 0x7f800000u) return 0;
    }
    return 1;
}

static PyObject *py_all_finite(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (get_f32(arg, &v, 0, 0, 0, "a")) return NULL;
    Py_ssize_t n = v.len / 4;
    int ok;
    if (check_cpu()) {
        PyBuffer_Release(&v);
        return NULL;
    }
    ok = all_finite_rows(v.buf, n);
    PyBuffer_Release(&v);
    return PyBool_FromLong(ok);
}

/* ---------------------------------------------------------------- loss
 * Softmax cross-entropy from logits with integer targets, per row n of x (N, C):
 *   m = max_c x_c    s = Σ_c e^(x_c − m)    ℓ_n = log s − (x_k − m)
 *   grad_n = (e^(x − m) / s − onehot(k)) / count      (0 for masked rows, which add no loss)
 * Returns Σ_n ℓ_n over the counted rows, accumulated in double. e^x is exp512 (relative error
 * ~1e-7); NumPy's path differs from it by float32 rounding. */
static double sparse_xent_rows(const float *x, const int64_t *k, const uint8_t *mask,
                               float count, long N, long C, float *grad) {
    double total = 0.0;
    const vf cnt = vset1(count), ninf = vset1(-INFINITY);
    for (long n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *gr = grad + n * C;
        if (mask && !mask[n]) {
            memset(gr, 0, (size_t)C * sizeof(float));
            continue;
        }
        vf mv = ninf;
        for (long c = 0; c < C; c += VL) mv = vmax(mv, vload_m_or(xr + c, vmask_n(C - c), ninf));
        const float mx = vreduce_max(mv);
        const vf mxv = vset1(mx);
        vf sv = vzero();
        for (long c = 0; c < C; c += VL) {
            const vmask m = vmask_n(C - c);
            vf e = vexp(vsub(vload_m(xr + c, m), mxv));
            vstore_m(gr + c, m, e);
            sv = vadd(sv, vload_m(gr + c, m)); /* the lanes past C add 0 */
        }
        const float sum = vreduce_add(sv); /* >= 1: the max term is e^0 */
        const vf sumv = vset1(sum);
        for (long c = 0; c < C; c += VL) {
            const vmask m = vmask_n(C - c);
            vstore_m(gr + c, m, vdiv(vload_m(gr + c, m), sumv));
        }
        const long kk = (long)k[n];
        gr[kk] -= 1.0f;
        for (long c = 0; c < C; c += VL) {
            const vmask m = vmask_n(C - c);
            vstore_m(gr + c, m, vdiv(vload_m(gr + c, m), cnt));
        }
        total += (double)(logf(sum) - (xr[kk] - mx));
    }
    return total;
}

/* sparse_xent(N, C, x (N, C), k (N,) int64 in [0, C), mask (N,) uint8 or None, count,
 * grad (N, C)) -> Σ ℓ over counted rows (see above); grad written. */
static PyObject *py_sparse_xent(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    static argspec spec = {"sparse_xent", "LLOOOfO",
                            {"N", "C", "x", "k", "mask", "count", "grad", NULL}};
    long long N, C;
    float count;
    PyObject *ox, *ok, *omask, *og;
    if (parse_args(&spec, args, nargs, kwnames, &N, &C, &ox, &ok, &omask, &count, &og))
        return NULL;
    if (check_cpu() || check_dims(N, "N") || check_dims(C, "C")) return NULL;
    if (C < 1 || !(count > 0)) {
        PyErr_SetString(PyExc_ValueError, "sparse_xent: expected C >= 1 and count > 0");
        return NULL;
    }
    Py_buffer v[4];
    memset(v, 0, sizeof v);
    if (get_f32(ox, &v[0], N * C, 0, 0, "x") || get_f32(og, &v[3], N * C, 1, 0, "grad") ||
        get_u8(omask, &v[2], N, "mask")) {
        release_all(v, 4);
        return NULL;
    }
    if (PyObject_GetBuffer(ok, &v[1], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        release_all(v, 4);
        return NULL;
    }
    if (v[1].itemsize != 8 || v[1].len < N * 8 || !v[1].format ||
        (strcmp(v[1].format, "q") != 0 && strcmp(v[1].format, "l") != 0)) {
        release_all(v, 4);
        PyErr_SetString(PyExc_TypeError, "sparse_xent: expected k as N int64 class ids");
        return NULL;
    }
    const int64_t *k = v[1].buf;
    const uint8_t *mask = v[2].buf;
    for (long long n = 0; n < N; n++)
        if ((!mask || mask[n]) && (k[n] < 0 || k[n] >= C)) {
            release_all(v, 4);
            PyErr_Format(PyExc_ValueError, "sparse_xent: class id %lld at row %lld is not in "
                         "[0, %lld)", (long long)k[n], n, C);
            return NULL;
        }
    double total = 0.0;
    Py_BEGIN_ALLOW_THREADS
    total = sparse_xent_rows(v[0].buf, k, mask, count, (long)N, (long)C, v[3].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 4);
    return PyFloat_FromDouble(total);
}

/* ---------------------------------------------------------------- optimizer
 * One Adam step over float32 arrays, per element in the order and float32 rounding of
 * rnnlab.optimizers.Adam's NumPy code (ISO C: no contraction into FMAs; sqrt and division
 * correctly rounded, vectorised or not), so both give the same bits:
 *   m = m b1 + omb1 g      v = v b2 + omb2 g²      [vhat = max(vhat, v), used for v]
 *   p = p - step (m / (sqrt(v) / bc2 + eps))
 * The loop is compiled once per path (the compiler vectorises it for the path's ISA). */
#define ADAM_LOOP                                                                          \
    for (Py_ssize_t i = 0; i < n; i++) {                                                  \
        float gi = g[i];                                                                  \
        float mi = m[i] * b1 + omb1 * gi;                                                 \
        float vi = v[i] * b2 + omb2 * (gi * gi);                                          \
        m[i] = mi;                                                                        \
        v[i] = vi;                                                                        \
        if (vhat) {                                                                       \
            float h = vhat[i];                                                            \
            vi = (h > vi || h != h) ? h : vi; /* np.maximum: NaN wins */                  \
            vhat[i] = vi;                                                                 \
        }                                                                                 \
        p[i] = p[i] - step * (mi / (sqrtf(vi) / bc2 + eps));                              \
    }
#define ADAM_ARGS                                                                          \
    float *restrict p, const float *restrict g, float *restrict m, float *restrict v,     \
        float *restrict vhat, Py_ssize_t n, float b1, float omb1, float b2, float omb2,   \
        float bc2, float eps, float step

static void adam_rows(ADAM_ARGS) { ADAM_LOOP }

/* adam(p, g, m, v, vhat (or None), b1, one_minus_b1, b2, one_minus_b2,
 *      bias_correction2 = sqrt(1-b2^t), eps, step = lr/(1-b1^t)) */
static PyObject *py_adam(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
    static argspec spec = {"adam", "OOOOOfffffff",
                            {"p", "g", "m", "v", "vhat", "b1", "one_minus_b1", "b2",
                             "one_minus_b2", "bias_correction2", "eps", "step", NULL}};
    PyObject *op, *og, *om, *ov, *oh;
    float b1, omb1, b2, omb2, bc2, eps, step;
    if (parse_args(&spec, args, nargs, kwnames, &op, &og, &om, &ov, &oh, &b1, &omb1, &b2, &omb2,
                   &bc2, &eps, &step))
        return NULL;
    Py_buffer v[5];
    memset(v, 0, sizeof v);
    if (get_f32(op, &v[0], 0, 1, 0, "p")) return NULL;
    Py_ssize_t n = v[0].len / 4;
    if (get_f32(og, &v[1], n, 0, 0, "g") || get_f32(om, &v[2], n, 1, 0, "m") ||
        get_f32(ov, &v[3], n, 1, 0, "v") || get_f32(oh, &v[4], n, 1, 1, "vhat")) {
        release_all(v, 5);
        return NULL;
    }
    float *pp = v[0].buf, *mp = v[2].buf, *vp = v[3].buf, *hp = v[4].buf;
    const float *gp = v[1].buf;
    /* the outputs may not overlap each other or g (restrict) */
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (v[a].buf && v[b].buf && (char *)v[a].buf < (char *)v[b].buf + n * 4 &&
                (char *)v[b].buf < (char *)v[a].buf + n * 4) {
                release_all(v, 5);
                PyErr_SetString(PyExc_ValueError, "adam: p, g, m, v and vhat must not overlap");
                return NULL;
            }
    Py_BEGIN_ALLOW_THREADS
    adam_rows(pp, gp, mp, vp, hp, n, b1, omb1, b2, omb2, bc2, eps, step);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    Py_RETURN_NONE;
}

/* sum_squares(a): Σ a² of a float32 buffer, in double (the global-norm clip; no temporary) */
#define SUM_SQUARES_BODY                                                                   \
    double s[16] = {0};                                                                   \
    Py_ssize_t i = 0;                                                                     \
    for (; i + 16 <= n; i += 16)                                                          \
        for (int j = 0; j < 16; j++) s[j] += (double)a[i + j] * a[i + j];                 \
    for (; i < n; i++) s[0] += (double)a[i] * a[i];                                       \
    for (int w = 8; w; w /= 2)                                                            \
        for (int j = 0; j < w; j++) s[j] += s[j + w];                                     \
    return s[0];
static double sum_squares_rows(const float *a, Py_ssize_t n) { SUM_SQUARES_BODY }

static PyObject *py_sum_squares(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (get_f32(arg, &v, 0, 0, 0, "a")) return NULL;
    double total;
    total = sum_squares_rows(v.buf, v.len / 4);
    PyBuffer_Release(&v);
    return PyFloat_FromDouble(total);
}

static PyObject *py_cpu_supported(PyObject *self, PyObject *noargs) {
    return PyBool_FromLong(cpu_ok());
}

/* cpu_features(): {feature: present} for the x86 features that decide the paths ({} on other
 * architectures), as the CPU reports them (CPUID, read by the compiler's runtime). */
static PyObject *py_cpu_features(PyObject *self, PyObject *noargs) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
#if SIMD_X86
    for (int i = 0; X86_FEATURES[i]; i++) {
        PyObject *v = PyBool_FromLong(has_feature(X86_FEATURES[i]));
        if (PyDict_SetItemString(d, X86_FEATURES[i], v) < 0) {
            Py_DECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
#endif
    return d;
}

/* an entry point that takes its arguments by position or keyword (parse_args) */
#define KW(fn) (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS

/* ================================================================ SimpleRNN and GRU time loops
 * Kernels added for issue 23 (the SimpleRNN forward and backward loops and the GRU backward
 * loop, which ran as NumPy around per-step GEMMs). Entry points take keywords (parse_args). As in the LSTM
 * loops, each thread owns a contiguous range of batch rows for the whole sequence (rows never
 * interact), so the threads never wait for each other. */

/* ---------------------------------------------------------------- SimpleRNN forward
 * Per step t, for batch rows b and columns 64p .. 64p+63 (one packed panel of W_hh^T):
 *   a = a_in[t] + h_{t-1} W_hh^T      (a_in = x W_ih^T + b_ih + b_hh for all steps, before)
 *   h_t = tanh a  or  max(a, 0)       in registers; masked rows carry h_{t-1}. */
typedef struct {
    int T, B, H, relu;
    const float *a_in;   /* (T, B, H), or (B, T, H) when batch-major */
    const float *wp;     /* packed W_hh^T: [ceil(H/64)][H][64] */
    const float *h0;     /* (B, H) */
    float *hs;           /* (T, B, H), or (B, T, H) when batch-major */
    const uint8_t *mask; /* (T, B), or (B, T) when batch-major, or NULL */
    long ts, rs;         /* row (t, b) of a_in, hs and mask is row t*ts + b*rs */
} rnn_fwd_args;

#define DEFINE_RNN_FWD_TILE(mr)                                                           \
    static void rnn_fwd_tile_##mr(const rnn_fwd_args *s, int t, int r0, int j) {          \
        const int H = s->H, kc = H;                                                       \
        const long u0 = (long)j * GV * VL, ts = s->ts, rs = s->rs; /* columns u0 .. */    \
        const float *h_prev = t ? s->hs + (t - 1) * ts * H : s->h0;                       \
        const long hp_rs = t ? rs * H : H; /* row stride of h_prev */                     \
        const long left = (H - u0) / VL;   /* H % 16 == 0: whole vectors are valid */      \
        const int nv = left < GV ? (int)left : GV;                                        \
        vf acc[mr][GV];                                                                   \
        const float *ain = s->a_in + (t * ts + r0 * rs) * H + u0;                         \
        for (int r = 0; r < (mr); r++)                                                    \
            for (int v = 0; v < GV; v++)                                                  \
                acc[r][v] = v < nv ? vload(ain + r * rs * H + VL * v) : vzero();          \
        const float *a = h_prev + r0 * hp_rs, *bp = s->wp + (u0 / NR) * NR * H + u0 % NR; \
        const long a_rs = hp_rs, a_cs = 1;                                                \
        TILE_LOOP(mr, GV, VL, LOAD_PLAIN, NR)                                             \
        const vf zero = vzero();                                                          \
        for (int r = 0; r < (mr); r++) {                                                  \
            const long b = r0 + r;                                                        \
            const int carry = s->mask && !s->mask[t * ts + b * rs];                       \
            float *out = s->hs + (t * ts + b * rs) * H + u0;                              \
            for (int v = 0; v < GV; v++) { /* constant bounds: acc stays in registers */  \
                if (v >= nv) break;                                                       \
                vf h = s->relu ? vmax(zero, acc[r][v]) : vtanh(acc[r][v]);                \
                if (carry) h = vload(h_prev + b * hp_rs + u0 + VL * v);                   \
                vstore(out + VL * v, h);                                                  \
            }                                                                             \
        }                                                                                 \
    }

DEFINE_RNN_FWD_TILE(1)
DEFINE_RNN_FWD_TILE(2)
DEFINE_RNN_FWD_TILE(3)
DEFINE_RNN_FWD_TILE(4)
DEFINE_RNN_FWD_TILE(5)
DEFINE_RNN_FWD_TILE(6)

/* Where a column tile is narrower than a panel (AVX2, generic), row tiles outer: a tile's rows
 * of h_{t-1} stay in L1 across the column tiles, where the columns-outer order counted on
 * keeping a column tile of W_hh^T in L1 across the row tiles — on AVX2 a 16-column tile spans H
 * lines in a quarter of L1's sets. At C3 rows outer ran the inference 81 -> 69 ms on AVX2 and
 * changed nothing on AVX-512 (Intel Xeon family 6 model 207, 2026-12-06), where the columns
 * stay outer: a whole panel per column tile, re-read from L2 across the row tiles, as measured
 * on Zen 5 (1 MiB of L2, which W_hh^T at C3 fills). */
static void rnn_fwd_worker(void *ctx, int tid, int nth) {
    rnn_fwd_args *s = (rnn_fwd_args *)ctx;
    const int lo = s->B * tid / nth, hi = s->B * (tid + 1) / nth;
    const int chunks = (s->H + GV * VL - 1) / (GV * VL); /* column tiles of GV vectors */
    for (int t = 0; t < s->T; t++) {
#if GV * VL < NR
        for (int r0 = lo; r0 < hi; r0 += MR_GEMM)
            for (int j = 0; j < chunks; j++) {
                TILE_SWITCH(rnn_fwd_tile, hi - r0, MR_GEMM, s, t, r0, j)
            }
#else
        for (int j = 0; j < chunks; j++)
            for (int r0 = lo; r0 < hi; r0 += MR_GEMM) {
                TILE_SWITCH(rnn_fwd_tile, hi - r0, MR_GEMM, s, t, r0, j)
            }
#endif
    }
}

/* Rows lo .. hi-1 of src (row b at src + b*lds, G floats, G % 16 == 0) into columns col0 + b of
 * dst (G x ldt): the δ of a step transposed while it is in cache, so that the weight gradients
 * after the loop are GEMMs whose A rows are contiguous (streaming stores where aligned). */
static void transpose_rows(const float *src, long lds, long G, int lo, int hi, float *dst,
                                  long ldt, long col0) {
    for (long g = 0; g < G; g += 16) {
        int b = lo;
        for (; b + 16 <= hi; b += 16)
            transpose16(src + b * lds + g, lds, dst + g * ldt + col0 + b, ldt, 1);
        for (; b < hi; b++)
            for (long j = 0; j < 16; j++) dst[(g + j) * ldt + col0 + b] = src[b * lds + g + j];
    }
}

/* ---------------------------------------------------------------- SimpleRNN backward
 * Per step t = T-1 .. 0, with dh the gradient arriving at h_t:
 *   dh += d_out[t]
 *   δ_t = dh act'(a_t), act' from h_t: 1 - h_t² (tanh) or [h_t > 0] (relu)   → d_pre[t]
 *   dh ← δ_t W_hh                   (this thread's rows, one packed GEMM)
 * Masked rows get δ = 0 and pass dh through unchanged. dbias (B, H), zeros in: row b gets
 * Σ_t δ of row b, in step order (thread counts change no bit). δ also goes transposed into
 * d_pre_t (H x ldt, column t*B + b) for the weight-gradient GEMM after the loop. */
typedef struct {
    int T, B, H, relu;
    const float *hs;     /* (T, B, H) */
    const float *d_out;  /* (T, B, H), or NULL */
    const float *wp;     /* packed W_hh (H x H): [ceil(H/64)][H][64] */
    const uint8_t *mask; /* (T, B), or NULL */
    float *dh;           /* (B, H): in, the gradient at h_T; out, at h0 */
    float *d_pre;        /* (T, B, H) */
    float *dbias;        /* (B, H) */
    float *d_pre_t;      /* (H, ldt) */
    long ldt;
    long ts, rs;         /* row (t, b) of hs, d_out, d_pre and mask is row t*ts + b*rs:
                            (B, T, ·) when batch-major; dh, dbias, d_pre_t as above */
    float *dloc;         /* with tune.gather_rows and a batch-major d_pre: (B, H) for δ_t,
                            which the GEMM and the transpose read before it is copied to d_pre
                            (as lstm_bwd_args.dloc); or NULL */
} rnn_bwd_args;

static void rnn_bwd_worker(void *ctx, int tid, int nth) {
    rnn_bwd_args *s = (rnn_bwd_args *)ctx;
    const int B = s->B, H = s->H;
    const int lo = B * tid / nth, hi = B * (tid + 1) / nth;
    const vf one = vset1(1.0f), zero = vzero();
    const long ts = s->ts, rs = s->rs;
    gemm_args g = {hi - lo, H, H, NULL, rs * H, 1, s->wp, (long)H * NR, NR, NULL,
                   s->dh + (long)lo * H, H, 1};
    for (int t = s->T - 1; t >= 0; t--) {
        for (long b = lo; b < hi; b++) {
            const long row = t * ts + b * rs;
            const int carry = s->mask && !s->mask[row];
            float *dhr = s->dh + b * H, *db = s->dbias + b * H;
            float *dp = s->dloc ? s->dloc + b * H : s->d_pre + row * H;
            for (long u = 0; u < H; u += VL) {
                vf dh = vload(dhr + u);
                if (s->d_out) dh = vadd(dh, vload(s->d_out + row * H + u));
                if (carry) {
                    vstore(dp + u, zero);
                    vstore(dhr + u, dh); /* the GEMM adds δ W_hh = 0 to it */
                    continue;
                }
                vf h = vload(s->hs + row * H + u);
                vf d = s->relu ? vwhere_pos(h, dh)
                                   : vmul(dh, vfnma(h, h, one));
                vstore(dp + u, d);
                vstore(db + u, vadd(vload(db + u), d));
                vstore(dhr + u, zero);
            }
        }
        const float *delta = s->dloc ? s->dloc : s->d_pre + t * ts * H; /* δ of (t, row 0) */
        g.a_rs = s->dloc ? H : rs * H;
        g.a = delta + lo * g.a_rs;
        if (hi > lo) gemm_part(&g, 0, 1); /* dh += δ_t W_hh for this thread's rows */
        transpose_rows(delta, g.a_rs, H, lo, hi, s->d_pre_t, s->ldt, (long)t * B);
        if (s->dloc) copy_rows(s->d_pre + t * ts * H, rs * H, s->dloc, H, lo, hi, H, 0);
    }
    vsfence(); /* the streaming stores are visible before the threads join */
}

/* ---------------------------------------------------------------- GRU backward
 * Per step t = T-1 .. 0, with dh the gradient arriving at h_t and r, z, n, q = W_hn h + b_hn
 * from the forward (equations in cells/gru.py):
 *   dh += d_out[t];   A = (1 - z)(1 - n²)
 *   δr = dh A q r(1 - r)   δz = dh (h_{t-1} - n) z(1 - z)   δn = dh A
 *   d_x[t] = [δr, δz, δn]   (input side)     d_h[t] = [δr, δz, δn r]   (recurrent side)
 *   dh ← dh z + d_h[t] W_hh      (this thread's rows; W_hh is 3H x H, one packed GEMM)
 * Masked rows get δ = 0 and pass dh through unchanged. The bias sums (zeros in) are added in
 * step order by the row's thread: thread counts change no bit. d_x and δn r also go transposed
 * into d_x_t (3H x ldt) and d_hn_t (H x ldt), column t*B + b, for the weight-gradient GEMMs
 * after the loop; d_h is one step's scratch. */
typedef struct {
    int T, B, H;
    const float *gates;  /* (T, B, 3H) r, z, n */
    const float *hn;     /* (T, B, H) q */
    const float *hs;     /* (T, B, H) */
    const float *h0;     /* (B, H) */
    const float *d_out;  /* (T, B, H), or NULL */
    const float *wp;     /* packed W_hh (3H x H): [ceil(H/64)][3H][64] */
    const uint8_t *mask; /* (T, B), or NULL */
    float *dh;           /* (B, H): in, the gradient at h_T; out, at h0 */
    float *d_x;          /* (T, B, 3H) */
    float *d_h;          /* (B, 3H): this step's recurrent-side δ */
    float *d_x_t, *d_hn_t; /* (3H, ldt), (H, ldt) */
    long ldt;
    float *dbias_x;      /* (B, 3H): row b gets Σ_t d_x of row b */
    float *dbias_h;      /* (B, H): row b gets Σ_t δn r of row b (the r, z parts are d_x's) */
} gru_bwd_args;

static inline void add_to(float *p, vf v) {
    vstore(p, vadd(vload(p), v));
}

static void gru_bwd_worker(void *ctx, int tid, int nth) {
    gru_bwd_args *s = (gru_bwd_args *)ctx;
    const int B = s->B, H = s->H;
    const long G = 3L * H;
    const int lo = B * tid / nth, hi = B * (tid + 1) / nth;
    const vf one = vset1(1.0f), zero = vzero();
    gemm_args g = {hi - lo, H, (int)G, NULL, G, 1, s->wp, G * NR, NR, NULL,
                   s->dh + (long)lo * H, H, 1};
    for (int t = s->T - 1; t >= 0; t--) {
        for (long b = lo; b < hi; b++) {
            const long row = (long)t * B + b;
            const int carry = s->mask && !s->mask[row];
            const float *gr = s->gates + row * G, *qr = s->hn + row * H;
            const float *hp = t ? s->hs + (row - B) * H : s->h0 + b * H;
            float *dhr = s->dh + b * H, *dx = s->d_x + row * G, *dr = s->d_h + b * G;
            float *dbx = s->dbias_x + b * G, *dbh = s->dbias_h + b * H;
            for (long u = 0; u < H; u += VL) {
                vf dh = vload(dhr + u);
                if (s->d_out) dh = vadd(dh, vload(s->d_out + row * H + u));
                if (carry) {
                    for (int k = 0; k < 3; k++) {
                        vstore(dx + k * H + u, zero);
                        vstore(dr + k * H + u, zero);
                    }
                    vstore(dhr + u, dh);
                    continue;
                }
                vf r = vload(gr + u), z = vload(gr + H + u);
                vf n = vload(gr + 2 * H + u), q = vload(qr + u);
                vf h = vload(hp + u);
                vf dn = vmul(dh, vmul(vsub(one, z),
                                                            vfnma(n, n, one)));
                vf d_r = vmul(vmul(dn, q),
                                           vmul(r, vsub(one, r)));
                vf d_z = vmul(vmul(dh, vsub(h, n)),
                                           vmul(z, vsub(one, z)));
                vf d_hn = vmul(dn, r);
                vstore(dx + u, d_r);
                vstore(dx + H + u, d_z);
                vstore(dx + 2 * H + u, dn);
                vstore(dr + u, d_r);
                vstore(dr + H + u, d_z);
                vstore(dr + 2 * H + u, d_hn);
                add_to(dbx + u, d_r);
                add_to(dbx + H + u, d_z);
                add_to(dbx + 2 * H + u, dn);
                add_to(dbh + u, d_hn);
                vstore(dhr + u, vmul(dh, z)); /* + d_h W_hh below */
            }
        }
        g.a = s->d_h + (long)lo * G;
        if (hi > lo) gemm_part(&g, 0, 1); /* dh += d_h W_hh for this thread's rows */
        transpose_rows(s->d_x + (long)t * B * G, G, G, lo, hi, s->d_x_t, s->ldt, (long)t * B);
        transpose_rows(s->d_h + 2 * H, G, H, lo, hi, s->d_hn_t, s->ldt, (long)t * B);
    }
    vsfence();
}


/* ---------------------------------------------------------------- minGRU / minLSTM scans
 * The minimal cells (cells/minimal.py, Feng et al. 2024): gates from the pre-activations
 * p = x W_ihᵀ + b_ih alone, so each unit follows h_t = a_t h_{t-1} + b_t, one pass each way:
 *   minGRU  (rows of p: k, v):      a = σ(-k), b = σ(k) g(v)
 *   minLSTM (rows of p: k_f, k_i, v): f = σ(k_f), i = σ(k_i), a = f/(f+i), b = i/(f+i) g(v)
 *   g(v) = σ(min(v, 0)) + max(v, 0)            (v + 1/2 for v >= 0, σ(v) below)
 * A masked (b, t) keeps h (a = 1, b = 0). Backward runs t downwards with the carry
 * c = a_{t+1} μ_{t+1}: μ_t = d_out_t + c, ∂L/∂a_t = μ_t h_{t-1}, ∂L/∂b_t = μ_t, writes ∂L/∂p
 * and leaves ∂L/∂h_0 in dh (which holds ∂L/∂h_T on entry). Element (b, t) is row b*sb + t*st of
 * p, hs, d_out and mask (time- or batch-major). Work: (b, VL-unit block) pairs split over the
 * threads. minLSTM clamps k_f, k_i to ±80 so that f + i stays a normal float (there σ is 1 or
 * below 2e-35 either way). Memory-bound: per element and direction a few floats read and
 * written (docs/parallel-rnn.md measures it against the machine's bandwidth). */
typedef struct {
    int T, B, H, lstm;
    const float *pre, *h0, *d_out;
    const uint8_t *mask;
    float *hs, *dh, *d_pre;
    long long sb, st;
} min_args;

typedef struct {
    vf a, b, z, ht, dg, ip, sf, si; /* sf, si: σ(−k_f), σ(−k_i) (minLSTM) */
} min_gates;

/* σ(x) and σ(−x) from one exponential: e = e^−|x|, r = 1/(1 + e); for x >= 0 σ(x) = r and
 * σ(−x) = e r, below the other way round */
SIMD_INLINE void sigmoid_pair(vf x, vf *pos, vf *neg) {
    const vf zero = vzero();
    vf e = vexp(vsub(zero, vmax(vsub(zero, x), x))); /* e^−|x| */
    vf r = vrecip(vadd(vset1(1.0f), e)), er = vmul(e, r);
    *pos = vselect_ge0(x, r, er);
    *neg = vselect_ge0(x, er, r);
}

SIMD_INLINE min_gates min_gates_at(const min_args *s, const float *p, int j) {
    const int H = s->H;
    const vf zero = vzero();
    min_gates q;
    vf v = vload(p + (s->lstm ? 2 : 1) * H + j);
    vf sg = vsigmoid(vmin(v, zero));
    q.ht = vadd(sg, vmax(v, zero));
    q.dg = vselect_ge0(v, vset1(1.0f), vmul(sg, vsub(vset1(1.0f), sg)));
    if (!s->lstm) {
        sigmoid_pair(vload(p + j), &q.z, &q.a); /* z = σ(k), a = σ(−k) */
        q.ip = q.z;
        q.sf = q.si = zero;
    } else {
        const vf lo = vset1(-80.0f), hi = vset1(80.0f);
        vf f, i;
        sigmoid_pair(vmin(hi, vmax(lo, vload(p + j))), &f, &q.sf);
        sigmoid_pair(vmin(hi, vmax(lo, vload(p + H + j))), &i, &q.si);
        vf sum = vadd(f, i);
        q.a = vdiv(f, sum);
        q.ip = vdiv(i, sum);
        q.z = q.ip;
    }
    q.b = vmul(q.ip, q.ht);
    return q;
}

/* units [u0, u1) of B * H/VL for thread tid */
static void min_units(const min_args *s, int tid, int nth, long *u0, long *u1) {
    long U = (long)s->B * (s->H / VL);
    *u0 = U * tid / nth;
    *u1 = U * (tid + 1) / nth;
}

/* Each thread walks t for its units of one batch row at a time, all its VL-unit blocks of a
 * row per step: it reads and writes whole row stretches (what the prefetchers stream), the
 * states of its blocks in `carry`. */
static void min_fwd_worker(void *ctx, int tid, int nth) {
    const min_args *s = (const min_args *)ctx;
    const int H = s->H, NB = H / VL, G = s->lstm ? 3 : 2;
    long u0, u1;
    min_units(s, tid, nth, &u0, &u1);
    float *carry = (float *)malloc((size_t)H * sizeof(float));
    if (!carry) return;
    for (long u = u0; u < u1;) {
        const int b = (int)(u / NB), j0 = (int)(u % NB);
        const int j1 = (u1 - (long)b * NB) < NB ? (int)(u1 - (long)b * NB) : NB;
        memcpy(carry + VL * j0, s->h0 + (long)b * H + VL * j0, (size_t)(j1 - j0) * VL * 4);
        for (int t = 0; t < s->T; t++) {
            const long long row = b * s->sb + t * s->st;
            const int valid = !s->mask || s->mask[row];
            const float *p = s->pre + row * G * H;
            float *out = s->hs + row * H;
            for (int jb = j0; jb < j1; jb++) {
                vf h = vload(carry + VL * jb);
                if (valid) {
                    min_gates q = min_gates_at(s, p, VL * jb);
                    h = vfma(q.a, h, q.b);
                    vstore(carry + VL * jb, h);
                }
                vstore(out + VL * jb, h);
            }
        }
        u += j1 - j0;
    }
    free(carry);
}

static void min_bwd_worker(void *ctx, int tid, int nth) {
    const min_args *s = (const min_args *)ctx;
    const int H = s->H, NB = H / VL, G = s->lstm ? 3 : 2;
    const vf zero = vzero();
    long u0, u1;
    min_units(s, tid, nth, &u0, &u1);
    float *carry = (float *)malloc((size_t)H * sizeof(float));
    if (!carry) return;
    for (long u = u0; u < u1;) {
        const int b = (int)(u / NB), j0 = (int)(u % NB);
        const int j1 = (u1 - (long)b * NB) < NB ? (int)(u1 - (long)b * NB) : NB;
        memcpy(carry + VL * j0, s->dh + (long)b * H + VL * j0, (size_t)(j1 - j0) * VL * 4);
        for (int t = s->T - 1; t >= 0; t--) {
            const long long row = b * s->sb + t * s->st;
            float *dp = s->d_pre + row * G * H;
            const float *p = s->pre + row * G * H;
            const float *hp = t ? s->hs + (row - s->st) * H : s->h0 + (long)b * H;
            const float *dout = s->d_out ? s->d_out + row * H : NULL;
            const int valid = !s->mask || s->mask[row];
            for (int jb = j0; jb < j1; jb++) {
                const int j = VL * jb;
                vf mu = vload(carry + j);
                if (dout) mu = vadd(mu, vload(dout + j));
                if (!valid) { /* a = 1, b = 0: the gradient passes to h_{t-1} unchanged */
                    for (int g = 0; g < G; g++) vstore(dp + g * H + j, zero);
                    vstore(carry + j, mu);
                    continue;
                }
                min_gates q = min_gates_at(s, p, j);
                vf da = vmul(mu, vload(hp + j));
                vf dv = vmul(vmul(mu, q.ip), q.dg);
                vf r = vfms(mu, q.ht, da); /* ∂b h̃ − ∂a */
                if (!s->lstm) { /* ∂k = (∂b h̃ − ∂a) z (1 − z), 1 − z = a */
                    vstore(dp + j, vmul(r, vmul(q.z, q.a)));
                    vstore(dp + H + j, dv);
                } else { /* ∂d = (∂a − ∂b h̃) a i'; ∂k_f = ∂d σ(−k_f), ∂k_i = −∂d σ(−k_i) */
                    vf dd = vmul(r, vmul(q.a, q.ip)); /* = −∂d */
                    vstore(dp + j, vsub(zero, vmul(dd, q.sf)));
                    vstore(dp + H + j, vmul(dd, q.si));
                    vstore(dp + 2 * H + j, dv);
                }
                vstore(carry + j, vmul(q.a, mu));
            }
        }
        memcpy(s->dh + (long)b * H + VL * j0, carry + VL * j0, (size_t)(j1 - j0) * VL * 4);
        u += j1 - j0;
    }
    free(carry);
}

/* rnn_forward(T, B, H, a_in, w_hh, h0, hs, mask, relu, threads, batch_major=False): see
 * rnn_fwd_args; w_hh is W_hh^T packed by rnnlab.native.pack; batch_major: a_in, hs and mask
 * are (B, T, ...) instead of (T, B, ...). */
static PyObject *py_rnn_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    static argspec spec = {"rnn_forward", "iiiOOOOOpi|p",
                            {"T", "B", "H", "a_in", "w_hh", "h0", "hs", "mask", "relu",
                             "threads", "batch_major", NULL}};
    int T, B, H, relu, nth, batch_major = 0;
    PyObject *oa, *ow, *oh0, *ohs, *omask;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &oa, &ow, &oh0, &ohs, &omask, &relu,
                   &nth, &batch_major))
        return NULL;
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "rnn_forward: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    long long BH = (long long)B * H, panels = (H + NR - 1) / NR;
    Py_buffer v[5];
    memset(v, 0, sizeof v);
    if (get_f32(oa, &v[0], T * BH, 0, 0, "a_in") ||
        get_f32(ow, &v[1], panels * H * NR, 0, 0, "w_hh") ||
        get_f32(oh0, &v[2], BH, 0, 0, "h0") || get_f32(ohs, &v[3], T * BH, 1, 0, "hs") ||
        get_u8(omask, &v[4], (long long)T * B, "mask")) {
        release_all(v, 5);
        return NULL;
    }
    rnn_fwd_args s = {T, B, H, relu, v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                      batch_major ? 1 : B, batch_major ? T : 1};
    run_rows(rnn_fwd_worker, &s, T, B, H, nth);
    release_all(v, 5);
    Py_RETURN_NONE;
}

/* rnn_backward(T, B, H, hs, d_out, w_hh, mask, dh, d_pre, dbias, d_pre_t, ldt, relu, threads,
 * batch_major=False): see rnn_bwd_args; w_hh is W_hh (H x H) packed by rnnlab.native.pack,
 * dbias (B, H) zeros; batch_major: hs, d_out, d_pre and mask are (B, T, ...). */
static PyObject *py_rnn_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    static argspec spec = {"rnn_backward", "iiiOOOOOOOOLpi|p",
                            {"T", "B", "H", "hs", "d_out", "w_hh", "mask", "dh", "d_pre", "dbias",
                             "d_pre_t", "ldt", "relu", "threads", "batch_major", NULL}};
    int T, B, H, relu, nth, batch_major = 0;
    long long ldt;
    PyObject *ohs, *odo, *ow, *omask, *odh, *odp, *odb, *odt;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &ohs, &odo, &ow, &omask, &odh, &odp,
                   &odb, &odt, &ldt, &relu, &nth, &batch_major))
        return NULL;
    if (ldt < (long long)T * B || ldt > (1LL << 26)) {
        PyErr_Format(PyExc_ValueError, "rnn_backward: expected T*B <= ldt <= 2^26, got %lld", ldt);
        return NULL;
    }
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "rnn_backward: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    long long BH = (long long)B * H, panels = (H + NR - 1) / NR;
    Py_buffer v[8];
    memset(v, 0, sizeof v);
    if (get_f32(odt, &v[7], (long long)H * ldt, 1, 0, "d_pre_t") ||
        get_f32(ohs, &v[0], T * BH, 0, 0, "hs") ||
        get_f32(odo, &v[1], T * BH, 0, 1, "d_out") ||
        get_f32(ow, &v[2], panels * H * NR, 0, 0, "w_hh") ||
        get_u8(omask, &v[3], (long long)T * B, "mask") ||
        get_f32(odh, &v[4], BH, 1, 0, "dh") || get_f32(odp, &v[5], T * BH, 1, 0, "d_pre") ||
        get_f32(odb, &v[6], BH, 1, 0, "dbias")) {
        release_all(v, 8);
        return NULL;
    }
    rnn_bwd_args s = {T, B, H, relu, v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                      v[5].buf, v[6].buf, v[7].buf, (long)ldt, batch_major ? 1 : B,
                      batch_major ? T : 1, NULL};
    if (tune.gather_rows && batch_major && T > 1 && B > 1)
        s.dloc = malloc(sizeof(float) * (size_t)BH); /* NULL: δ stays in d_pre */
    run_rows(rnn_bwd_worker, &s, T, B, H, nth);
    free(s.dloc);
    release_all(v, 8);
    Py_RETURN_NONE;
}

/* gru_backward(T, B, H, gates, hn, hs, h0, d_out, w_hh, mask, dh, d_x, d_h, dbias_x, dbias_h,
 * d_x_t, d_hn_t, ldt, threads): see gru_bwd_args; w_hh is W_hh (3H x H) packed by
 * rnnlab.native.pack, dbias_x (B, 3H) and dbias_h (B, H) zeros. */
static PyObject *py_gru_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    static argspec spec = {"gru_backward", "iiiOOOOOOOOOOOOOOLi",
                            {"T", "B", "H", "gates", "hn", "hs", "h0", "d_out", "w_hh", "mask",
                             "dh", "d_x", "d_h", "dbias_x", "dbias_h", "d_x_t", "d_hn_t", "ldt",
                             "threads", NULL}};
    int T, B, H, nth;
    long long ldt;
    PyObject *og, *oq, *ohs, *oh0, *odo, *ow, *omask, *odh, *odx, *odr, *obx, *obh, *oxt, *ont;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &og, &oq, &ohs, &oh0, &odo, &ow,
                   &omask, &odh, &odx, &odr, &obx, &obh, &oxt, &ont, &ldt, &nth))
        return NULL;
    if (ldt < (long long)T * B || ldt > (1LL << 26)) {
        PyErr_Format(PyExc_ValueError, "gru_backward: expected T*B <= ldt <= 2^26, got %lld", ldt);
        return NULL;
    }
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "gru_backward: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    long long BH = (long long)B * H, panels = (H + NR - 1) / NR;
    Py_buffer v[14];
    memset(v, 0, sizeof v);
    if (get_f32(oxt, &v[12], 3LL * H * ldt, 1, 0, "d_x_t") ||
        get_f32(ont, &v[13], (long long)H * ldt, 1, 0, "d_hn_t") ||
        get_f32(og, &v[0], 3 * T * BH, 0, 0, "gates") ||
        get_f32(oq, &v[1], T * BH, 0, 0, "hn") || get_f32(ohs, &v[2], T * BH, 0, 0, "hs") ||
        get_f32(oh0, &v[3], BH, 0, 0, "h0") || get_f32(odo, &v[4], T * BH, 0, 1, "d_out") ||
        get_f32(ow, &v[5], panels * 3 * H * NR, 0, 0, "w_hh") ||
        get_u8(omask, &v[6], (long long)T * B, "mask") ||
        get_f32(odh, &v[7], BH, 1, 0, "dh") || get_f32(odx, &v[8], 3 * T * BH, 1, 0, "d_x") ||
        get_f32(odr, &v[9], 3 * BH, 1, 0, "d_h") ||
        get_f32(obx, &v[10], 3 * BH, 1, 0, "dbias_x") ||
        get_f32(obh, &v[11], BH, 1, 0, "dbias_h")) {
        release_all(v, 14);
        return NULL;
    }
    gru_bwd_args s = {T, B, H, v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, v[5].buf,
                      v[6].buf, v[7].buf, v[8].buf, v[9].buf, v[12].buf, v[13].buf, (long)ldt,
                      v[10].buf, v[11].buf};
    run_rows(gru_bwd_worker, &s, T, B, H, nth);
    release_all(v, 14);
    Py_RETURN_NONE;
}

/* min_scan(T, B, H, lstm, pre, h0, hs, mask, sb, st, threads, backward=False, d_out=None,
 * dh=None, d_pre=None): the minGRU/minLSTM scans above. Forward writes hs; backward reads
 * hs and d_out (or None), takes ∂L/∂h_T in dh and leaves ∂L/∂h_0 there, writes d_pre. Rows of
 * (b, t): b*sb + t*st; pre (rows, G*H), hs and d_out (rows, H), mask (rows,) uint8 or None. */
static PyObject *py_min_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
    static argspec spec = {"min_scan", "iiipOOOOLLi|pOOO",
                            {"T", "B", "H", "lstm", "pre", "h0", "hs", "mask", "sb", "st",
                             "threads", "backward", "d_out", "dh", "d_pre", NULL}};
    int T, B, H, lstm, nth, backward = 0;
    long long sb, st;
    PyObject *op, *oh0, *ohs, *omask, *odo = Py_None, *odh = Py_None, *odp = Py_None;
    if (parse_args(&spec, args, nargs, kwnames, &T, &B, &H, &lstm, &op, &oh0, &ohs, &omask, &sb,
                   &st, &nth, &backward, &odo, &odh, &odp))
        return NULL;
    if (check_cpu() || check_dims(T, "T") || check_dims(B, "B") || check_dims(H, "H"))
        return NULL;
    if (H % 16 != 0) {
        PyErr_Format(PyExc_ValueError, "min_scan: H must be a multiple of 16, got %d", H);
        return NULL;
    }
    const long long rows = (long long)T * B, G = lstm ? 3 : 2;
    if (!((sb == 1 && st == B) || (sb == T && st == 1))) {
        PyErr_Format(PyExc_ValueError, "min_scan: expected (sb, st) = (1, B) or (T, 1), got (%lld, %lld)",
                     sb, st);
        return NULL;
    }
    Py_buffer v[7];
    memset(v, 0, sizeof v);
    if (get_f32(op, &v[0], rows * G * H, 0, 0, "pre") ||
        get_f32(oh0, &v[1], (long long)B * H, 0, 0, "h0") ||
        get_f32(ohs, &v[2], rows * H, !backward, 0, "hs") || get_u8(omask, &v[3], rows, "mask") ||
        (backward && (get_f32(odo, &v[4], rows * H, 0, 1, "d_out") ||
                      get_f32(odh, &v[5], (long long)B * H, 1, 0, "dh") ||
                      get_f32(odp, &v[6], rows * G * H, 1, 0, "d_pre")))) {
        release_all(v, 7);
        return NULL;
    }
    min_args s = {T, B, H, lstm, v[0].buf, v[1].buf, v[4].buf, v[3].buf, v[2].buf, v[5].buf,
                  v[6].buf, sb, st};
    long units = (long)B * (H / VL);
    if (nth > units) nth = (int)units;
    if (T && B && H) {
        Py_BEGIN_ALLOW_THREADS
        run_parallel(backward ? min_bwd_worker : min_fwd_worker, &s, nth);
        Py_END_ALLOW_THREADS
    }
    release_all(v, 7);
    Py_RETURN_NONE;
}

/* set_tuning(kc=, rb=, rbt=, kb_lstm=, spread_threads=, gather_rows=, depth_outer=,
 * stream_stores=, dynamic_split=): set those given (all checked before any is set); tuning(): the current ones
 * as a dict. */
static char *TUNING_NAMES[] = {"kc", "rb", "rbt", "kb_lstm", "spread_threads", "gather_rows",
                               "depth_outer", "stream_stores", "dynamic_split", NULL};

static PyObject *py_tuning(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return Py_BuildValue("{sisisisisisisisisi}", "kc", tune.kc, "rb", tune.rb, "rbt", tune.rbt,
                         "kb_lstm", tune.kb_lstm, "spread_threads", tune.spread_threads,
                         "gather_rows", tune.gather_rows, "depth_outer", tune.depth_outer,
                         "stream_stores", tune.stream_stores, "dynamic_split",
                         tune.dynamic_split);
}

static PyObject *py_set_tuning(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    tuning_t t = tune;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$iiiiiiiii:set_tuning", TUNING_NAMES, &t.kc,
                                     &t.rb, &t.rbt, &t.kb_lstm, &t.spread_threads,
                                     &t.gather_rows, &t.depth_outer, &t.stream_stores,
                                     &t.dynamic_split))
        return NULL;
    const int value[] = {t.kc, t.rb, t.rbt, t.kb_lstm, t.spread_threads, t.gather_rows,
                         t.depth_outer, t.stream_stores, t.dynamic_split};
    const int lo[] = {16, MR_GEMM, MR_GEMM, 0, 0, 0, 0, 0, 0};
    const int hi[] = {4096, 4096, 4096, 4096, 1, 1, 1, 1, 1};
    for (int i = 0; TUNING_NAMES[i]; i++)
        if (value[i] < lo[i] || value[i] > hi[i]) {
            PyErr_Format(PyExc_ValueError, "set_tuning: expected %s in %d .. %d, got %d",
                         TUNING_NAMES[i], lo[i], hi[i], value[i]);
            return NULL;
        }
    if (t.kb_lstm > 0 && t.kb_lstm < 16) {
        PyErr_Format(PyExc_ValueError, "set_tuning: expected kb_lstm 0 (none) or >= 16, got %d",
                     t.kb_lstm);
        return NULL;
    }
    tune = t;
    return py_tuning(self, NULL);
}

static PyMethodDef methods[] = {
    {"cpu_supported", py_cpu_supported, METH_NOARGS, "True if this CPU runs this path."},
    {"cpu_features", py_cpu_features, METH_NOARGS, "The x86 features that decide the paths."},
    {"same", py_same, METH_VARARGS, "True if two contiguous buffers hold the same bytes."},
    {"all_finite", py_all_finite, METH_O, "False if a float32 buffer holds an Inf or a NaN."},
    {"adam", KW(py_adam), "One Adam step over float32 arrays, in place."},
    {"sparse_xent", KW(py_sparse_xent), "Softmax cross-entropy from logits, fused."},
    {"sum_squares", py_sum_squares, METH_O, "Sum of squares of a float32 buffer, in double."},
    {"pack", KW(py_pack), "Copy a row-major matrix into 64-column panels."},
    {"pack_t", KW(py_pack_t), "Pack a transposed matrix with picked columns."},
    {"gemm", KW(py_gemm), "C = A Bp (+ bias | + C), Bp packed in 64-column panels."},
    {"lstm_forward", KW(py_lstm_forward), "Fused LSTM time loop (forward)."},
    {"lstm_backward", KW(py_lstm_backward), "Fused LSTM time loop (backward)."},
    {"gru_forward", KW(py_gru_forward), "Fused GRU time loop (forward)."},
    {"gru_backward", KW(py_gru_backward), "Fused GRU time loop (backward)."},
    {"rnn_forward", KW(py_rnn_forward), "Fused SimpleRNN time loop (forward)."},
    {"rnn_backward", KW(py_rnn_backward), "Fused SimpleRNN time loop (backward)."},
    {"min_scan", KW(py_min_scan), "minGRU/minLSTM scans (forward or backward)."},
    {"tuning", py_tuning, METH_NOARGS, "The blocking parameters in use, as a dict."},
    {"set_tuning", (PyCFunction)(void (*)(void))py_set_tuning, METH_VARARGS | METH_KEYWORDS,
     "Set blocking parameters by keyword; returns them all."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, MODULE_NAME,
                                    "rnnlab's float32 kernels, the " STR(ISA_ID)
                                    " path (see rnnlab.native).",
                                    -1, methods};

/* PyInit__kernels_avx512 / _avx2 / _generic. Import it only where cpu_features() (of the
 * generic module) says the CPU runs the path: the compiler may use the path's instructions
 * anywhere in this translation unit. */
PyMODINIT_FUNC CAT(PyInit__kernels_, ISA_ID)(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "PANEL", NR) < 0 ||
              PyModule_AddStringConstant(m, "ISA", STR(ISA_ID)) < 0 ||
              PyModule_AddIntConstant(m, "VECTOR_FLOATS", VL) < 0 ||
              PyModule_AddIntConstant(m, "KB_LSTM", KB_LSTM) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
