/* classify: load a neoc artifact, run it on an input, print the top class.
 *
 *   classify MODEL.neo INPUT
 *
 * INPUT is a float32 .npy file (C order, as numpy.save writes it) or a raw file of
 * little-endian float32s; its size must be the model's first input's. The model's first
 * output is read as float32 scores [batch, classes] (or [classes]); for each batch item
 * the program prints "item B: class K (score S)".
 *
 * Build (see docs/embedding.md):
 *   cargo build --release -p neoc-capi
 *   cc -O2 -I runtime/capi/include examples/c/classify.c target/release/libneoc.a \
 *      -lpthread -ldl -lm -o classify
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neoc.h"

static int fail(const char *what) {
    fprintf(stderr, "classify: %s: %s\n", what, neoc_last_error());
    return 1;
}

/* Reads a whole file; returns NULL (with a message) on failure. */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                fprintf(stderr, "%s: out of memory\n", path);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The float32 data of a .npy file (or the whole file if it is not one). */
static const unsigned char *npy_data(const unsigned char *file, size_t len, size_t *data_len) {
    if (len < 10 || memcmp(file, "\x93NUMPY", 6) != 0) {
        *data_len = len;
        return file;
    }
    size_t hlen, start;
    if (file[6] == 1) {
        hlen = (size_t)file[8] | (size_t)file[9] << 8;
        start = 10;
    } else {
        if (len < 12)
            return NULL;
        hlen = (size_t)file[8] | (size_t)file[9] << 8 | (size_t)file[10] << 16 |
               (size_t)file[11] << 24;
        start = 12;
    }
    if (start + hlen > len)
        return NULL;
    /* Only little-endian float32 in C order. */
    char header[512] = {0};
    memcpy(header, file + start, hlen < sizeof header - 1 ? hlen : sizeof header - 1);
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False"))
        return NULL;
    *data_len = len - start - hlen;
    return file + start + hlen;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.neo INPUT.npy\n", argv[0]);
        return 2;
    }
    neoc_model *model = NULL;
    if (neoc_model_load(argv[1], &model) != NEOC_OK)
        return fail("load");

    size_t n_in = 0, n_out = 0, in_size = 0, out_size = 0, rank = 0;
    uint32_t dtype = 0;
    uint64_t dims[8];
    const char *in_name = NULL;
    if (neoc_model_tensor_count(model, NEOC_IO_INPUT, &n_in) != NEOC_OK ||
        neoc_model_tensor_count(model, NEOC_IO_OUTPUT, &n_out) != NEOC_OK ||
        neoc_model_tensor_name(model, NEOC_IO_INPUT, 0, &in_name) != NEOC_OK ||
        neoc_model_tensor_byte_size(model, NEOC_IO_INPUT, 0, &in_size) != NEOC_OK ||
        neoc_model_tensor_byte_size(model, NEOC_IO_OUTPUT, 0, &out_size) != NEOC_OK ||
        neoc_model_tensor_dtype(model, NEOC_IO_OUTPUT, 0, &dtype) != NEOC_OK ||
        neoc_model_tensor_rank(model, NEOC_IO_OUTPUT, 0, &rank) != NEOC_OK ||
        neoc_model_tensor_dims(model, NEOC_IO_OUTPUT, 0, dims, 8) != NEOC_OK) {
        neoc_model_free(model);
        return fail("signature");
    }
    if (n_in != 1 || dtype != NEOC_DTYPE_F32 || rank < 1 || rank > 2) {
        fprintf(stderr, "classify: want one input and float32 [batch, classes] scores\n");
        neoc_model_free(model);
        return 1;
    }
    size_t classes = (size_t)dims[rank - 1];
    size_t batch = rank == 2 ? (size_t)dims[0] : 1;

    size_t file_len = 0, data_len = 0;
    unsigned char *file = read_file(argv[2], &file_len);
    const unsigned char *data = file ? npy_data(file, file_len, &data_len) : NULL;
    if (!data || data_len != in_size) {
        fprintf(stderr, "classify: %s: want %zu bytes of float32 for input '%s'\n", argv[2],
                in_size, in_name);
        free(file);
        neoc_model_free(model);
        return 1;
    }

    /* Every output needs a buffer; only the first is printed. */
    void **outs = calloc(n_out, sizeof *outs);
    size_t *out_sizes = calloc(n_out, sizeof *out_sizes);
    int rc = 0;
    for (size_t i = 0; outs && out_sizes && i < n_out; i++) {
        if (neoc_model_tensor_byte_size(model, NEOC_IO_OUTPUT, i, &out_sizes[i]) != NEOC_OK) {
            rc = fail("output size");
            break;
        }
        outs[i] = malloc(out_sizes[i] ? out_sizes[i] : 1);
        if (!outs[i])
            rc = 1;
    }
    neoc_context *ctx = NULL;
    if (rc == 0 && outs && out_sizes) {
        const void *ins[1] = {data};
        if (neoc_context_new(model, 1, &ctx) != NEOC_OK)
            rc = fail("context");
        else if (neoc_run(ctx, model, ins, &in_size, 1, outs, out_sizes, n_out) != NEOC_OK)
            rc = fail("run");
    }
    if (rc == 0) {
        const float *scores = outs[0];
        for (size_t b = 0; b < batch; b++) {
            size_t best = 0;
            for (size_t k = 1; k < classes; k++)
                if (scores[b * classes + k] > scores[b * classes + best])
                    best = k;
            printf("item %zu: class %zu (score %g)\n", b, best, scores[b * classes + best]);
        }
    }
    for (size_t i = 0; outs && i < n_out; i++)
        free(outs[i]);
    free(outs);
    free(out_sizes);
    neoc_context_free(ctx);
    free(file);
    neoc_model_free(model);
    return rc;
}
