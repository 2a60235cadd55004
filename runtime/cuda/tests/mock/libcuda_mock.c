/* A stand-in for libcuda.so.1 that lets the CUDA executor's own code run without a GPU
 * (runtime/cuda/tests/mock_driver.rs). "Device" memory is host memory; loading a module
 * reads the PTX's .entry names and parameter counts, and resolves each kernel in the
 * x86-64 shared object named by NEOC_MOCK_KERNELS (the same kernels compiled for the CPU,
 * calling convention void k(void **args, int64_t task, int64_t ntasks)). A launch of a
 * kernel whose PTX launch size is above 1 calls that function as task t of n for every
 * thread t of the grid (in turn), as the GPU's threads would; a serial kernel once;
 * stream capture records launches and cuGraphLaunch replays them. A block kernel
 * (<name>__neoc_block in the PTX) must be launched with exactly that block size and
 * grid x block = its launch size; its CPU build (neoc_kernel::gpu::emulate) splits its
 * blocks between the tasks. Every call the executor
 * makes is checked for what the real driver would refuse that the mock can see (null
 * out-pointers, unknown handles, zero-sized grids). NEOC_MOCK_LOG names a file that gets
 * one line per launch kind ("launch", "graph"). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef void (*kernel_fn)(void **, int64_t, int64_t);

#define OK 0
#define BAD 1 /* CUDA_ERROR_INVALID_VALUE */
#define NOT_FOUND 500
#define MAX_PARAMS 64

struct fn {
    char name[256];
    int nparams;
    long long threads; /* <name>__neoc_threads from the PTX */
    long long block;   /* <name>__neoc_block (block kernels), else 0 */
    kernel_fn sym;
};
struct module {
    int n;
    struct fn *fns;
};
struct call {
    struct fn *f;
    long long tasks; /* grid x block threads of the launch */
    void *args[MAX_PARAMS];
};
struct graph {
    int n;
    struct call *calls;
};

static int capturing;
static struct graph captured;

static void log_line(const char *what) {
    const char *path = getenv("NEOC_MOCK_LOG");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%s\n", what);
    fclose(f);
}

CUresult cuInit(unsigned flags) { return flags == 0 ? OK : BAD; }
CUresult cuDriverGetVersion(int *v) { if (!v) return BAD; *v = 12040; return OK; }
CUresult cuDeviceGetCount(int *c) { if (!c) return BAD; *c = 1; return OK; }
CUresult cuDeviceGet(int *d, int ordinal) { if (!d || ordinal != 0) return BAD; *d = 0; return OK; }
CUresult cuDeviceGetName(char *name, int len, int dev) {
    if (!name || len <= 0 || dev != 0) return BAD;
    snprintf(name, (size_t)len, "neoc mock GPU");
    return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
    if (!v || dev != 0) return BAD;
    *v = attr == 75 ? 9 : 0; /* compute capability 9.0 */
    return OK;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { if (!ctx || dev) return BAD; *ctx = (void *)0x10; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return dev ? BAD : OK; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == (void *)0x10 ? OK : BAD; }

CUresult cuModuleLoadDataEx(void **out, const void *image, unsigned nopt, int *opts, void **vals) {
    (void)opts; (void)vals; (void)nopt;
    if (!out || !image) return BAD;
    const char *kernels = getenv("NEOC_MOCK_KERNELS");
    void *so = kernels ? dlopen(kernels, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!so) return 218; /* CUDA_ERROR_INVALID_PTX */
    const char *ptx = image;
    struct module *m = calloc(1, sizeof *m);
    int cap = 0;
    for (const char *p = strstr(ptx, ".entry "); p; p = strstr(p + 1, ".entry ")) {
        const char *name = p + 7;
        size_t len = strcspn(name, "( \n");
        if (m->n == cap) {
            cap = cap ? 2 * cap : 64;
            m->fns = realloc(m->fns, (size_t)cap * sizeof *m->fns);
        }
        struct fn *f = &m->fns[m->n++];
        memset(f, 0, sizeof *f);
        memcpy(f->name, name, len < 255 ? len : 255);
        const char *close = strchr(name, ')');
        for (const char *q = strstr(name, ".param"); q && close && q < close; q = strstr(q + 1, ".param"))
            f->nparams++;
        f->sym = (kernel_fn)dlsym(so, f->name);
        if (!f->sym || f->nparams > MAX_PARAMS) return 218;
    }
    for (int i = 0; i < m->n; i++) {
        char key[300];
        snprintf(key, sizeof key, " %s__neoc_threads = ", m->fns[i].name);
        const char *t = strstr(ptx, key);
        if (!t) return 218;
        m->fns[i].threads = atoll(t + strlen(key));
        snprintf(key, sizeof key, " %s__neoc_block = ", m->fns[i].name);
        const char *b = strstr(ptx, key);
        m->fns[i].block = b ? atoll(b + strlen(key)) : 0;
    }
    *out = m;
    return OK;
}
CUresult cuModuleGetFunction(void **out, void *mod, const char *name) {
    struct module *m = mod;
    if (!out || !m || !name) return BAD;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->fns[i].name, name) == 0) { *out = &m->fns[i]; return OK; }
    return NOT_FOUND;
}
CUresult cuModuleUnload(void *mod) { struct module *m = mod; if (!m) return BAD; free(m->fns); free(m); return OK; }

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
    if (!p || n == 0) return BAD;
    void *mem = aligned_alloc(256, (n + 255) / 256 * 256);
    if (!mem) return 2;
    memset(mem, 0xA5, (n + 255) / 256 * 256); /* not zero: the executor must zero */
    *p = (CUdeviceptr)(uintptr_t)mem;
    return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return OK; }
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { memset((void *)(uintptr_t)p, v, n); return OK; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); return OK; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *s) {
    if (capturing || !s) return BAD; /* the executor copies outside capture */
    return cuMemcpyHtoD_v2(dst, src, n);
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *s) {
    if (capturing || !s) return BAD;
    memcpy(dst, (void *)(uintptr_t)src, n);
    return OK;
}
CUresult cuStreamCreate(void **s, unsigned flags) { if (!s || flags > 1) return BAD; *s = (void *)0x20; return OK; }
CUresult cuStreamSynchronize(void *s) { return s == (void *)0x20 && !capturing ? OK : BAD; }
CUresult cuStreamDestroy_v2(void *s) { return s == (void *)0x20 ? OK : BAD; }

/* As on the GPU: a kernel with a launch size above 1 runs as task t of n for every thread
 * t of the launch (one after the other here); a serial one (launch size 1) once. */
static void run(struct call *c) {
    if (c->f->threads <= 1) {
        c->f->sym(c->args, 0, 1);
        return;
    }
    for (long long t = 0; t < c->tasks; t++) c->f->sym(c->args, t, c->tasks);
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *s, void **params, void **extra) {
    struct fn *f = fn;
    if (!f || !gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024 || shared || extra ||
        s != (void *)0x20 || (!params && f->nparams))
        return BAD;
    if ((long long)gx * bx < f->threads) return BAD; /* fewer threads than the PTX asks */
    /* A block kernel's threads cooperate: its block size is part of its meaning. */
    if (f->block && ((long long)bx != f->block || (long long)gx * bx != f->threads)) return BAD;
    struct call c = {.f = f, .tasks = (long long)gx * bx};
    for (int i = 0; i < f->nparams; i++) c.args[i] = (void *)(uintptr_t) * (CUdeviceptr *)params[i];
    if (capturing) {
        captured.calls = realloc(captured.calls, (size_t)(captured.n + 1) * sizeof c);
        captured.calls[captured.n++] = c;
        return OK;
    }
    log_line("launch");
    run(&c);
    return OK;
}

CUresult cuStreamBeginCapture_v2(void *s, int mode) {
    if (s != (void *)0x20 || capturing || mode < 0 || mode > 2) return BAD;
    capturing = 1;
    captured.n = 0;
    captured.calls = NULL;
    return OK;
}
CUresult cuStreamEndCapture(void *s, void **g) {
    if (s != (void *)0x20 || !capturing || !g) return BAD;
    capturing = 0;
    struct graph *copy = malloc(sizeof *copy);
    *copy = captured;
    *g = copy;
    return OK;
}
CUresult cuGraphInstantiateWithFlags(void **exec, void *g, unsigned long long flags) {
    struct graph *src = g;
    if (!exec || !src || flags) return BAD;
    struct graph *e = malloc(sizeof *e);
    e->n = src->n;
    e->calls = malloc((size_t)(src->n ? src->n : 1) * sizeof *e->calls);
    if (src->n) memcpy(e->calls, src->calls, (size_t)src->n * sizeof *e->calls);
    *exec = e;
    return OK;
}
CUresult cuGraphLaunch(void *exec, void *s) {
    struct graph *e = exec;
    if (!e || s != (void *)0x20 || capturing) return BAD;
    log_line("graph");
    for (int i = 0; i < e->n; i++) run(&e->calls[i]);
    return OK;
}
CUresult cuGraphDestroy(void *g) { struct graph *x = g; if (!x) return BAD; free(x->calls); free(x); return OK; }
CUresult cuGraphExecDestroy(void *g) { return cuGraphDestroy(g); }

CUresult cuGetErrorName(CUresult e, const char **s) {
    if (!s) return BAD;
    *s = e == BAD ? "CUDA_ERROR_INVALID_VALUE" : e == NOT_FOUND ? "CUDA_ERROR_NOT_FOUND" : "CUDA_ERROR_MOCK";
    return OK;
}
