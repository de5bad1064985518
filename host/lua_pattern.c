/* Lua 5.4 patterns for scripts, under the time budget.
 *
 * Lua's own string.find, string.match, string.gmatch and string.gsub
 * backtrack inside C, where the instruction-count hook never runs, so one
 * call such as string.find(string.rep("a", 200000), ".-.-b") could hold
 * the loop for hours. This file implements the same functions from the
 * reference manual (§6.4 and §6.4.1 "Patterns") with a matcher that counts
 * its steps and, every STEP_CHECK steps, asks the runtime whether the call
 * is past its budget; if so it stops the call exactly as the hook does
 * (oa_lua_budget_stop), so a pcall in the script cannot swallow it.
 *
 * What a step is: one pattern item tried at one subject position, one
 * character a greedy item consumes, and for work proportional to a length
 * (a set scanned, a back-reference compared, a replacement string copied)
 * one step per STEP_BYTES bytes. Recursion is bounded by DEPTH_MAX (the
 * error is "pattern too complex") and captures by CAPTURES_MAX ("too many
 * captures"), the limits and messages of stock Lua 5.4.
 *
 * The matcher works on pointers into subject and pattern, both Lua strings
 * kept alive on the stack (or as upvalues, for gmatch), and keeps its
 * captures on the C stack, so a raise from anywhere in it (a malformed
 * pattern, out of memory, the budget) leaves nothing to free. */
#include "lua_int.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#define CAPTURES_MAX 32
#define DEPTH_MAX 200
#define STEP_CHECK 4096
#define STEP_BYTES 32
#define ESC '%'
#define SPECIALS "^$*+?.([%-"

#define CAP_OPEN (-1)     /* a capture whose ')' has not been reached */
#define CAP_POSITION (-2) /* a position capture "()" */

typedef struct capture {
    const char *start;
    ptrdiff_t len; /* bytes, or CAP_OPEN or CAP_POSITION */
} capture;

/* One match attempt: the subject, the pattern, the captures so far and the
 * step count. */
typedef struct matcher {
    lua_State *L;
    const char *subject;
    const char *subject_end;
    const char *pattern_end;
    int depth_left;
    int ncaptures;
    size_t steps; /* since the last budget check */
    capture cap[CAPTURES_MAX];
} matcher;

static void matcher_init(matcher *m, lua_State *L, const char *s, size_t ls, const char *p,
                         size_t lp)
{
    m->L = L;
    m->subject = s;
    m->subject_end = s + ls;
    m->pattern_end = p + lp;
    m->depth_left = DEPTH_MAX;
    m->ncaptures = 0;
    m->steps = 0;
}

/* Forgets the captures of a failed attempt before the next one. */
static void matcher_reset(matcher *m)
{
    m->depth_left = DEPTH_MAX;
    m->ncaptures = 0;
}

/* Counts n steps; every STEP_CHECK of them the budget is checked and an
 * exhausted one stops the call (a raise). */
static void step(matcher *m, size_t n)
{
    m->steps += n;
    if (m->steps < STEP_CHECK) {
        return;
    }
    m->steps = 0;
    if (oa_lua_budget_over(m->L)) {
        oa_lua_budget_stop(m->L);
    }
}

/* ---- single characters ---------------------------------------------------- */

static int is_nul(int c)
{
    return c == 0;
}

/* Whether c belongs to class letter cl (the letter after '%'); an upper-case
 * letter is the complement of its class, any other character stands for
 * itself. %z ('\0') is gone from the manual but still accepted by Lua 5.4. */
static int class_has(int c, int cl)
{
    static const char letters[] = "acdglpsuwxz";
    static int (*const tests[])(int) = {isalpha, iscntrl, isdigit, isgraph, islower, ispunct,
                                        isspace, isupper, isalnum, isxdigit, is_nul};
    const char *at = cl != 0 ? strchr(letters, tolower(cl)) : NULL;
    int in;

    if (at == NULL) {
        return cl == c;
    }
    in = tests[at - letters](c) != 0;
    return isupper(cl) ? !in : in;
}

/* Whether c belongs to the set that starts at '[' (set) and whose closing
 * ']' is at close. */
static int set_has(matcher *m, int c, const char *set, const char *close)
{
    const char *q = set + 1;
    int want = 1;

    step(m, (size_t)(close - set) / STEP_BYTES);
    if (*q == '^') {
        want = 0;
        q++;
    }
    while (q < close) {
        unsigned char lo = (unsigned char)*q;
        if (lo == ESC) {
            if (class_has(c, (unsigned char)q[1])) {
                return want;
            }
            q += 2;
        } else if (q + 2 < close && q[1] == '-') {
            if (lo <= c && c <= (unsigned char)q[2]) {
                return want;
            }
            q += 3;
        } else {
            if (lo == c) {
                return want;
            }
            q++;
        }
    }
    return !want;
}

/* The end of the single-character class at p: past "%x", past a set's ']',
 * or p + 1. Raises on a malformed class. */
static const char *class_end(matcher *m, const char *p)
{
    const char *q;

    if (*p == ESC) {
        if (p + 1 >= m->pattern_end) {
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        }
        return p + 2;
    }
    if (*p != '[') {
        return p + 1;
    }
    q = p + 1;
    if (q < m->pattern_end && *q == '^') {
        q++;
    }
    /* The first character of a set is a member even when it is ']'. */
    for (;;) {
        if (q >= m->pattern_end) {
            luaL_error(m->L, "malformed pattern (missing ']')");
        }
        if (*q == ESC && q + 1 < m->pattern_end) {
            q++;
        }
        q++;
        if (q < m->pattern_end && *q == ']') {
            break;
        }
    }
    step(m, (size_t)(q - p) / STEP_BYTES);
    return q + 1;
}

/* Whether the subject character at s matches the class [p, ep). */
static int char_matches(matcher *m, const char *s, const char *p, const char *ep)
{
    int c;

    if (s >= m->subject_end) {
        return 0;
    }
    c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case ESC:
        return class_has(c, (unsigned char)p[1]);
    case '[':
        return set_has(m, c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* ---- the matcher ---------------------------------------------------------- */

static const char *match(matcher *m, const char *s, const char *p);

/* The longest run of the class at p from s, then shorter ones, each
 * followed by the rest of the pattern (after the quantifier at ep). */
static const char *match_greedy(matcher *m, const char *s, const char *p, const char *ep)
{
    size_t n = 0;

    while (char_matches(m, s + n, p, ep)) {
        n++;
    }
    step(m, n);
    for (;;) {
        const char *r = match(m, s + n, ep + 1);
        if (r != NULL) {
            return r;
        }
        if (n == 0) {
            return NULL;
        }
        n--;
    }
}

/* The shortest run of the class at p from s that lets the rest of the
 * pattern (after the '-' at ep) match. */
static const char *match_lazy(matcher *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = match(m, s, ep + 1);
        if (r != NULL) {
            return r;
        }
        if (!char_matches(m, s, p, ep)) {
            return NULL;
        }
        s++;
    }
}

/* Opens capture kind (CAP_OPEN or CAP_POSITION) at s and matches the rest
 * of the pattern from p. */
static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
    const char *r;

    if (m->ncaptures >= CAPTURES_MAX) {
        luaL_error(m->L, "too many captures");
    }
    m->cap[m->ncaptures].start = s;
    m->cap[m->ncaptures].len = kind;
    m->ncaptures++;
    r = match(m, s, p);
    if (r == NULL) {
        m->ncaptures--;
    }
    return r;
}

/* Closes the innermost open capture at s and matches the rest from p. */
static const char *close_capture(matcher *m, const char *s, const char *p)
{
    int i = m->ncaptures - 1;
    const char *r;

    while (i >= 0 && m->cap[i].len != CAP_OPEN) {
        i--;
    }
    if (i < 0) {
        luaL_error(m->L, "invalid pattern capture");
    }
    m->cap[i].len = s - m->cap[i].start;
    r = match(m, s, p);
    if (r == NULL) {
        m->cap[i].len = CAP_OPEN;
    }
    return r;
}

/* %1 to %9: the text of a closed capture again at s. */
static const char *match_backref(matcher *m, const char *s, int digit)
{
    int i = digit - '1';
    size_t len;

    if (i < 0 || i >= m->ncaptures || m->cap[i].len == CAP_OPEN) {
        luaL_error(m->L, "invalid capture index %%%d", i + 1);
    }
    if (m->cap[i].len == CAP_POSITION) {
        return NULL; /* a position is not text */
    }
    len = (size_t)m->cap[i].len;
    step(m, len / STEP_BYTES);
    if ((size_t)(m->subject_end - s) < len || memcmp(m->cap[i].start, s, len) != 0) {
        return NULL;
    }
    return s + len;
}

/* %bxy at s (p points at x): from an x to its balancing y. */
static const char *match_balanced(matcher *m, const char *s, const char *p)
{
    const char *start = s;
    int depth = 1;

    if (p + 1 >= m->pattern_end) {
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    }
    if (s >= m->subject_end || *s != p[0]) {
        return NULL;
    }
    for (s++; s < m->subject_end; s++) {
        if (*s == p[1]) {
            depth--;
            if (depth == 0) {
                step(m, (size_t)(s - start));
                return s + 1;
            }
        } else if (*s == p[0]) {
            depth++;
        }
    }
    step(m, (size_t)(s - start));
    return NULL;
}

/* %f[set] at s (p points at '['): the character before s (or '\0' at the
 * start) is outside the set and the one at s (or '\0' at the end) inside.
 * Returns the end of the set in the pattern, or NULL. */
static const char *match_frontier(matcher *m, const char *s, const char *p)
{
    const char *ep;
    int before;
    int at;

    if (p >= m->pattern_end || *p != '[') {
        luaL_error(m->L, "missing '[' after '%%f' in pattern");
    }
    ep = class_end(m, p);
    before = s > m->subject ? (unsigned char)s[-1] : 0;
    at = s < m->subject_end ? (unsigned char)*s : 0;
    if (!set_has(m, before, p, ep - 1) && set_has(m, at, p, ep - 1)) {
        return ep;
    }
    return NULL;
}

/* Matches the pattern from p at subject position s, without the depth
 * bookkeeping (see match). Items that cannot need to backtrack advance in
 * the loop; the others recurse. Returns the end of the match or NULL. */
static const char *match_items(matcher *m, const char *s, const char *p)
{
    for (;;) {
        const char *ep;

        step(m, 1);
        if (p == m->pattern_end) {
            return s;
        }
        if (*p == '(') {
            if (p + 1 < m->pattern_end && p[1] == ')') {
                return open_capture(m, s, p + 2, CAP_POSITION);
            }
            return open_capture(m, s, p + 1, CAP_OPEN);
        }
        if (*p == ')') {
            return close_capture(m, s, p + 1);
        }
        if (*p == '$' && p + 1 == m->pattern_end) {
            return s == m->subject_end ? s : NULL;
        }
        if (*p == ESC && p + 1 < m->pattern_end) {
            if (p[1] == 'b') {
                s = match_balanced(m, s, p + 2);
                if (s == NULL) {
                    return NULL;
                }
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p = match_frontier(m, s, p + 2);
                if (p == NULL) {
                    return NULL;
                }
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                s = match_backref(m, s, p[1]);
                if (s == NULL) {
                    return NULL;
                }
                p += 2;
                continue;
            }
        }

        /* A single-character class, maybe with a quantifier after it. */
        ep = class_end(m, p);
        if (!char_matches(m, s, p, ep)) {
            if (ep < m->pattern_end && (*ep == '*' || *ep == '?' || *ep == '-')) {
                p = ep + 1; /* zero repetitions are allowed */
                continue;
            }
            return NULL;
        }
        if (ep < m->pattern_end) {
            const char *r;
            switch (*ep) {
            case '?':
                r = match(m, s + 1, ep + 1);
                if (r != NULL) {
                    return r;
                }
                p = ep + 1;
                continue;
            case '+':
                return match_greedy(m, s + 1, p, ep);
            case '*':
                return match_greedy(m, s, p, ep);
            case '-':
                return match_lazy(m, s, p, ep);
            default:
                break;
            }
        }
        s++;
        p = ep;
    }
}

/* Matches the pattern from p at subject position s; returns the end of the
 * match or NULL. Nested calls past DEPTH_MAX raise "pattern too complex". */
static const char *match(matcher *m, const char *s, const char *p)
{
    const char *r;

    if (m->depth_left == 0) {
        luaL_error(m->L, "pattern too complex");
    }
    m->depth_left--;
    r = match_items(m, s, p);
    m->depth_left++;
    return r;
}

/* ---- captures ------------------------------------------------------------- */

/* Pushes capture i of the match [s, e): its text, or for a position
 * capture the 1-based position. With no captures, capture 0 is the whole
 * match. Raises for a capture that does not exist or is still open. */
static void push_capture(matcher *m, int i, const char *s, const char *e)
{
    if (i >= m->ncaptures) {
        if (i != 0) {
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        }
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    if (m->cap[i].len == CAP_OPEN) {
        luaL_error(m->L, "unfinished capture");
    }
    if (m->cap[i].len == CAP_POSITION) {
        lua_pushinteger(m->L, (lua_Integer)(m->cap[i].start - m->subject) + 1);
        return;
    }
    lua_pushlstring(m->L, m->cap[i].start, (size_t)m->cap[i].len);
}

/* Pushes every capture, or the whole match [s, e) when there are none and
 * s is not NULL. Returns how many values were pushed. */
static int push_captures(matcher *m, const char *s, const char *e)
{
    int n = m->ncaptures == 0 && s != NULL ? 1 : m->ncaptures;

    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++) {
        push_capture(m, i, s, e);
    }
    return n;
}

/* ---- find and match ------------------------------------------------------- */

/* A 1-based position argument as an offset from 1 (negative counts from the
 * end; 0 and anything before the start mean the start). */
static size_t start_offset(lua_Integer pos, size_t len)
{
    if (pos > 0) {
        return (size_t)pos - 1;
    }
    if (pos == 0 || pos < -(lua_Integer)len) {
        return 0;
    }
    return (size_t)((lua_Integer)len + pos);
}

/* Whether the pattern has a character that makes it more than plain text
 * (string.find searches plain text directly). */
static int has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++) {
        if (p[i] != '\0' && strchr(SPECIALS, p[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* The first occurrence of [p, p + lp) in [s, s + ls), or NULL. */
static const char *find_plain(matcher *m, const char *s, size_t ls, const char *p, size_t lp)
{
    const char *last;

    if (lp == 0) {
        return s;
    }
    if (lp > ls) {
        return NULL;
    }
    last = s + (ls - lp);
    while (s <= last) {
        const char *hit = memchr(s, (unsigned char)p[0], (size_t)(last - s) + 1);
        if (hit == NULL) {
            return NULL;
        }
        step(m, 1 + lp / STEP_BYTES);
        if (memcmp(hit + 1, p + 1, lp - 1) == 0) {
            return hit;
        }
        s = hit + 1;
    }
    return NULL;
}

/* string.find (find 1) and string.match (find 0). */
static int find_or_match(lua_State *L, int find)
{
    size_t ls;
    size_t lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    matcher m;
    const char *at;
    int anchored;

    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    matcher_init(&m, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *hit = find_plain(&m, s + init, ls - init, p, lp);
        if (hit == NULL) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
        lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
        return 2;
    }
    anchored = lp > 0 && p[0] == '^';
    if (anchored) {
        p++;
    }
    for (at = s + init;; at++) {
        const char *e;
        matcher_reset(&m);
        e = match(&m, at, p);
        if (e != NULL) {
            if (!find) {
                return push_captures(&m, at, e);
            }
            lua_pushinteger(L, (lua_Integer)(at - s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - s));
            return push_captures(&m, NULL, NULL) + 2;
        }
        if (anchored || at >= m.subject_end) {
            break;
        }
    }
    luaL_pushfail(L);
    return 1;
}

static int l_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int l_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* ---- gmatch --------------------------------------------------------------- */

#define NO_MATCH SIZE_MAX

/* Where a gmatch iteration goes on: byte offsets into the subject. */
typedef struct gmatch_state {
    size_t next;     /* where the next search starts; past the end when done */
    size_t last_end; /* end of the last match, NO_MATCH before the first */
} gmatch_state;

/* The iterator: upvalues subject, pattern and the gmatch_state. An empty
 * match where the previous match ended is skipped, so the iteration always
 * advances. */
static int gmatch_next(lua_State *L)
{
    size_t ls;
    size_t lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
    matcher m;

    matcher_init(&m, L, s, ls, p, lp);
    for (size_t at = g->next; at <= ls; at++) {
        const char *e;
        matcher_reset(&m);
        e = match(&m, s + at, p);
        if (e != NULL && (g->last_end == NO_MATCH || (size_t)(e - s) != g->last_end)) {
            g->next = (size_t)(e - s);
            g->last_end = g->next;
            return push_captures(&m, s + at, e);
        }
    }
    return 0;
}

/* string.gmatch(s, pattern [, init]). A '^' is an ordinary character here:
 * an anchor would stop the iteration after one match. */
static int l_gmatch(lua_State *L)
{
    size_t ls;
    size_t init;
    gmatch_state *g;

    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    init = start_offset(luaL_optinteger(L, 3, 1), ls);
    lua_settop(L, 2);
    g = lua_newuserdatauv(L, sizeof(*g), 0);
    g->next = init > ls ? ls + 1 : init;
    g->last_end = NO_MATCH;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ---- gsub ----------------------------------------------------------------- */

/* Appends the replacement string (argument 3) for the match [s, e): "%0"
 * is the whole match, "%1" to "%9" captures, "%%" a '%'. */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    size_t len;
    const char *t = lua_tolstring(m->L, 3, &len);
    const char *end = t + len;

    step(m, 1 + len / STEP_BYTES);
    while (t < end) {
        const char *esc = memchr(t, ESC, (size_t)(end - t));
        if (esc == NULL) {
            luaL_addlstring(b, t, (size_t)(end - t));
            return;
        }
        luaL_addlstring(b, t, (size_t)(esc - t));
        t = esc + 1;
        if (t < end && *t == ESC) {
            luaL_addchar(b, ESC);
        } else if (t < end && *t == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (t < end && isdigit((unsigned char)*t)) {
            push_capture(m, *t - '1', s, e);
            luaL_addvalue(b); /* a position becomes its decimal text */
        } else {
            luaL_error(m->L, "invalid use of '%c' in replacement string", ESC);
        }
        t++;
    }
}

/* Appends the replacement for the match [s, e) given by argument 3 of type
 * kind. A table or function answer of false or nil keeps the match. Returns
 * whether the subject changed. */
static int add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int kind)
{
    lua_State *L = m->L;

    if (kind == LUA_TFUNCTION) {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (kind == LUA_TTABLE) {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1)) {
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(b);
    return 1;
}

/* string.gsub(s, pattern, repl [, n]) -> the new string, the number of
 * matches replaced. */
static int l_gsub(lua_State *L)
{
    size_t ls;
    size_t lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int kind = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    const char *at = s;
    const char *last_end = NULL;
    lua_Integer count = 0;
    int changed = 0;
    int anchored;
    matcher m;
    luaL_Buffer b;

    luaL_argexpected(L,
                     kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION ||
                         kind == LUA_TTABLE,
                     3, "string/function/table");
    luaL_buffinit(L, &b);
    anchored = lp > 0 && p[0] == '^';
    if (anchored) {
        p++;
        lp--;
    }
    matcher_init(&m, L, s, ls, p, lp);
    while (count < max) {
        const char *e;
        matcher_reset(&m);
        e = match(&m, at, p);
        if (e != NULL && e != last_end) {
            count++;
            changed |= add_replacement(&m, &b, at, e, kind);
            at = e;
            last_end = e;
        } else if (at < m.subject_end) {
            luaL_addchar(&b, *at);
            at++;
        } else {
            break;
        }
        if (anchored) {
            break;
        }
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, at, (size_t)(m.subject_end - at));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, count);
    return 2;
}

/* ---- installation --------------------------------------------------------- */

void oa_lua_pattern_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"find", l_find},
        {"match", l_match},
        {"gmatch", l_gmatch},
        {"gsub", l_gsub},
        {NULL, NULL},
    };

    lua_getglobal(L, LUA_STRLIBNAME);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
