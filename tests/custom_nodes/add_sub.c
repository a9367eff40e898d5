/* A custom node for the tests, written against OVMS's custom node C interface: adds
 * "add_value" and subtracts "sub_value" (floats) from the FP32 input "input_numbers" of shape
 * [1, any] and answers "output_numbers". Other params make it misbehave on purpose:
 *   demultiply=N  answers [N, 1, any]: shard i holds input + add - sub + i (0: no results)
 *   fail_init=1, fail_execute=1, fail_metadata=1  the call returns an error
 *   bad_size=1    the output claims one byte more than its dims hold
 *   crash=1       execute dereferences a null pointer
 *   sleep_ms=N    execute sleeps N ms first
 * Compiled with -DNO_RELEASE it lacks the "release" symbol. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { UNSPECIFIED, FP32, FP16, U8, I8, I16, U16, I32, FP64, I64 } CustomNodeTensorPrecision;
struct CustomNodeTensor {
    const char* name;
    uint8_t* data;
    uint64_t dataBytes;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};
struct CustomNodeTensorInfo {
    const char* name;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};
struct CustomNodeParam {
    const char *key, *value;
};

struct manager {
    float add, sub;
    int demultiply, fail_execute, fail_metadata, bad_size, crash, sleep_ms;
};

static const char* param(const struct CustomNodeParam* params, int count, const char* key) {
    for (int i = 0; i < count; i++)
        if (strcmp(params[i].key, key) == 0) return params[i].value;
    return NULL;
}

static float fparam(const struct CustomNodeParam* params, int count, const char* key) {
    const char* v = param(params, count, key);
    return v ? strtof(v, NULL) : 0.0f;
}

static int iparam(const struct CustomNodeParam* params, int count, const char* key, int otherwise) {
    const char* v = param(params, count, key);
    return v ? atoi(v) : otherwise;
}

int initialize(void** manager, const struct CustomNodeParam* params, int paramsCount) {
    if (iparam(params, paramsCount, "fail_init", 0)) return 1;
    struct manager* m = malloc(sizeof *m);
    if (!m) return 2;
    m->add = fparam(params, paramsCount, "add_value");
    m->sub = fparam(params, paramsCount, "sub_value");
    m->demultiply = iparam(params, paramsCount, "demultiply", -1);
    m->fail_execute = iparam(params, paramsCount, "fail_execute", 0);
    m->fail_metadata = iparam(params, paramsCount, "fail_metadata", 0);
    m->bad_size = iparam(params, paramsCount, "bad_size", 0);
    m->crash = iparam(params, paramsCount, "crash", 0);
    m->sleep_ms = iparam(params, paramsCount, "sleep_ms", 0);
    *manager = m;
    fprintf(stderr, "add_sub: initialize add=%g sub=%g\n", m->add, m->sub);
    return 0;
}

int deinitialize(void* manager) {
    struct manager* m = manager;
    fprintf(stderr, "add_sub: deinitialize add=%g sub=%g\n", m ? m->add : 0.0f, m ? m->sub : 0.0f);
    free(manager);
    return 0;
}

int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* manager) {
    struct manager* m = manager;
    (void)params;
    (void)paramsCount;
    if (m->crash) return *(volatile int*)0;
    if (m->sleep_ms > 0) {
        struct timespec t = {m->sleep_ms / 1000, (long)(m->sleep_ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
    }
    if (m->fail_execute || inputsCount != 1 || strcmp(inputs[0].name, "input_numbers") != 0) return 1;
    const struct CustomNodeTensor* in = &inputs[0];
    if (in->precision != FP32 || in->dimsCount != 2 || in->dims[0] != 1) return 1;
    uint64_t n = in->dims[1];
    int shards = m->demultiply < 0 ? 1 : m->demultiply;
    struct CustomNodeTensor* out = malloc(sizeof *out);
    float* data = malloc(sizeof(float) * n * shards + 1);
    uint64_t* dims = malloc(sizeof(uint64_t) * 3);
    if (!out || !data || !dims) {
        free(out);
        free(data);
        free(dims);
        return 2;
    }
    const float* x = (const float*)in->data;
    for (int s = 0; s < shards; s++)
        for (uint64_t i = 0; i < n; i++) data[s * n + i] = x[i] + m->add - m->sub + (m->demultiply < 0 ? 0 : s);
    out->name = "output_numbers";
    out->data = (uint8_t*)data;
    out->dataBytes = sizeof(float) * n * shards + (m->bad_size ? 1 : 0);
    out->dims = dims;
    if (m->demultiply < 0) {
        dims[0] = 1, dims[1] = n, out->dimsCount = 2;
    } else {
        dims[0] = shards, dims[1] = 1, dims[2] = n, out->dimsCount = 3;
    }
    out->precision = FP32;
    *outputs = out;
    *outputsCount = 1;
    return 0;
}

static int info(struct CustomNodeTensorInfo** info, int* infoCount, const char* name, struct manager* m, int output) {
    if (m->fail_metadata) return 1;
    struct CustomNodeTensorInfo* i = malloc(sizeof *i);
    uint64_t* dims = malloc(sizeof(uint64_t) * 3);
    if (!i || !dims) {
        free(i);
        free(dims);
        return 2;
    }
    i->name = name;
    i->dims = dims;
    if (output && m->demultiply >= 0) {
        dims[0] = m->demultiply, dims[1] = 1, dims[2] = 0, i->dimsCount = 3;
    } else {
        dims[0] = 1, dims[1] = 0, i->dimsCount = 2;
    }
    i->precision = FP32;
    *info = i;
    *infoCount = 1;
    return 0;
}

int getInputsInfo(struct CustomNodeTensorInfo** i, int* count, const struct CustomNodeParam* params, int paramsCount,
                  void* manager) {
    (void)params;
    (void)paramsCount;
    return info(i, count, "input_numbers", manager, 0);
}

int getOutputsInfo(struct CustomNodeTensorInfo** i, int* count, const struct CustomNodeParam* params, int paramsCount,
                   void* manager) {
    (void)params;
    (void)paramsCount;
    return info(i, count, "output_numbers", manager, 1);
}

#ifndef NO_RELEASE
int release(void* ptr, void* manager) {
    (void)manager;
    free(ptr);
    return 0;
}
#endif
