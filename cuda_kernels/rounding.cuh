// Arithmetic rounded as written, never fused into multiply-adds.
//
// The median and cosmic-ray kernels reproduce drizzlepac's numpy arithmetic
// bit for bit (float32 products, float64 thresholds), so a product followed
// by a sum must be rounded twice, as numpy does.  NVRTC contracts a * b + c
// into an FMA by default: the explicit _rn intrinsics are never contracted.
// GCC contracts too when the target has FMA (e.g. -march=haswell, aarch64):
// the pragma below switches that off for this translation unit; it must come
// before any function definition, so include this header first.  Clang
// contracts only within one expression, which these helpers never span.
#pragma once

#if !defined(__CUDACC__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "common.cuh"

#ifdef __CUDACC__
GD_DEVICE float rd_fmul(float a, float b) { return __fmul_rn(a, b); }
GD_DEVICE float rd_fadd(float a, float b) { return __fadd_rn(a, b); }
GD_DEVICE double rd_dmul(double a, double b) { return __dmul_rn(a, b); }
GD_DEVICE double rd_dadd(double a, double b) { return __dadd_rn(a, b); }
#else
GD_DEVICE float rd_fmul(float a, float b) { return a * b; }
GD_DEVICE float rd_fadd(float a, float b) { return a + b; }
GD_DEVICE double rd_dmul(double a, double b) { return a * b; }
GD_DEVICE double rd_dadd(double a, double b) { return a + b; }
#endif
