/*
 * registry_queue.c: the owners the Go registry should know about, sent in
 * batches.
 *
 * pybuf.live() and the diagnostics read the registry rarely; owners come and
 * go all the time. So registrations and removals wait here and cross into Go
 * together (one call for up to QUEUE_MAX of each), before anything reads the
 * registry; an owner that lives and dies between two reads never crosses at
 * all. GIL: the queue is only touched with the GIL held.
 */
#include "shim.h"

#include <stdlib.h>

#define QUEUE_MAX 256

static OwnerObject *pending[QUEUE_MAX]; /* registered here, not yet in Go */
static int npending;
static uint64_t gone[QUEUE_MAX];        /* in Go, to be forgotten there */
static int ngone;
static uint64_t last_id;

int registry_flush(void)
{
    if (npending == 0 && ngone == 0)
        return 0;
    const core_api *core = core_if_usable();
    if (core == NULL)
        return -1;
    pybuf_registration regs[QUEUE_MAX];
    for (int i = 0; i < npending; i++) {
        OwnerObject *o = pending[i];
        regs[i] = (pybuf_registration){o->core_id, o->name_utf8, o->fixed_nbytes, o->site,
                                       &o->counts};
    }
    core->registry_apply(regs, npending, gone, ngone);
    for (int i = 0; i < npending; i++) {
        pending[i]->queue_slot = 0;
        free(pending[i]->site); /* Go keeps its own copy */
        pending[i]->site = NULL;
    }
    npending = ngone = 0;
    return 0;
}

uint64_t registry_new_id(void)
{
    return ++last_id;
}

void registry_add(OwnerObject *o, char *site)
{
    o->core_id = registry_new_id();
    o->site = site;
    if (npending == QUEUE_MAX)
        registry_flush();
    pending[npending++] = o;
    o->queue_slot = npending;
    if (trace_enabled)
        registry_flush(); /* its buffers and exports are traced against it */
}

void registry_remove(OwnerObject *o)
{
    if (o->core_id == 0)
        return;
    if (o->queue_slot != 0) {
        int i = o->queue_slot - 1;
        pending[i] = pending[--npending];
        pending[i]->queue_slot = i + 1;
        o->queue_slot = 0;
    } else if (core_if_usable() != NULL) {
        if (ngone == QUEUE_MAX)
            registry_flush();
        gone[ngone++] = o->core_id;
    }
    free(o->site);
    o->site = NULL;
    o->core_id = 0;
}
