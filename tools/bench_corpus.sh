#!/bin/sh
# tools/bench_corpus.sh OUT [MIN_BYTES]: English prose every Debian machine
# has (licence texts and package copyright files), repeated until OUT holds
# at least MIN_BYTES (default 8 MiB), one text of about 4 KB per line.
out=$1; min=${2:-8388608}
src=$out.src
cat /usr/share/common-licenses/* /usr/share/doc/*/copyright 2>/dev/null | tr -d '\r' > "$src"
[ -s "$src" ] || { echo "bench: no prose found under /usr/share" >&2; exit 1; }
# join lines with spaces into ~4 KB texts; stop once min bytes are written
awk -v min="$min" -v srcfile="$src" 'BEGIN {
    total = 0; t = ""
    while (total < min) {
        while ((getline line < srcfile) > 0) {
            t = t (t == "" ? "" : " ") line
            if (length(t) >= 4000) { print t; total += length(t) + 1; t = ""; if (total >= min) break }
        }
        close(srcfile)
    }
}' > "$out"
rm -f "$src"
