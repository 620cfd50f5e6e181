/* mention.h: where a prompt quotes an attack rather than makes it: the
 * quoted spans of a text (string literals, inline code, code fences,
 * typographic quotes) and whether the words outside them talk about tests
 * or detection.  Pure; reads the text only. */
#ifndef AL_MENTION_H
#define AL_MENTION_H

#include "detector.h"

/* Appends to out the quoted spans of s[0..len), in text order, each from
 * its opening to its closing mark inclusive: "..." and `...` closed on the
 * same line, '...' opened after a non-word byte and closed before one on the
 * same line, the typographic quotes, and """...""", '''...''' and ```...```
 * across lines.  A mark that is never closed quotes nothing.  Returns AL_OK,
 * or AL_ENOMEM (out then holds the spans found so far). */
AL_API al_code al_mention_spans(const char *s, size_t len, al_spans *out);

/* Nonzero when a word outside the spans of sp (as al_mention_spans gave
 * them for s) speaks of testing or detecting attacks: test, assert, expect,
 * guard, filter, detect, classifier, red team, payload, label, regex,
 * pattern, fixture, sample, dataset, probe, CTF, attack, injection,
 * jailbreak, blocked, flagged, sanitize and their inflections. */
AL_API int al_mention_meta(const char *s, size_t len, const al_spans *sp);

/* Nonzero when the text assigns a quoted span to a code name for a prompt,
 * a system message or instructions (SYSTEM_PROMPT = """...""",
 * systemPrompt: `...`, "system": "..."): a developer writing a prompt. */
AL_API int al_mention_prompt_def(const char *s, size_t len, const al_spans *sp);

/* Keeps in sp only the quotes that read as mentioned, not made (in a
 * prompt al_mention_meta holds for): none when a
 * word outside the quotes asks for them to be acted on (respond, answer,
 * follow, do it, as written, ...); otherwise a string where code puts one
 * (after an opening bracket, '=', ',' or a quoted key's ':'), inside a code
 * fence the strings its code places, and every quote when the words outside
 * ask about them (review, check, explain, expect, should, is this, ...).  A
 * bare label ("Test payload: \"...\"") asks nothing.  Returns AL_OK, or
 * AL_ENOMEM (sp is then empty). */
AL_API al_code al_mention_keep(const char *s, size_t len, al_spans *sp);

/* Nonzero when [start, end) lies inside one span of sp. */
AL_API int al_mention_inside(const al_spans *sp, size_t start, size_t end);

#endif
