/* A minimal DLPack consumer, as a C library (a tensor framework) would be:
 * it reads a tensor from a capsule's struct and frees it from a thread of its
 * own, without the GIL. */
#include <pthread.h>
#include <stdint.h>

#include "dlpack.h" /* pybuf/capi: the structs pybuf produces */

/* Sum of a 1-D int32 tensor, honouring its stride; -1 if it is not one. */
long long consumer_sum_int32(DLManagedTensorVersioned *m)
{
    DLTensor *t = &m->dl_tensor;
    if (m->version.major != 1 || t->ndim != 1 || t->dtype.code != kDLInt || t->dtype.bits != 32)
        return -1;
    int64_t step = t->strides ? t->strides[0] : 1;
    const int32_t *p = (const int32_t *)((const char *)t->data + t->byte_offset);
    long long sum = 0;
    for (int64_t i = 0; i < t->shape[0]; i++)
        sum += p[i * step];
    return sum;
}

uint64_t consumer_flags(DLManagedTensorVersioned *m) { return m->flags; }

static void *delete_it(void *m)
{
    DLManagedTensorVersioned *t = m;
    t->deleter(t);
    return NULL;
}

/* Frees the tensor from a new thread that has never held the GIL. */
int consumer_delete_on_thread(DLManagedTensorVersioned *m)
{
    pthread_t th;
    if (pthread_create(&th, NULL, delete_it, m) != 0)
        return -1;
    return pthread_join(th, NULL);
}

/* Frees the tensor later, from a detached thread, while the caller goes on:
 * a framework's deleter racing whatever Python does meanwhile.
 * consumer_wait_all() returns once every such delete has returned. */
static pthread_mutex_t later_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t later_done = PTHREAD_COND_INITIALIZER;
static int later_pending;

static void *delete_later(void *m)
{
    DLManagedTensorVersioned *t = m;
    for (volatile int spin = 0; spin < (int)((uintptr_t)m >> 4) % 20000; spin++)
        ;
    t->deleter(t);
    pthread_mutex_lock(&later_lock);
    if (--later_pending == 0)
        pthread_cond_broadcast(&later_done);
    pthread_mutex_unlock(&later_lock);
    return NULL;
}

int consumer_delete_later(DLManagedTensorVersioned *m)
{
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&later_lock);
    later_pending++;
    pthread_mutex_unlock(&later_lock);
    int r = pthread_create(&th, &attr, delete_later, m);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        pthread_mutex_lock(&later_lock);
        later_pending--;
        pthread_mutex_unlock(&later_lock);
        return -1;
    }
    return 0;
}

int consumer_wait_all(void)
{
    pthread_mutex_lock(&later_lock);
    while (later_pending > 0)
        pthread_cond_wait(&later_done, &later_lock);
    pthread_mutex_unlock(&later_lock);
    return 0;
}
