/* weights.h: verification of model weight files against a manifest of
 * known-good SHA-256 digests, so a process never loads swapped or tampered
 * weights.  The manifest is the output of `sha256sum` (or `airlock verify
 * --print`): lines "<64 hex digits>  <name>", '#' comments and blank lines
 * allowed.  A file is accepted when its digest appears in the manifest,
 * whatever its name or path.  Pure: reads only the descriptors and paths it
 * is handed; never logs. */
#ifndef AL_WEIGHTS_H
#define AL_WEIGHTS_H

#include <sys/types.h>

#include "al.h"

#define AL_WEIGHTS_MAX_ENTRIES 65536
#define AL_WEIGHTS_MAX_LINE 4096

typedef struct al_weights al_weights;

/* Loads the manifest at path.  On failure returns NULL and writes
 * "path:line: reason" (or "path: reason") into err.  Caller frees with
 * al_weights_free. */
AL_API al_weights *al_weights_load(const char *path, char *err, size_t errlen);

/* Parses manifest text (len bytes; need not be NUL-terminated).  name is
 * used in error messages only. */
AL_API al_weights *al_weights_parse(const char *text, size_t len, const char *name, char *err,
                                    size_t errlen);

AL_API void al_weights_free(al_weights *w);

/* Number of digests in the manifest. */
AL_API size_t al_weights_count(const al_weights *w);

/* 1 when digest (32 bytes) is in the manifest; *name (may be NULL) is then
 * set to the manifest's name for it (owned by w). */
AL_API int al_weights_known(const al_weights *w, const unsigned char digest[32], const char **name);

/* 1 when path names a weight file by its extension.  exts: a comma-separated
 * list without dots ("gguf,safetensors"), or NULL for the default list:
 * safetensors, gguf, ggml, bin, pt, pth, ckpt, onnx, h5, keras, tflite, pb,
 * pkl, pickle, joblib, npz, msgpack, mlmodel.  Case-insensitive; only the
 * last path component counts. */
AL_API int al_weights_is_weight_name(const char *path, const char *exts);

/* For names whose extension other files share (.pth is also Python's
 * path-configuration text file): 1 when the first n bytes of the file look
 * like weights (a zip archive or a pickle, as PyTorch writes), 0 when not;
 * 1 for every other extension. */
AL_API int al_weights_content_is_weights(const char *path, const unsigned char *head, size_t n);

/* SHA-256 of everything fd holds, read with pread from offset 0 (the file
 * offset is left untouched).  AL_EIO on a read error (errno kept). */
AL_API al_code al_weights_hash_fd(int fd, unsigned char digest[32]);

/* Lowercase hex of a digest into out (65 bytes with the NUL). */
AL_API void al_weights_hex(const unsigned char digest[32], char out[65]);

/* A small thread-safe memo of files already verified, keyed by device,
 * inode, size and a change time in nanoseconds (the shim passes the
 * status-change time, which utime() cannot set back), so reopening the same
 * unchanged file does not hash it again.  verdict: 1 known, 0 unknown. */
AL_API int al_weights_memo_get(dev_t dev, ino_t ino, off_t size, long long mtime_ns,
                               unsigned char digest[32], int *verdict);
AL_API void al_weights_memo_put(dev_t dev, ino_t ino, off_t size, long long mtime_ns,
                                const unsigned char digest[32], int verdict);
AL_API void al_weights_memo_clear(void);

/* One audit line for a weight file, appended to out as JSON + "\n":
 * {"time","pid","event":"weights","file":<last path component>,
 *  "sha256","verdict":"allowed"|"refused"|"unverified","mode","reason"}.
 * digest may be NULL (not hashed); reason may be NULL. */
AL_API al_code al_weights_audit_format(const char *path, const unsigned char *digest,
                                       const char *verdict, const char *mode, const char *reason,
                                       al_buf *out);

#endif
