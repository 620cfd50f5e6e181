/* regex_compat.h: pattern rewrites that keep PCRE2's JIT matching what its
 * interpreter matches.  Pure. */
#ifndef AL_REGEX_COMPAT_H
#define AL_REGEX_COMPAT_H

#include "al.h"

/* PCRE2 10.42's JIT, with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF (how every
 * rule is compiled), fails a bare \S, \W or \D on a non-ASCII character
 * ("x \S\S\S y" never matches "x дыж y"), while the interpreter and the
 * same escapes inside a class ([\S]) match.  Returns a malloc'd copy of
 * pattern with each such escape outside a class, a \Q...\E quote or a
 * (?#...) comment written as a one-item class; the same matches, in both
 * matchers.  NULL when out of memory.  The rewrite only inserts bytes, so
 * a pattern that compiles keeps compiling, and one that does not fails at
 * the same construct. */
AL_API char *al_regex_jit_safe(const char *pattern);

#endif
