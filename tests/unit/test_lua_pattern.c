/* Lua patterns in scripts (host/lua_pattern.c) against stock Lua 5.4.
 *
 * One Lua chunk builds a table of cases (function, subject, pattern, init
 * or replacement, plain or max n): hand-written ones covering every item of
 * the manual's §6.4.1 and the four functions of §6.4, malformed patterns
 * and the limits, plus generated short patterns on short subjects. It runs
 * each case under pcall and describes the results (values with their
 * types, or the error message) as text. The same chunk runs in a plain
 * lua_State with luaL_openlibs (the stock functions) and as a script on a
 * real host (the sandboxed ones, which report through the bus); every case
 * must read the same.
 *
 * Register in tests/CMakeLists.txt next to test_lua (no plugins needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "lua.h"
#include "testutil.h"

#define WAIT_MS 10000     /* safety bound of a wait; never asserted */
#define CASES_GENERATED 400 /* the chunk's generated cases */
#define CASES_MIN 150     /* hand-written cases, at least */
#define SHOW_MAX 20       /* differences printed before failing */

typedef struct fx {
    char *dir;
    oa_host h;
    oa_lua *rt;
    uv_timer_t tick;
    json_t *results; /* what the script reported */
} fx;

/* ---- the cases and the harness ------------------------------------------ */

static const char cases_lua[] =
    "local cases = {}\n"
    "local function case(fn, ...)\n"
    "  cases[#cases + 1] = {fn = fn, args = table.pack(...)}\n"
    "end\n"
    "local function wrapped(fn, ...)\n"
    "  cases[#cases + 1] = {fn = fn, args = table.pack(...), wrapped = true}\n"
    "end\n"
    "local bytes = {}\n"
    "for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end\n"
    "local ALL = table.concat(bytes)\n"
    "\n"
    "-- find: init, plain, anchors, position results\n"
    "case('find', 'hello world', 'o')\n"
    "case('find', 'hello world', 'o', 6)\n"
    "case('find', 'hello world', 'o', -3)\n"
    "case('find', 'hello world', 'o', -100)\n"
    "case('find', 'hello world', 'o', 0)\n"
    "case('find', 'hello world', 'l+')\n"
    "case('find', 'hello', 'l', 10)\n"
    "case('find', 'hello', '', 1)\n"
    "case('find', 'hello', '', 6)\n"
    "case('find', 'hello', '', 7)\n"
    "case('find', 'hello', '', -1)\n"
    "case('find', '', '')\n"
    "case('find', '', 'a')\n"
    "case('find', '', '.')\n"
    "case('find', 'a.b', '.', 1, true)\n"
    "case('find', 'a.b', '.', 1, false)\n"
    "case('find', 'a+b', '+', 1, true)\n"
    "case('find', 'aa+b', 'a+', 1, 1)\n"
    "case('find', 'a(b', '(', 1, true)\n"
    "case('find', 'x[y]', '[y]', 1, true)\n"
    "case('find', 'x[y]', '[y]')\n"
    "case('find', 'abc', 'c)')\n"
    "case('find', 'abcabc', 'bc', 3, true)\n"
    "case('find', 'abcabc', 'bcx', 1, true)\n"
    "case('find', 'abc', 'b', nil, nil)\n"
    "case('find', 12345, 34)\n"
    "case('find', 'a\\0b\\0c', '\\0c')\n"
    "case('find', 'a\\0b\\0c', '%z')\n"
    "case('find', 'a\\0b\\0c', '[\\0]', 3)\n"
    "case('find', 'abc', 'b', 2.0)\n"
    "case('find', 'abc', 'b', '2')\n"
    "case('find', 'abc', 'b', 1.5)\n"
    "case('find', nil, 'a')\n"
    "case('find', 'abc')\n"
    "case('find', 'abc', {})\n"
    "case('find', 'aaab', 'a-b')\n"
    "case('find', 'key = value', '(%w+)%s*=%s*(%w+)')\n"
    "case('find', 'hello', '()ll()')\n"
    "case('find', 'hello', '^h')\n"
    "case('find', 'hello', '^e')\n"
    "case('find', 'hello', '^e', 2)\n"
    "case('find', 'hello', 'o$')\n"
    "case('find', 'hello', 'l$')\n"
    "case('find', 'a$b', '$b')\n"
    "case('find', 'a^b', 'a^b')\n"
    "case('find', 'hello', '^')\n"
    "case('find', 'hello', '$')\n"
    "case('find', 'hello', '^$')\n"
    "case('find', '', '^$')\n"
    "case('find', 'hello', '^hello$')\n"
    "case('find', 'hello', '^.-$')\n"
    "\n"
    "-- every class and its complement over all 256 bytes\n"
    "for _, cl in ipairs({'a', 'c', 'd', 'g', 'l', 'p', 's', 'u', 'w', 'x'}) do\n"
    "  case('gsub', ALL, '%' .. cl, '')\n"
    "  case('gsub', ALL, '%' .. cl:upper(), '')\n"
    "end\n"
    "case('gsub', ALL, '.', '')\n"
    "\n"
    "-- escapes and sets\n"
    "for _, p in ipairs({'%.', '%%', '%]', '%[', '%-', '%^', '%$', '%(', '%)', '%*', '%+',\n"
    "    '%?', '[a-f]', '[^a-f]', '[%a_]', '[%d%-]', '[a-]', '[-a]', '[]]', '[^]]', '[%]]',\n"
    "    '[a%-z]', '[z-a]', '[%W%d]', '[\\200-\\255]', '[%^]', '[^^]', '[.]', '[a-c-e]',\n"
    "    '[%a-z]', '[^%s%p]', '[+*?]', '[%%]', '[^%D]', '[\\0-\\31]', '%z', '[%z]'}) do\n"
    "  case('gsub', ALL, p, '')\n"
    "end\n"
    "\n"
    "-- quantifiers, captures, back-references, %b, %f\n"
    "case('match', 'aaa', 'a*')\n"
    "case('match', 'aaa', 'a+')\n"
    "case('match', 'aaa', 'a-')\n"
    "case('match', 'aaa', 'a-$')\n"
    "case('match', 'aaa', 'a?')\n"
    "case('match', 'baaa', 'a*')\n"
    "case('match', 'baaa', 'a+')\n"
    "case('match', 'xyz', 'x?y?z?w?')\n"
    "case('match', 'xz', 'x?y?z')\n"
    "case('match', '<<a>>', '<(.-)>')\n"
    "case('match', '<<a>>', '<(.*)>')\n"
    "case('match', 'int x = 10;', '^(%a+)%s+(%a+)%s*=%s*(%d+);$')\n"
    "case('match', '  trim me  ', '^%s*(.-)%s*$')\n"
    "case('match', 'abc', '[a-c]+')\n"
    "case('match', 'abc', '[^a]+')\n"
    "case('match', 'hello', '.-l')\n"
    "case('match', 'hello', '.*l')\n"
    "case('match', 'aaab', '.-b')\n"
    "case('match', 'aaab', 'a-ab')\n"
    "case('match', '2024-01-31', '(%d+)-(%d+)-(%d+)')\n"
    "case('match', 'abc', '((a)(b))')\n"
    "case('match', 'abc', '()a()b()c()')\n"
    "case('match', 'abc', 'a()')\n"
    "case('match', 'abc', '()')\n"
    "case('match', 'abc', '(%w+)', 2)\n"
    "case('match', 'abc', '(%w+)', -1)\n"
    "case('match', 'abc', '(%w*)', 4)\n"
    "case('match', 'abc', '(%w*)', 5)\n"
    "case('match', 'hello hello', '(h%a+) %1')\n"
    "case('match', 'hello world', '(h%a+) %1')\n"
    "case('match', 'xyxy', '(x)(y)%1%2')\n"
    "case('match', 'aa', '(a*)%1')\n"
    "case('match', 'abcabc', '(.-)%1$')\n"
    "case('match', 'abab', '()%1')\n"
    "case('match', 'say \"hi\" and \\'bye\\'', '([\"\\'])(.-)%1')\n"
    "case('match', 'f(a(b)c)d', '%b()')\n"
    "case('match', 'f(a(b)c', '%b()')\n"
    "case('match', '[[x]]', '%b[]')\n"
    "case('match', 'xaxbx', '%bxx')\n"
    "case('match', 'if (a and (b or c)) then', 'if (%b())')\n"
    "case('match', 'THE (quick) fox', '%f[%a]%a+')\n"
    "case('match', 'the end', '%f[%a]%a+$')\n"
    "case('find', 'hello', '%f[%a]')\n"
    "case('find', 'hello', '%f[%A]')\n"
    "case('find', 'hello', '%f[%l]', 2)\n"
    "case('find', '', '%f[%a]')\n"
    "case('find', '', '%f[^%a]')\n"
    "case('find', 'a\\0b', '%f[%z]')\n"
    "case('find', 'a\\0b', '%f[\\0]')\n"
    "case('find', 'abc', '%f[\\1-\\255]')\n"
    "case('find', '\\0abc', '%f[%Z]')\n"
    "case('gsub', 'abc', '%f[^\\0]', '^')\n"
    "case('gsub', 'abc', '%f[\\0]', '$')\n"
    "case('gsub', 'THE (quick) fox', '%f[%a]%a+', 'W')\n"
    "case('gsub', 'THE (quick) fox', '%f[%A]', '|')\n"
    "case('gsub', 'aaa', '%f[a]', '.')\n"
    "case('gsub', 'hello world from lua', '%f[%w]%w+', string.upper)\n"
    "\n"
    "-- gmatch, with init (5.4), empty matches, and '^' (not an anchor here)\n"
    "case('gmatch', 'hello world from lua', '%a+')\n"
    "case('gmatch', 'k1=v1, k2=v2', '(%w+)=(%w+)')\n"
    "case('gmatch', 'abc', '')\n"
    "case('gmatch', 'abc', '.-')\n"
    "case('gmatch', 'abc', 'x*')\n"
    "case('gmatch', 'hello world', '%a*')\n"
    "case('gmatch', 'hello world', '%a+', 3)\n"
    "case('gmatch', 'hello world', '%a+', -5)\n"
    "case('gmatch', 'hello world', '%a+', 100)\n"
    "case('gmatch', 'hello world', '%a+', 0)\n"
    "case('gmatch', 'hello', '', 6)\n"
    "case('gmatch', 'hello', '', 7)\n"
    "case('gmatch', '^a^a', '^a')\n"
    "case('gmatch', 'aaa', '^a')\n"
    "case('gmatch', 'abc', '()')\n"
    "case('gmatch', 'a,b,,c', '([^,]*)')\n"
    "case('gmatch', 'one two', '(%a+)()')\n"
    "case('gmatch', 'the end', '%f[%a]%a+')\n"
    "case('gmatch', 'abc', '[')\n"
    "case('gmatch', 'abc', '(')\n"
    "case('gmatch', 'abc', '%')\n"
    "case('gmatch', 'abc')\n"
    "case('gmatch', 'abc', 'b', 'x')\n"
    "\n"
    "-- gsub: strings, %0-%9 and %%, tables, functions, max n, empty matches\n"
    "case('gsub', 'hello world', 'o', '0')\n"
    "case('gsub', 'hello world', 'o', '0', 1)\n"
    "case('gsub', 'hello world', 'o', '0', 0)\n"
    "case('gsub', 'hello world', 'o', '0', -1)\n"
    "case('gsub', 'hello world', '(o)', '[%1]')\n"
    "case('gsub', 'hello world', 'o', '[%0]')\n"
    "case('gsub', 'hello world', 'o', '[%1]')\n"
    "case('gsub', 'hello world', 'o', '[%2]')\n"
    "case('gsub', 'hello world', 'o', '%%')\n"
    "case('gsub', 'hello world', 'o', '%')\n"
    "case('gsub', 'hello world', 'o', 'x%')\n"
    "case('gsub', 'hello world', 'o', '%a')\n"
    "case('gsub', 'hello world', '()o', '%1')\n"
    "case('gsub', 'hello world', '(l)(l)', '%2%1')\n"
    "case('gsub', 'hello world', '(%w+) (%w+)', '%2 %1')\n"
    "case('gsub', 'abc', '', '-')\n"
    "case('gsub', 'abc', '.-', '-')\n"
    "case('gsub', 'abc', 'x*', '-')\n"
    "case('gsub', 'hello world', '%w*', 'X')\n"
    "case('gsub', 'hello world', '%w+', '%0 %0', 1)\n"
    "case('gsub', 'abc', '^', '>')\n"
    "case('gsub', 'abc', '$', '<')\n"
    "case('gsub', 'abc', '^a', 'X')\n"
    "case('gsub', 'aaa', '^a', 'X')\n"
    "case('gsub', 'abc', '^x*', 'X')\n"
    "case('gsub', '', '', 'x')\n"
    "case('gsub', '', 'a*', 'x')\n"
    "case('gsub', 'a\\0b', '%z', 'Z')\n"
    "case('gsub', 'a\\0b', '\\0', 'Z')\n"
    "case('gsub', 'a\\0b', '[\\0]', '%%\\0')\n"
    "case('gsub', 'abc', 'b', '%0%0%0')\n"
    "case('gsub', 'hello', 'l', {l = 'L'})\n"
    "case('gsub', '$name is $age', '%$(%w+)', {name = 'bob', age = 42})\n"
    "case('gsub', '$name is $x', '%$(%w+)', {name = 'bob'})\n"
    "case('gsub', '$name', '%$(%w+)', {name = false})\n"
    "case('gsub', '$name', '%$(%w+)', {name = true})\n"
    "case('gsub', '$name', '%$(%w+)', {name = {}})\n"
    "case('gsub', 'abc', '.', {a = 1, b = 2.5})\n"
    "case('gsub', 'abc', '()', {[1] = 'one', [4] = 'four'})\n"
    "case('gsub', 'abc', '%w', function(c) return c:upper() .. '.' end)\n"
    "case('gsub', 'abc', '%w', function() return nil end)\n"
    "case('gsub', 'abc', '%w', function() return false end)\n"
    "case('gsub', 'abc', '%w', function() return 7 end)\n"
    "case('gsub', 'abc', '%w', function() return 1.5 end)\n"
    "case('gsub', 'abc', '(%w)()', function(c, pos) return c .. pos end)\n"
    "case('gsub', 'abc', '%w', function() error('from repl', 0) end)\n"
    "case('gsub', 'abc', '%w', function() return {} end)\n"
    "case('gsub', 'abc', '', function() return '.' end)\n"
    "case('gsub', 'abc', '%w', 5)\n"
    "case('gsub', 'abc', '%w', 2.5)\n"
    "case('gsub', 'abc', '%w')\n"
    "case('gsub', 'abc', '%w', true)\n"
    "case('gsub', 'abc', '%w', 'x', 'y')\n"
    "case('gsub', 'abc', '%w', 'x', 1.5)\n"
    "case('gsub', 'abc', '%w', 'x', 2.0)\n"
    "case('gsub', 'abc', '(', 'x')\n"
    "case('gsub', 'abc', '(', '%1')\n"
    "case('gsub', 'abc', '(', function(c) return c end)\n"
    "case('gsub', 'abc', '(', {})\n"
    "case('gsub', 123, 2, 9)\n"
    "\n"
    "-- malformed patterns and capture errors\n"
    "case('find', 'abc', '%')\n"
    "case('find', 'abc', 'a%')\n"
    "case('find', 'abc', '[a')\n"
    "case('find', 'abc', '[a%]')\n"
    "case('find', 'abc', '[')\n"
    "case('find', 'abc', '[^')\n"
    "case('find', 'abc', '[]')\n"
    "case('find', 'abc', '[^]')\n"
    "case('find', 'abc', '[%')\n"
    "case('find', 'abc', '(')\n"
    "case('find', 'abc', 'a)')\n"
    "case('find', 'abc', '.)')\n"
    "case('find', 'abc', '(()')\n"
    "case('find', 'abc', 'x(')\n"
    "case('match', 'abc', '%1')\n"
    "case('match', 'abc', '(a)%2')\n"
    "case('match', 'abc', '(a%1)')\n"
    "case('match', 'abc', '%0')\n"
    "case('match', 'abc', '%b')\n"
    "case('match', 'abc', '%ba')\n"
    "case('match', 'abc', '%f')\n"
    "case('match', 'abc', '%fa')\n"
    "case('match', 'abc', '%f[a')\n"
    "case('match', 'abc', 'a%f')\n"
    "case('match', 'xyz', 'x%b')\n"
    "case('match', string.rep('a', 40), string.rep('(a)', 32))\n"
    "case('match', string.rep('a', 40), string.rep('(a)', 33))\n"
    "case('match', string.rep('a', 40), string.rep('()', 33))\n"
    "case('match', string.rep('a', 40), string.rep('()', 32))\n"
    "case('find', string.rep('a', 300), string.rep('a?', 150))\n"
    "case('find', string.rep('a', 300), string.rep('a?', 199))\n"
    "case('find', string.rep('a', 300), string.rep('a?', 200))\n"
    "case('find', string.rep('a', 300), string.rep('a?', 201))\n"
    "case('find', string.rep('a', 300), string.rep('a*', 250))\n"
    "case('find', string.rep('a', 300), string.rep('(a)', 20) .. string.rep('a?', 170))\n"
    "case('find', string.rep('x', 10), string.rep('(', 20) .. 'x' .. string.rep(')', 20))\n"
    "\n"
    "-- errors that carry the caller's position, and method calls\n"
    "wrapped('find', 'abc', '[a')\n"
    "wrapped('match', 'abc', '%1')\n"
    "wrapped('gsub', 'abc', 'b', '%9')\n"
    "wrapped('gmatch', 'abc', '(')\n"
    "wrapped('find', 'abc', 'b', 'x')\n"
    "wrapped('rep', 'ab', 3)\n"
    "\n"
    "-- generated: short patterns from pieces, short subjects, every function\n"
    "local seed = 20240131\n"
    "local function rnd(n)\n"
    "  seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return seed // 65536 % n + 1\n"
    "end\n"
    "local pieces = {'a', 'b', 'c', '.', '%a', '%s', '%d', '[ab]', '[^a]', '[a-c]', '*', '+',\n"
    "  '-', '?', '*', '+', '-', '?', '(', ')', '()', '%1', '%2', '^', '$', '%b()', '%bab',\n"
    "  '%f[a]', '%f[^a]', '%', '[', ']', ' '}\n"
    "local letters = {'a', 'a', 'b', 'c', '(', ')', ' ', '1'}\n"
    "local repls = {'<%0>', '%1', 'x', '%%', '', '%2',\n"
    "  function(a, b) return b and a .. b or a .. '!' end, {a = 'A', b = false, ab = 'AB'}}\n"
    "local fns = {'find', 'match', 'gmatch', 'gsub'}\n"
    "for _ = 1, 400 do\n"
    "  local p = {}\n"
    "  for j = 1, rnd(6) do p[j] = pieces[rnd(#pieces)] end\n"
    "  local s = {}\n"
    "  for j = 1, rnd(11) - 1 do s[j] = letters[rnd(#letters)] end\n"
    "  local fn = fns[rnd(#fns)]\n"
    "  local init = rnd(3) == 1 and rnd(14) - 5 or nil\n"
    "  if fn == 'gsub' then\n"
    "    local max = rnd(4) == 1 and rnd(3) or nil\n"
    "    case(fn, table.concat(s), table.concat(p), repls[rnd(#repls)], max)\n"
    "  else\n"
    "    case(fn, table.concat(s), table.concat(p), init)\n"
    "  end\n"
    "end\n";

static const char harness_lua[] =
    "local function esc(s)\n"
    "  local out = {}\n"
    "  for i = 1, #s do\n"
    "    local b = s:byte(i)\n"
    "    if b >= 32 and b <= 126 and b ~= 92 then\n"
    "      out[#out + 1] = string.char(b)\n"
    "    else\n"
    "      out[#out + 1] = '\\\\' .. b\n"
    "    end\n"
    "  end\n"
    "  return table.concat(out)\n"
    "end\n"
    "local function show(v)\n"
    "  if type(v) == 'string' then return '\"' .. esc(v) .. '\"' end\n"
    "  if type(v) == 'number' then return math.type(v) .. ':' .. tostring(v) end\n"
    "  if v == nil or type(v) == 'boolean' then return tostring(v) end\n"
    "  return type(v)\n"
    "end\n"
    "local function show_all(r, from)\n"
    "  local parts = {}\n"
    "  for i = from, r.n do parts[#parts + 1] = show(r[i]) end\n"
    "  return table.concat(parts, ' ')\n"
    "end\n"
    "local function gmatch_all(...)\n"
    "  local it = string.gmatch(...)\n"
    "  local out = {}\n"
    "  for _ = 1, 100 do\n"
    "    local r = table.pack(it())\n"
    "    if r.n == 0 then return table.concat(out, ' ') end\n"
    "    out[#out + 1] = '{' .. show_all(r, 1) .. '}'\n"
    "  end\n"
    "  return table.concat(out, ' ') .. ' ...'\n"
    "end\n"
    "local function call_wrapped(fn, s, ...)\n"
    "  if fn == 'gmatch' then return gmatch_all(s, ...) end\n"
    "  return s[fn](s, ...)\n"
    "end\n"
    "local results = {}\n"
    "for i, c in ipairs(cases) do\n"
    "  local r\n"
    "  if c.wrapped then\n"
    "    r = table.pack(pcall(call_wrapped, c.fn, table.unpack(c.args, 1, c.args.n)))\n"
    "  elseif c.fn == 'gmatch' then\n"
    "    r = table.pack(pcall(gmatch_all, table.unpack(c.args, 1, c.args.n)))\n"
    "  else\n"
    "    r = table.pack(pcall(string[c.fn], table.unpack(c.args, 1, c.args.n)))\n"
    "  end\n"
    "  results[i] = c.fn .. '(' .. show_all(c.args, 1) .. ') -> ' ..\n"
    "    (r[1] and 'ok ' or 'error ') .. show_all(r, 2)\n"
    "end\n"
    "if oa then oa.emit('t.patterns', {results = results}) end\n"
    "return results\n";

/* ---- fixture ------------------------------------------------------------ */

static void on_results(void *arg, const char *topic, const char *json, size_t len)
{
    fx *f = arg;

    (void)topic;
    json_decref(f->results);
    f->results = json_loadb(json, len, 0, NULL);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    oa_host_options o;
    oa_lua_limits limits = {.budget_ms = 10000, .memory_bytes = (size_t)64 << 20};
    char err[512];

    assert_non_null(f);
    oa_log_init(OA_LOG_WARN, 0, 0);
    f->dir = oa_test_tmpdir();
    assert_non_null(f->dir);
    memset(&o, 0, sizeof(o));
    o.data_dir = f->dir;
    if (oa_host_open(&f->h, NULL, &o, err, sizeof(err)) != 0) {
        fail_msg("oa_host_open: %s", err);
    }
    assert_int_equal(oa_bus_subscribe(f->h.bus, "t.patterns", on_results, f, f, NULL), 0);
    uv_timer_init(f->h.loop, &f->tick);
    assert_int_equal(oa_lua_new(&f->h, &limits, NULL, &f->rt), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    oa_lua_free(f->rt);
    uv_close((uv_handle_t *)&f->tick, NULL);
    assert_int_equal(oa_host_close(&f->h), 0);
    json_decref(f->results);
    oa_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until the script's results arrive; fails after WAIT_MS. */
static json_t *wait_results(fx *f)
{
    uint64_t end = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;

    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (f->results == NULL) {
        if (uv_hrtime() > end) {
            fail_msg("gave up waiting for the script's results");
        }
        uv_run(f->h.loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->tick);
    return json_object_get(f->results, "results");
}

/* The chunk: the cases, then the harness. malloc'd. */
static char *chunk(void)
{
    size_t a = strlen(cases_lua);
    size_t b = strlen(harness_lua);
    char *src = malloc(a + b + 1);

    assert_non_null(src);
    memcpy(src, cases_lua, a);
    memcpy(src + a, harness_lua, b + 1);
    return src;
}

/* Runs the chunk with stock Lua; returns its lines as a JSON array. */
static json_t *run_stock(const char *src)
{
    lua_State *L = luaL_newstate();
    json_t *out = json_array();
    lua_Integer n;

    assert_non_null(L);
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, src, strlen(src), "=patterns") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fail_msg("stock Lua: %s", lua_tostring(L, -1));
    }
    n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, -1, i);
        json_array_append_new(out, json_string(lua_tostring(L, -1)));
        lua_pop(L, 1);
    }
    lua_close(L);
    return out;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_same_as_stock(void **state)
{
    fx *f = *state;
    char *src = chunk();
    json_t *stock = run_stock(src);
    json_t *ours;
    char err[4096];
    size_t n;
    size_t differ = 0;
    size_t errors = 0;

    if (oa_lua_load(f->rt, "patterns", src, err, sizeof(err)) != 0) {
        fail_msg("the chunk failed in the sandbox: %s", err);
    }
    ours = wait_results(f);
    n = json_array_size(stock);
    assert_true(n >= CASES_GENERATED + CASES_MIN);
    assert_int_equal(json_array_size(ours), n);
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(stock, i));
        const char *b = json_string_value(json_array_get(ours, i));
        assert_non_null(a);
        assert_non_null(b);
        if (strstr(a, ") -> error ") != NULL) {
            errors++;
        }
        if (strcmp(a, b) != 0) {
            differ++;
            if (differ <= SHOW_MAX) {
                print_message("case %zu differs:\n  stock: %s\n  ours:  %s\n", i + 1, a, b);
            }
        }
    }
    print_message("%zu cases (%zu hand-written, %d generated, %zu raising errors): %zu "
                  "identical, %zu different\n",
                  n, n - CASES_GENERATED, CASES_GENERATED, errors, n - differ, differ);
    assert_int_equal(differ, 0);
    json_decref(stock);
    free(src);
}

/* The sandbox really runs the budgeted functions: a backtracking blow-up
 * that stock Lua would chew on for hours is stopped by a short budget. */
static void test_budgeted_in_sandbox(void **state)
{
    fx *f = *state;
    oa_lua *rt;
    char err[4096];
    int rc;

    assert_int_equal(oa_lua_new(&f->h, NULL, NULL, &rt), 0);
    rc = oa_lua_load(rt, "blowup",
                     "local s = string.rep('a', 200000)\n"
                     "local found = s:find('.-.-b')\n",
                     err, sizeof(err));
    assert_int_equal(rc, OA_ETIMEDOUT);
    if (strstr(err, "blowup:2: stopped: the call ran longer than its 100 ms time budget") ==
        NULL) {
        fail_msg("unexpected error: %s", err);
    }
    oa_lua_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_as_stock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budgeted_in_sandbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
