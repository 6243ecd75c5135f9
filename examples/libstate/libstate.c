/* libstate: stands for the closed-source C library of the seed scenario.
 * It allocates and frees its own state buffers; Python only says when. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n;
    int *data;
} state;

static long destroyed;

state *state_create(int n)
{
    state *s = malloc(sizeof *s);
    s->n = n;
    s->data = calloc((size_t)n, sizeof(int));
    printf("    [libstate] state_create(%d) -> %p\n", n, (void *)s);
    fflush(stdout);
    return s;
}

int *state_data(state *s) { return s->data; }

void state_destroy(state *s)
{
    printf("    [libstate] state_destroy(%p): buffer freed\n", (void *)s);
    fflush(stdout);
    memset(s->data, 0xdd, (size_t)s->n * sizeof(int));
    free(s->data);
    free(s);
    destroyed++;
}

long state_destroyed(void) { return destroyed; }
