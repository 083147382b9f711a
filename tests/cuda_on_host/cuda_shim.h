// The CUDA device-side names the kernel sources use, for the host C++ compiler,
// so that the __CUDACC__ branch of every source (the code NVRTC compiles) runs on
// the CPU, over exactly the grid and block of a launch.  Used by the CuPy
// emulation (tests/fakecupy.py), which includes this header, then one kernel
// source, then a launcher per kernel:
//
//   emu_run_threads(grid, block, body): kernels without block-level
//       synchronisation.  Blocks are spread over OpenMP threads; within a block
//       the threads run one after the other (threadIdx.x = 0 .. block - 1), each
//       calling the kernel to the end.  Atomics are real atomics
//       (std::atomic_ref), since blocks run at the same time.  A barrier or a
//       warp vote in such a kernel is an error (it would need the block's other
//       threads to be running).
//   emu_run_blocks(grid, block, body): kernels that synchronise their blocks
//       (__syncthreads, __syncwarp, __ballot_sync).  Each block runs as `block`
//       fibers (user-space threads with their own stacks) on one OpenMP thread;
//       a fiber runs until it reaches a barrier, then the next one runs, and
//       the barrier opens when all the threads it waits for have reached it.
//       __shared__ variables are thread_local: one copy per OpenMP thread, i.e.
//       per block running.  A barrier that cannot open (threads that returned,
//       or wait at another barrier) is an error, as it hangs a GPU.
//
// Errors are recorded (first one wins) and read back with emu_take_error(),
// which the EMU_RUNTIME translation unit defines.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <new>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__) && !defined(EMU_UCONTEXT)
#define EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

#ifndef __CUDACC__
#define __CUDACC__ 1
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static thread_local
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

// ---------------------------------------------------------------- errors

extern "C" {
extern std::atomic<int> emu_failed;
extern char emu_message[512];
const char* emu_take_error();
}

__attribute__((format(printf, 1, 2))) static void emu_fail(const char* fmt, ...) {
    int expected = 0;
    if (!emu_failed.compare_exchange_strong(expected, 1)) return;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(emu_message, sizeof emu_message, fmt, ap);
    va_end(ap);
}

#ifdef EMU_RUNTIME
extern "C" {
std::atomic<int> emu_failed{0};
char emu_message[512];
// The first error since the last call (an empty string if none), and forget it.
const char* emu_take_error() {
    static thread_local char copy[sizeof emu_message];
    copy[0] = 0;
    if (emu_failed.load()) {
        std::memcpy(copy, emu_message, sizeof copy);
        emu_failed.store(0);
    }
    return copy;
}
}
#endif

// ---------------------------------------------------------------- indices

struct emu_dim3 {
    unsigned int x, y, z;
};
// threadIdx and blockIdx change per thread and per block; gridDim and blockDim
// are constants of a launch, set in every OpenMP thread of it.
static thread_local emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
static thread_local const char* emu_kernel = "?";  // the kernel running, for messages

// ---------------------------------------------------------------- atomics and intrinsics

template <class T>
static inline T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T>
static inline T atomicOr(T* p, T v) { return std::atomic_ref<T>(*p).fetch_or(v); }
template <class T>
static inline T atomicAnd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_and(v); }
template <class T>
static inline T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T>
static inline T atomicCAS(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;
}

static inline int __popc(unsigned int v) { return __builtin_popcount(v); }
static inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
static inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
// Compiled with -ffp-contract=off: a product or a sum is rounded by itself, as the _rn forms.
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
template <class T>
static inline T __ldg(const T* p) { return *p; }

// ---------------------------------------------------------------- fibers (one block's threads)

enum { EMU_NO_BLOCK = 0, EMU_IN_BLOCK = 1 };
static thread_local int emu_mode = EMU_NO_BLOCK;

struct emu_fiber {
#ifdef EMU_ASM_SWITCH
    void* sp;
#else
    ucontext_t ctx;
#endif
    unsigned char* stack;  // lowest usable byte (a guard page below it)
    int waiting;           // -1 runnable, 0 the block barrier, 1 + w the barrier of warp w
    bool done;
};

#ifdef EMU_ASM_SWITCH
// Save the callee-saved registers, MXCSR and the x87 control word on this stack, store the
// stack pointer in *save, switch to stack `to` and restore what was saved there.
// (noipa: callers must assume every call-clobbered register changes, as the ABI says.)
#if defined(__clang__)
#define EMU_NOIPA
#else
#define EMU_NOIPA __attribute__((noipa))
#endif
// save: %rdi, to: %rsi.
__attribute__((naked, noinline)) EMU_NOIPA static void emu_swap(void** /*save*/, void* /*to*/) {
    asm("pushq %rbp\n\t"
        "pushq %rbx\n\t"
        "pushq %r12\n\t"
        "pushq %r13\n\t"
        "pushq %r14\n\t"
        "pushq %r15\n\t"
        "subq $8, %rsp\n\t"
        "stmxcsr (%rsp)\n\t"
        "fnstcw 4(%rsp)\n\t"
        "movq %rsp, (%rdi)\n\t"
        "movq %rsi, %rsp\n\t"
        "ldmxcsr (%rsp)\n\t"
        "fldcw 4(%rsp)\n\t"
        "addq $8, %rsp\n\t"
        "popq %r15\n\t"
        "popq %r14\n\t"
        "popq %r13\n\t"
        "popq %r12\n\t"
        "popq %rbx\n\t"
        "popq %rbp\n\t"
        "ret\n\t");
}
#endif

struct emu_block_state {
    static constexpr size_t stack_bytes = 256 * 1024;
    emu_fiber fibers[1024];
    unsigned n = 0;         // threads of the block running
    unsigned ready = 0;     // fibers made so far (stacks kept between blocks)
    unsigned current = 0;
    unsigned arrived[1 + 32];  // per barrier
    unsigned votes[1024];
#ifdef EMU_ASM_SWITCH
    void* main_sp;
#else
    ucontext_t main_ctx;
#endif
    void (*fn)(void*) = nullptr;
    void* ctx = nullptr;
    ~emu_block_state() {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (unsigned i = 0; i < ready; ++i) munmap(fibers[i].stack - page, stack_bytes + page);
    }
};
static thread_local emu_block_state* emu_blk = nullptr;

static void emu_to_main(emu_block_state& s, emu_fiber& f) {
#ifdef EMU_ASM_SWITCH
    emu_swap(&f.sp, s.main_sp);
#else
    swapcontext(&f.ctx, &s.main_ctx);
#endif
}

[[noreturn]] static void emu_fiber_entry() {
    emu_block_state& s = *emu_blk;
    s.fn(s.ctx);
    emu_fiber& f = s.fibers[s.current];
    f.done = true;
    emu_to_main(s, f);
    std::abort();  // a finished fiber is never resumed
}

static void emu_start_fiber(emu_block_state& s, unsigned i) {
    emu_fiber& f = s.fibers[i];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (i >= s.ready) {
        void* m = mmap(nullptr, s.stack_bytes + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) std::abort();
        mprotect(m, page, PROT_NONE);  // a stack overflow faults instead of corrupting memory
        f.stack = (unsigned char*)m + page;
        s.ready = i + 1;
    }
    f.waiting = -1;
    f.done = false;
#ifdef EMU_ASM_SWITCH
    uintptr_t top = ((uintptr_t)(f.stack + s.stack_bytes)) & ~(uintptr_t)15;
    void** a = (void**)(top - 16);  // return address: entry starts with rsp = 8 (mod 16)
    a[0] = (void*)&emu_fiber_entry;
    a[1] = nullptr;
    for (int r = 1; r <= 6; ++r) a[-r] = nullptr;  // rbp rbx r12 r13 r14 r15
    unsigned int mxcsr = 0;
    unsigned short fpcw = 0;  // the fiber starts with this thread's floating-point modes
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    std::memcpy(&a[-7], &mxcsr, 4);
    std::memcpy((unsigned char*)&a[-7] + 4, &fpcw, 2);
    f.sp = &a[-7];
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = s.stack_bytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, (void (*)())emu_fiber_entry, 0);
#endif
}

// Run fn(ctx) as `n` threads of block blockIdx on this OS thread.
[[maybe_unused]] static void emu_block_run(unsigned n, void (*fn)(void*), void* ctx) {
    if (emu_blk == nullptr) emu_blk = new emu_block_state();  // per OS thread, kept
    emu_block_state& s = *emu_blk;
    s.n = n;
    s.fn = fn;
    s.ctx = ctx;
    std::memset(s.arrived, 0, sizeof s.arrived);
    for (unsigned i = 0; i < n; ++i) emu_start_fiber(s, i);
    emu_mode = EMU_IN_BLOCK;
    unsigned left = n;
    while (left > 0) {
        bool progress = false;
        for (unsigned i = 0; i < n; ++i) {
            emu_fiber& f = s.fibers[i];
            if (f.done || f.waiting >= 0) continue;
            s.current = i;
            threadIdx = {i, 0, 0};
#ifdef EMU_ASM_SWITCH
            emu_swap(&s.main_sp, f.sp);
#else
            swapcontext(&s.main_ctx, &f.ctx);
#endif
            progress = true;
            if (f.done) --left;
        }
        if (!progress) {
            unsigned first = 0;
            while (first < n && s.fibers[first].done) ++first;
            emu_fail("%s: block %u of %u hangs: thread %u waits at %s while %u of the block's "
                     "%u threads reached it (the others returned or wait at another barrier)",
                     emu_kernel, blockIdx.x, gridDim.x, first,
                     s.fibers[first].waiting == 0 ? "__syncthreads" : "a __syncwarp",
                     s.arrived[s.fibers[first].waiting], n);
            break;  // the waiting fibers are abandoned; their stacks are reused
        }
    }
    emu_mode = EMU_NO_BLOCK;
}

// Barrier `id` (0: block, 1 + w: warp w) for `expected` threads.
static void emu_barrier(int id, unsigned expected) {
    emu_block_state& s = *emu_blk;
    if (++s.arrived[id] == expected) {  // the last one opens it and goes on
        s.arrived[id] = 0;
        for (unsigned i = 0; i < s.n; ++i) {
            if (s.fibers[i].waiting == id) s.fibers[i].waiting = -1;
        }
        return;
    }
    emu_fiber& f = s.fibers[s.current];
    f.waiting = id;
    emu_to_main(s, f);
}

static inline bool emu_check_block(const char* what) {
    if (emu_mode == EMU_IN_BLOCK) return true;
    emu_fail("%s calls %s but is not run with block-level synchronisation (not in "
             "gpudrizzle.kernels.BLOCK_KERNELS)", emu_kernel, what);
    return false;
}

static inline void __syncthreads() {
    if (emu_check_block("__syncthreads")) emu_barrier(0, emu_blk->n);
}

static inline void __syncwarp(unsigned int mask = 0xffffffffu) {
    if (!emu_check_block("__syncwarp")) return;
    unsigned w = threadIdx.x / 32, lanes = emu_blk->n - 32 * w;
    lanes = lanes < 32 ? lanes : 32;
    unsigned full = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
    if (mask != full) emu_fail("%s: __syncwarp(0x%x) with a partial mask is not emulated",
                               emu_kernel, mask);
    emu_barrier(1 + (int)w, lanes);
}

static inline unsigned int __ballot_sync(unsigned int mask, int p) {
    if (!emu_check_block("__ballot_sync")) return 0;
    emu_block_state& s = *emu_blk;
    s.votes[threadIdx.x] = p != 0;
    __syncwarp(mask);
    unsigned int m = 0, w0 = threadIdx.x & ~31u;
    for (unsigned int i = 0; i < 32 && w0 + i < s.n; ++i) m |= s.votes[w0 + i] << i;
    __syncwarp(mask);
    return m;
}

// ---------------------------------------------------------------- launches

template <class F>
static void emu_call(void* f) { (*static_cast<F*>(f))(); }

// Threads of a block one after the other; blocks spread over OpenMP threads.
template <class F>
static void emu_run_threads(const char* name, unsigned grid, unsigned block, F body) {
#pragma omp parallel
    {
        emu_kernel = name;
        gridDim = {grid, 1, 1};
        blockDim = {block, 1, 1};
        F own = body;
#pragma omp for schedule(static)
        for (long long b = 0; b < (long long)grid; ++b) {
            blockIdx = {(unsigned)b, 0, 0};
            for (unsigned t = 0; t < block; ++t) {
                threadIdx = {t, 0, 0};
                own();
            }
        }
    }
}

// Each block as `block` fibers on one OpenMP thread; blocks spread over OpenMP threads.
template <class F>
static void emu_run_blocks(const char* name, unsigned grid, unsigned block, F body) {
#pragma omp parallel
    {
        emu_kernel = name;
        gridDim = {grid, 1, 1};
        blockDim = {block, 1, 1};
        F own = body;
#pragma omp for schedule(dynamic, 1)
        for (long long b = 0; b < (long long)grid; ++b) {
            blockIdx = {(unsigned)b, 0, 0};
            emu_block_run(block, &emu_call<F>, &own);
        }
    }
}
