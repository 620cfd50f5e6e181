# make fuzz: one libFuzzer target per parser (HTTP/1.1 framing, SSE/NDJSON
# framing, a whole connection through the exchange), built with clang under
# ASan+UBSan and run FUZZ_TIME seconds each.  Not part of make check.
FUZZ_TIME ?= 20
FUZZ_CC ?= clang
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
  -fvisibility=hidden $(PKG_CFLAGS) -Ishim

$(B)/fuzz:
	mkdir -p $@
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(HDRS) | $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(CORE_SRC) $(LIBS)

.PHONY: fuzz
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do echo "== $$f"; mkdir -p $(B)/fuzz/corpus-$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_TIME) -max_len=8192 $(B)/fuzz/corpus-$$(basename $$f) \
	  tests/fixtures/exchange 2>&1 | tail -n 3 || exit 1; done
