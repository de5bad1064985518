/* Registry: dependencies between plugins. Computes the start order (a
 * depth-first walk in name order that marks cycles and requirements nobody
 * provides) and answers the lifecycle's questions: does every requirement of
 * a plugin have a running provider, and does a running plugin need another. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "registry_int.h"

static int provides(const oa_plugin *p, const char *what)
{
    if (!reg_usable(p)) {
        return 0;
    }
    if (strcmp(p->name, what) == 0) {
        return 1;
    }
    if (p->desc->provides != NULL) {
        for (size_t i = 0; p->desc->provides[i] != NULL; i++) {
            if (strcmp(p->desc->provides[i], what) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* ---- dependency order -------------------------------------------------- */

typedef struct dfs {
    oa_registry *reg;
    int *color;  /* 0 white, 1 on the stack, 2 done */
    size_t *stack;
    size_t depth;
    int next_order;
} dfs;

static void mark_cycle(dfs *d, size_t from, size_t to)
{
    char chain[400];
    size_t len = 0;
    size_t start = d->depth;

    for (size_t k = 0; k < d->depth; k++) {
        if (d->stack[k] == to) {
            start = k;
            break;
        }
    }
    chain[0] = '\0';
    for (size_t k = start; k < d->depth; k++) {
        int w = snprintf(chain + len, sizeof(chain) - len, "%s -> ", d->reg->v[d->stack[k]]->name);
        if (w > 0 && len + (size_t)w < sizeof(chain)) {
            len += (size_t)w;
        }
    }
    snprintf(chain + len, sizeof(chain) - len, "%s", d->reg->v[to]->name);
    (void)from;
    for (size_t k = start; k < d->depth; k++) {
        oa_plugin *p = d->reg->v[d->stack[k]];
        if (!p->cycle) {
            p->cycle = 1;
            snprintf(p->reason, sizeof(p->reason), "dependency cycle: %s", chain);
        }
    }
}

static void visit(dfs *d, size_t i)
{
    oa_plugin *p = d->reg->v[i];
    const char *const *req = p->desc->requires;

    d->color[i] = 1;
    d->stack[d->depth++] = i;
    for (size_t r = 0; req != NULL && req[r] != NULL; r++) {
        for (size_t j = 0; j < d->reg->n; j++) {
            if (j == i || !provides(d->reg->v[j], req[r])) {
                continue;
            }
            if (d->color[j] == 1) {
                mark_cycle(d, i, j);
            } else if (d->color[j] == 0) {
                visit(d, j);
            }
        }
    }
    d->depth--;
    d->color[i] = 2;
    p->order = d->next_order++;
}

static int by_listing(const void *a, const void *b)
{
    const oa_plugin *x = *(oa_plugin *const *)a;
    const oa_plugin *y = *(oa_plugin *const *)b;
    if ((x->order < 0) != (y->order < 0)) {
        return x->order < 0 ? 1 : -1;
    }
    if (x->order != y->order) {
        return x->order < y->order ? -1 : 1;
    }
    return strcmp(x->file ? x->file : "", y->file ? y->file : "");
}

void oa_registry_resolve(oa_registry *reg)
{
    dfs d;
    memset(&d, 0, sizeof(d));
    d.reg = reg;
    d.color = calloc(reg->n + 1, sizeof(*d.color));
    d.stack = calloc(reg->n + 1, sizeof(*d.stack));
    if (d.color == NULL || d.stack == NULL) {
        free(d.color);
        free(d.stack);
        return;
    }
    for (size_t i = 0; i < reg->n; i++) {
        reg->v[i]->order = -1;
        reg->v[i]->cycle = 0;
    }
    /* Visit in name order so the start order does not depend on file order. */
    for (;;) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < reg->n; i++) {
            if (reg_usable(reg->v[i]) && d.color[i] == 0 &&
                (best == (size_t)-1 || strcmp(reg->v[i]->name, reg->v[best]->name) < 0)) {
                best = i;
            }
        }
        if (best == (size_t)-1) {
            break;
        }
        visit(&d, best);
    }
    free(d.color);
    free(d.stack);

    for (size_t i = 0; i < reg->n; i++) {
        oa_plugin *p = reg->v[i];
        const char *const *req;
        if (!reg_usable(p) || p->state == OA_STATE_RUNNING || !p->enabled) {
            continue;
        }
        if (p->cycle) {
            reg_set_state(reg, p, OA_STATE_FAILED, NULL);
            continue;
        }
        req = p->desc->requires;
        for (size_t r = 0; req != NULL && req[r] != NULL; r++) {
            int found = 0;
            for (size_t j = 0; j < reg->n; j++) {
                if (j != i && provides(reg->v[j], req[r])) {
                    found = 1;
                }
            }
            if (!found) {
                char why[512];
                snprintf(why, sizeof(why), "requires '%s', which no loaded plugin provides",
                         req[r]);
                p->dep_wait = 1;
                reg_set_state(reg, p, OA_STATE_FAILED, why);
                break;
            }
        }
    }
    for (size_t i = 0; i < reg->n; i++) {
        reg->list[i] = reg->v[i];
    }
    reg->nlist = reg->n;
    qsort(reg->list, reg->nlist, sizeof(*reg->list), by_listing);
}

/* ---- dependency queries for the lifecycle ------------------------------ */

/* Returns 1 when every requirement of p has a running provider; otherwise
 * writes why into buf. */
int reg_deps_running(oa_registry *reg, oa_plugin *p, char *buf, size_t len)
{
    const char *const *req = p->desc->requires;
    for (size_t r = 0; req != NULL && req[r] != NULL; r++) {
        oa_plugin *cand = NULL;
        int ok = 0;
        for (size_t j = 0; j < reg->n; j++) {
            oa_plugin *q = reg->v[j];
            if (q == p || !provides(q, req[r])) {
                continue;
            }
            if (q->state == OA_STATE_RUNNING) {
                ok = 1;
                break;
            }
            cand = q;
        }
        if (ok) {
            continue;
        }
        if (cand == NULL) {
            snprintf(buf, len, "requires '%s', which no loaded plugin provides", req[r]);
        } else if (!cand->enabled) {
            snprintf(buf, len, "requires '%s', which is disabled (enable '%s' first)", req[r],
                     cand->name);
        } else {
            /* The nested reason may be cut short; the message stays readable. */
            int w = snprintf(buf, len, "requires '%s', which is not running (%s: ", req[r],
                             cand->name);
            if (w > 0 && (size_t)w < len) {
                size_t room = len - (size_t)w;
                const char *inner = cand->reason[0] ? cand->reason : oa_state_name(cand->state);
                size_t n = strlen(inner);
                if (n + 2 > room) {
                    n = room - 2;
                }
                memcpy(buf + w, inner, n);
                buf[(size_t)w + n] = ')';
                buf[(size_t)w + n + 1] = '\0';
            }
        }
        return 0;
    }
    return 1;
}

/* Returns 1 when running plugin q would lose its last running provider of
 * some requirement if p stopped. */
int reg_depends_on(oa_registry *reg, oa_plugin *q, oa_plugin *p)
{
    const char *const *req = q->desc->requires;
    for (size_t r = 0; req != NULL && req[r] != NULL; r++) {
        int via_p = provides(p, req[r]);
        int other = 0;
        if (!via_p) {
            continue;
        }
        for (size_t j = 0; j < reg->n; j++) {
            oa_plugin *o = reg->v[j];
            if (o != p && o != q && o->state == OA_STATE_RUNNING && provides(o, req[r])) {
                other = 1;
            }
        }
        if (!other) {
            return 1;
        }
    }
    return 0;
}
