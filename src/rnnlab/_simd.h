/* _simd.h: the vector operations the kernels of _kernels.c are written in, for one instruction
 * set per compilation (setup.py compiles _kernels.c once per path, each into its own module):
 *
 *   RNNLAB_ISA_AVX512   16 floats per vector (zmm), 32 registers     -mavx512f -mavx512dq -mfma
 *   RNNLAB_ISA_AVX2      8 floats per vector (ymm), 16 registers     -mavx2 -mfma
 *   RNNLAB_ISA_GENERIC   4 floats per vector, GCC vector extensions: no -m flag; SSE2 on
 *                        x86-64, NEON on ARM64 (the compiler maps the 16-byte vectors)
 *
 * Each path defines the same names: the vector type vf and its mask type vmask; load/store,
 * masked (tail) load/store, broadcast, add/sub/mul/div, min/max, fma; e^x and the reciprocal
 * (the building blocks of σ and tanh, which are defined once below); horizontal sum and max;
 * the 16 x 16 block transpose; the non-finite test. And the register-tile shapes the kernels
 * use on that path (the tiles fill most of the registers without spilling):
 *
 *   MR_GEMM x GV     rows x vectors of a GEMM / SimpleRNN tile: 6 x 4 (6 x 64 floats) on
 *                    AVX-512, 6 x 2 (6 x 16) on AVX2 and generic
 *   MR_LSTM          rows of an LSTM tile of 4 gates x VL units: 6, 3, 2
 *   KB_LSTM          the LSTM forward's depth block (0: none), see lstm_fwd_part
 *   MR_GRU           rows of a GRU tile of 3 gates x VL units: 6, 4, 3
 *
 * The packed layouts (64-column panels; 16 units per gate group) are the same on every path,
 * so one packed operand serves all of them (rnnlab.native packs once, whichever path runs).
 */
#ifndef RNNLAB_SIMD_H
#define RNNLAB_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIMD_X86 1
#else
#define SIMD_X86 0
#endif

#define SIMD_INLINE static inline __attribute__((always_inline))

/* ================================================================ AVX-512 */
#if defined(RNNLAB_ISA_AVX512)
#define ISA_ID avx512
#define VL 16
#define MR_GEMM 6
#define GV 4
#define MR_LSTM 6
#define KB_LSTM 0 /* no depth blocking: 6 rows x 64 columns use whole cache lines */
#define MR_GRU 6
typedef __m512 vf;
typedef __mmask16 vmask;

SIMD_INLINE vf vload(const float *p) { return _mm512_loadu_ps(p); }
SIMD_INLINE void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
/* a streaming (non-temporal) store: p aligned to the vector; vsfence() before others read it */
SIMD_INLINE void vstream(float *p, vf v) { _mm512_stream_ps(p, v); }
SIMD_INLINE vmask vmask_n(long n) {
    return n >= 16 ? (vmask)0xFFFF : (n <= 0 ? (vmask)0 : (vmask)((1u << n) - 1));
}
SIMD_INLINE vf vload_m(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
SIMD_INLINE vf vload_m_or(const float *p, vmask m, vf fill) {
    return _mm512_mask_loadu_ps(fill, m, p);
}
SIMD_INLINE void vstore_m(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
SIMD_INLINE vf vzero(void) { return _mm512_setzero_ps(); }
SIMD_INLINE vf vset1(float x) { return _mm512_set1_ps(x); }
SIMD_INLINE vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
SIMD_INLINE vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SIMD_INLINE vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SIMD_INLINE vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
/* vmin(c, x), vmax(c, x): x where x is NaN (the instruction's second operand wins) */
SIMD_INLINE vf vmin(vf c, vf x) { return _mm512_min_ps(c, x); }
SIMD_INLINE vf vmax(vf c, vf x) { return _mm512_max_ps(c, x); }
SIMD_INLINE vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  /* a b + c */
SIMD_INLINE vf vfnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a b */
SIMD_INLINE vf vfms(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }  /* a b - c */
/* d where h > 0, else 0 (the relu derivative applied) */
SIMD_INLINE vf vwhere_pos(vf h, vf d) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(h, _mm512_setzero_ps(), _CMP_GT_OQ), d);
}
/* a where v >= 0, else b */
SIMD_INLINE vf vselect_ge0(vf v, vf a, vf b) {
    return _mm512_mask_mov_ps(b, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), a);
}
SIMD_INLINE float vreduce_add(vf v) { return _mm512_reduce_add_ps(v); }
SIMD_INLINE float vreduce_max(vf v) { return _mm512_reduce_max_ps(v); }
/* nonzero if a lane of v is Inf or NaN (exponent bits all ones) */
SIMD_INLINE int vnonfinite(vf v) {
    const __m512i e = _mm512_set1_epi32(0x7f800000);
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), e), e) != 0;
}
/* the 2^n of e^x: p 2^n for integral n in [-150, 128] (vscalefps) */
SIMD_INLINE vf vscale2(vf p, vf n) { return _mm512_scalef_ps(p, n); }
SIMD_INLINE vf vround(vf x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* 1/d for 1 <= d < 3.4e38: vrcp14ps (relative error < 2^-14) and one Newton step r (2 - d r):
 * ~2^-28, below float rounding; pipelines where a division would not. */
SIMD_INLINE vf vrecip(vf d) {
    vf r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}
SIMD_INLINE void vsfence(void) { _mm_sfence(); }

/* 16 x 16 transpose: rows[i][j] -> dst[j * ldd + i]; streaming stores when asked and dst and
 * ldd allow (64-byte aligned). Unpack 32-bit pairs, 64-bit pairs, then two rounds of 128-bit
 * lane shuffles. */
SIMD_INLINE void transpose16_regs(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4q + j], 128-bit lane L: column 4L + j of rows 4q .. 4q+3 */
    for (int j = 0; j < 4; j++) {
        __m512 a = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        __m512 b = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        __m512 c = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        __m512 d = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
        t[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(a, c, 0xdd);
        t[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

SIMD_INLINE void transpose16_rows(const float *const rows[16], float *dst, long ldd, int stream) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(rows[i]);
    transpose16_regs(r);
    if (stream && ((uintptr_t)dst | (uintptr_t)(ldd * 4)) % 64 == 0) {
        for (int i = 0; i < 16; i++) _mm512_stream_ps(dst + i * ldd, r[i]);
    } else {
        for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
    }
}

/* ================================================================ AVX2 + FMA */
#elif defined(RNNLAB_ISA_AVX2)
#define ISA_ID avx2
#define VL 8
#define MR_GEMM 6
#define GV 2
#define MR_LSTM 3
#define KB_LSTM 96 /* LSTM depth block: 96 x 4 cache lines = 24 KiB of weights in L1 */
#define MR_GRU 4
typedef __m256 vf;
typedef __m256i vmask;

SIMD_INLINE vf vload(const float *p) { return _mm256_loadu_ps(p); }
SIMD_INLINE void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
SIMD_INLINE void vstream(float *p, vf v) { _mm256_stream_ps(p, v); }
SIMD_INLINE vmask vmask_n(long n) {
    int k = n >= 8 ? 8 : (n <= 0 ? 0 : (int)n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
SIMD_INLINE vf vload_m(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
SIMD_INLINE vf vload_m_or(const float *p, vmask m, vf fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
SIMD_INLINE void vstore_m(float *p, vmask m, vf v) { _mm256_maskstore_ps(p, m, v); }
SIMD_INLINE vf vzero(void) { return _mm256_setzero_ps(); }
SIMD_INLINE vf vset1(float x) { return _mm256_set1_ps(x); }
SIMD_INLINE vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
SIMD_INLINE vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
SIMD_INLINE vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
SIMD_INLINE vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
SIMD_INLINE vf vmin(vf c, vf x) { return _mm256_min_ps(c, x); }
SIMD_INLINE vf vmax(vf c, vf x) { return _mm256_max_ps(c, x); }
SIMD_INLINE vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
SIMD_INLINE vf vfnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
SIMD_INLINE vf vfms(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
SIMD_INLINE vf vwhere_pos(vf h, vf d) {
    return _mm256_and_ps(_mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_GT_OQ), d);
}
SIMD_INLINE vf vselect_ge0(vf v, vf a, vf b) {
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
}
SIMD_INLINE float vreduce_add(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
SIMD_INLINE float vreduce_max(vf v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
SIMD_INLINE int vnonfinite(vf v) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    __m256i a = _mm256_and_si256(_mm256_castps_si256(v), e);
    return _mm256_movemask_epi8(_mm256_cmpeq_epi32(a, e)) != 0;
}
/* p 2^n for integral n in [-150, 128]: two factors 2^(n>>1) and 2^(n - (n>>1)), each a normal
 * float built from its exponent bits (one factor cannot hold 2^-150 or 2^128); a product
 * below 2^-126 flushes to zero under the kernels' FTZ, as vscalefps's does. */
SIMD_INLINE vf vscale2(vf p, vf n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
SIMD_INLINE vf vround(vf x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* vrcpps (relative error < 1.5 2^-12) and one Newton step: ~2^-23. vrcpps gives 0 for
 * d > 2^126 (the saturated σ: 0 as it should be). */
SIMD_INLINE vf vrecip(vf d) {
    vf r = _mm256_rcp_ps(d);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(1.0f)), r);
}
SIMD_INLINE void vsfence(void) { _mm_sfence(); }

/* 8 x 8 in registers: unpack 32-bit, shuffle 64-bit, permute 128-bit lanes */
SIMD_INLINE void transpose8_regs(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* Both 8 x 8 halves of a destination row's 16 floats are stored back to back, so that each
 * 64-byte line of dst is written whole by two consecutive (streaming) stores: written a half
 * at a time across the blocks, 16 lines stood half-written at once, more than the core's
 * write-combining buffers, and the LSTM backward's transpose of δ took 7 % of a C2 training
 * step (2026-12-06, Intel Xeon family 6 model 207 with AVX2 forced; this order ran LSTM
 * training C1 10 %, C2 8 %, C3 6 % faster). */
SIMD_INLINE void transpose16_rows(const float *const rows[16], float *dst, long ldd, int stream) {
    const int nt = stream && ((uintptr_t)dst | (uintptr_t)(ldd * 4)) % 32 == 0;
    for (int bj = 0; bj < 16; bj += 8) { /* source columns bj .. bj+7 */
        __m256 r[8], q[8];               /* of source rows 0 .. 7 and 8 .. 15 */
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows[i] + bj);
        for (int i = 0; i < 8; i++) q[i] = _mm256_loadu_ps(rows[8 + i] + bj);
        transpose8_regs(r);
        transpose8_regs(q);
        float *d = dst + (long)bj * ldd;
        for (int i = 0; i < 8; i++) {
            if (nt) {
                _mm256_stream_ps(d + i * ldd, r[i]);
                _mm256_stream_ps(d + i * ldd + 8, q[i]);
            } else {
                _mm256_storeu_ps(d + i * ldd, r[i]);
                _mm256_storeu_ps(d + i * ldd + 8, q[i]);
            }
        }
    }
}

/* ================================================================ portable */
#elif defined(RNNLAB_ISA_GENERIC)
#define ISA_ID generic
#define VL 4
#define MR_GEMM 6
#define GV 2
#define MR_LSTM 2
#define KB_LSTM 96
#define MR_GRU 3
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
typedef long vmask; /* lanes in use */

SIMD_INLINE vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
SIMD_INLINE void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
SIMD_INLINE void vstream(float *p, vf v) { vstore(p, v); }
SIMD_INLINE vmask vmask_n(long n) { return n >= VL ? VL : (n <= 0 ? 0 : n); }
SIMD_INLINE vf vzero(void) { return (vf){0.0f, 0.0f, 0.0f, 0.0f}; }
SIMD_INLINE vf vset1(float x) { return (vf){x, x, x, x}; }
SIMD_INLINE vf vload_m(const float *p, vmask m) {
    vf v = vzero();
    if (m > 0) memcpy(&v, p, (size_t)m * sizeof(float));
    return v;
}
SIMD_INLINE vf vload_m_or(const float *p, vmask m, vf fill) {
    vf v = fill;
    if (m > 0) memcpy(&v, p, (size_t)m * sizeof(float));
    return v;
}
SIMD_INLINE void vstore_m(float *p, vmask m, vf v) {
    if (m > 0) memcpy(p, &v, (size_t)m * sizeof(float));
}
SIMD_INLINE vf vadd(vf a, vf b) { return a + b; }
SIMD_INLINE vf vsub(vf a, vf b) { return a - b; }
SIMD_INLINE vf vmul(vf a, vf b) { return a * b; }
SIMD_INLINE vf vdiv(vf a, vf b) { return a / b; }
SIMD_INLINE vf vselect(vi m, vf a, vf b) { /* a where m, else b */
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}
SIMD_INLINE vf vmin(vf c, vf x) { return vselect(c < x, c, x); } /* NaN x: x */
SIMD_INLINE vf vmax(vf c, vf x) { return vselect(c > x, c, x); }
/* no fused multiply-add in the portable path (the build has no -m flag: SSE2 on x86-64) */
SIMD_INLINE vf vfma(vf a, vf b, vf c) { return a * b + c; }
SIMD_INLINE vf vfnma(vf a, vf b, vf c) { return c - a * b; }
SIMD_INLINE vf vfms(vf a, vf b, vf c) { return a * b - c; }
SIMD_INLINE vf vwhere_pos(vf h, vf d) { return (vf)((vi)d & (h > vzero())); }
SIMD_INLINE vf vselect_ge0(vf v, vf a, vf b) { return vselect(v >= vzero(), a, b); }
SIMD_INLINE float vreduce_add(vf v) { return (v[0] + v[2]) + (v[1] + v[3]); }
SIMD_INLINE float vreduce_max(vf v) {
    float a = v[0] > v[2] ? v[0] : v[2], b = v[1] > v[3] ? v[1] : v[3];
    return a > b ? a : b;
}
SIMD_INLINE int vnonfinite(vf v) {
    const vi e = {0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000};
    vi a = ((vi)v & e) == e;
    return (a[0] | a[1] | a[2] | a[3]) != 0;
}
SIMD_INLINE vf vscale2(vf p, vf n) {
    vi ni = __builtin_convertvector(n, vi);
    vi n1 = ni >> 1, n2 = ni - n1;
    vf s1 = (vf)((n1 + 127) << 23), s2 = (vf)((n2 + 127) << 23);
    return p * s1 * s2;
}
/* round to nearest for |x| < 2^22 (|x| <= 151 here): adding 1.5 2^23 drops the fraction */
SIMD_INLINE vf vround(vf x) {
    const vf magic = vset1(12582912.0f);
    return (x + magic) - magic;
}
SIMD_INLINE vf vrecip(vf d) { return vset1(1.0f) / d; }
SIMD_INLINE void vsfence(void) {}

SIMD_INLINE void transpose16_rows(const float *const rows[16], float *dst, long ldd, int stream) {
    (void)stream;
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++) dst[j * ldd + i] = rows[i][j];
}
#else
#error "define one of RNNLAB_ISA_AVX512, RNNLAB_ISA_AVX2, RNNLAB_ISA_GENERIC"
#endif

/* ================================================================ shared by every path */
SIMD_INLINE void transpose16(const float *src, long lds, float *dst, long ldd, int stream) {
    const float *rows[16];
    for (int i = 0; i < 16; i++) rows[i] = src + i * lds;
    transpose16_rows(rows, dst, ldd, stream);
}

/* e^x: n = round(x log2 e), r = x - n ln2 (Cody-Waite split), e^r by a degree-6 polynomial
 * fitted to e^r on |r| <= ln2/2 for least maximum relative error (Lawson iterations; 1.9e-9
 * in exact arithmetic, 9.6e-8 evaluated in float32), then p 2^n. NaN passes through the
 * clamps. */
SIMD_INLINE vf vexp(vf x) {
    x = vmin(vset1(88.7f), x);
    x = vmax(vset1(-104.0f), x);
    vf n = vround(vmul(x, vset1(1.44269504088896341f)));
    vf r = vfnma(n, vset1(0.693359375f), x);
    r = vfnma(n, vset1(-2.12194440e-4f), r);
    vf p = vset1(0.0013836841098964214f);
    p = vfma(p, r, vset1(0.008374815806746483f));
    p = vfma(p, r, vset1(0.04166822507977486f));
    p = vfma(p, r, vset1(0.16666419804096222f));
    p = vfma(p, r, vset1(0.49999991059303284f));
    p = vfma(p, r, vset1(1.0f));
    p = vfma(p, r, vset1(1.0f));
    return vscale2(p, n);
}

/* σ(x) = 1 / (1 + e^-x) */
SIMD_INLINE vf vsigmoid(vf x) { return vrecip(vadd(vset1(1.0f), vexp(vsub(vzero(), x)))); }

/* tanh x = 2σ(2x) - 1 (absolute error ~1e-7, the spacing of floats near 1) */
SIMD_INLINE vf vtanh(vf x) {
    vf one = vset1(1.0f);
    vf e = vexp(vmul(x, vset1(-2.0f)));
    return vfms(vset1(2.0f), vrecip(vadd(one, e)), one);
}

#endif /* RNNLAB_SIMD_H */
