/*
 * dlpack.h: the part of DLPack 1.0's ABI (github.com/dmlc/dlpack, dlpack.h)
 * that pybuf produces, in one place for the C shim (cshim/dlpack.c), the
 * test library (tests_py/clib/dlpack_consumer.c) and the Go core's header
 * (pybuf_core.h takes its type codes from here; capi's header test checks
 * that Go's layout package classifies formats with the same numbers).
 */
#ifndef PYBUF_DLPACK_H
#define PYBUF_DLPACK_H

#include <stdint.h>

/* DLDataTypeCode: the codes pybuf gives out. */
enum {
    kDLInt = 0,
    kDLUInt = 1,
    kDLFloat = 2,
    kDLComplex = 5,
    kDLBool = 6,
};

#define DL_CPU 1                      /* kDLCPU */
#define DL_FLAG_READ_ONLY (1ULL << 0) /* DLPACK_FLAG_BITMASK_READ_ONLY */
#define DL_FLAG_IS_COPIED (1ULL << 1) /* DLPACK_FLAG_BITMASK_IS_COPIED */

typedef struct { uint32_t major, minor; } DLPackVersion;
typedef struct { int32_t device_type, device_id; } DLDevice;
typedef struct { uint8_t code, bits; uint16_t lanes; } DLDataType;
typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} DLTensor;
typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *);
} DLManagedTensor;
typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *);
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;

#endif /* PYBUF_DLPACK_H */
