/* neoc.h: the C interface of the neoc runtime (libneoc.so / libneoc.a, crate
 * runtime/capi). Kept by hand; runtime/capi/tests/header.rs checks it against the code.
 *
 * Conventions:
 *   - every fallible function returns a neoc_status; on failure, neoc_last_error()
 *     gives a message (per thread, valid until the next failing call on that thread);
 *   - every pointer argument is checked for NULL (NEOC_ERR_NULL_POINTER);
 *   - a neoc_model is immutable and may be shared by many threads at once; a
 *     neoc_context serves one run at a time: use one per thread;
 *   - tensor data is raw little-endian elements, row-major, in the dtype and shape the
 *     model's signature gives (shapes are static in a compiled artifact).
 *
 * Linking: cc app.c -I runtime/capi/include -L target/release -lneoc            (shared)
 *          cc app.c -I runtime/capi/include target/release/libneoc.a -lpthread -ldl -lm
 */
#ifndef NEOC_H
#define NEOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct neoc_model neoc_model;
typedef struct neoc_context neoc_context;

typedef enum neoc_status {
    NEOC_OK = 0,
    NEOC_ERR_NULL_POINTER = 1,     /* a required pointer argument was NULL */
    NEOC_ERR_INVALID_ARGUMENT = 2, /* index, io kind, count or string out of range */
    NEOC_ERR_LOAD = 3,             /* unreadable or invalid artifact, or wrong machine */
    NEOC_ERR_RUN = 4,              /* the run was refused or failed */
    NEOC_ERR_BUFFER_TOO_SMALL = 5, /* a caller buffer is too small */
    NEOC_ERR_PANIC = 6             /* internal bug, caught at the boundary */
} neoc_status;

/* `io` arguments: which side of the signature. */
#define NEOC_IO_INPUT 0
#define NEOC_IO_OUTPUT 1

/* dtype codes (the artifact format's stable codes). */
#define NEOC_DTYPE_F32 1
#define NEOC_DTYPE_F16 2
#define NEOC_DTYPE_BF16 3
#define NEOC_DTYPE_F64 4
#define NEOC_DTYPE_I8 5
#define NEOC_DTYPE_U8 6
#define NEOC_DTYPE_I16 7
#define NEOC_DTYPE_U16 8
#define NEOC_DTYPE_I32 9
#define NEOC_DTYPE_U32 10
#define NEOC_DTYPE_I64 11
#define NEOC_DTYPE_U64 12
#define NEOC_DTYPE_BOOL 13

/* The message of the last failed call on this thread ("" if none). */
const char *neoc_last_error(void);
/* The library version, e.g. "0.1.0". */
const char *neoc_version(void);

/* Loads an artifact file (memory-mapped: do not modify it while loaded). */
neoc_status neoc_model_load(const char *path, neoc_model **out);
/* Loads an artifact from memory (the bytes are copied). */
neoc_status neoc_model_load_bytes(const uint8_t *data, size_t len, neoc_model **out);
/* Verifies the weights' checksum now (loading a file does not read the weights; the
   first run checks them otherwise). NEOC_ERR_LOAD when they are corrupted. */
neoc_status neoc_model_verify(const neoc_model *model);
/* Frees a model; NULL is ignored. No run may be using it. */
void neoc_model_free(neoc_model *model);

/* Signature queries; io is NEOC_IO_INPUT or NEOC_IO_OUTPUT, index < count. */
neoc_status neoc_model_tensor_count(const neoc_model *model, int32_t io, size_t *out);
/* The name is owned by the model and valid until it is freed. */
neoc_status neoc_model_tensor_name(const neoc_model *model, int32_t io, size_t index, const char **out);
neoc_status neoc_model_tensor_dtype(const neoc_model *model, int32_t io, size_t index, uint32_t *out);
neoc_status neoc_model_tensor_rank(const neoc_model *model, int32_t io, size_t index, size_t *out);
/* Writes rank dims to dims[0..rank]; capacity is the length of dims. */
neoc_status neoc_model_tensor_dims(const neoc_model *model, int32_t io, size_t index, uint64_t *dims, size_t capacity);
neoc_status neoc_model_tensor_byte_size(const neoc_model *model, int32_t io, size_t index, size_t *out);

/* A context with `threads` workers per parallel kernel (1: none, 0: one per CPU). */
neoc_status neoc_context_new(const neoc_model *model, size_t threads, neoc_context **out);
/* Frees a context; NULL is ignored. */
void neoc_context_free(neoc_context *ctx);

/* Runs the model. inputs[i] points at input i's data, input_sizes[i] bytes (exactly its
 * byte size), read in place; outputs[i] receives output i, output_sizes[i] >= its byte
 * size. Counts must equal the model's. */
neoc_status neoc_run(neoc_context *ctx, const neoc_model *model,
                     const void *const *inputs, const size_t *input_sizes, size_t n_inputs,
                     void *const *outputs, const size_t *output_sizes, size_t n_outputs);

#ifdef __cplusplus
}
#endif

#endif /* NEOC_H */
