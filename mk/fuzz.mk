# make fuzz: one libFuzzer target per parser or loader (tests/fuzz/fuzz_*.c),
# built with clang under ASan+UBSan from the pure modules, each run
# FUZZ_TIME seconds on its seed corpus.  make fuzz-smoke runs each for
# FUZZ_SMOKE seconds plus its saved regression inputs.  Not part of make check.
#   corpora: $(B)/fuzz/corpus-<target> (grows), tests/fuzz/corpus/<target>
#   (saved crash reproducers and seeds, kept), plus the fixtures below.
FUZZ_TIME ?= 120
FUZZ_SMOKE ?= 5
FUZZ_CC ?= clang
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE -fvisibility=hidden \
  -DAL_PREFIX='"$(PREFIX)"' $(PKG_CFLAGS) -Ishim
FUZZ_SAN := -fsanitize=address,undefined
FUZZ_ENV := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
FUZZ_OBJ := $(patsubst shim/%.c,$(B)/fuzz/obj/%.o,$(CORE_SRC))

# Seed directories per target (fixtures only; evaluation data never).
FUZZ_SEEDS_fuzz_conn := tests/fixtures/exchange
FUZZ_SEEDS_fuzz_http1 := tests/fixtures/exchange
FUZZ_SEEDS_fuzz_sse := tests/fixtures/exchange
FUZZ_SEEDS_fuzz_response := tests/fixtures/exchange $(B)/fuzz/seeds-fuzz_response
FUZZ_SEEDS_fuzz_rules := tests/fixtures/rules $(B)/fuzz/seeds-fuzz_rules
FUZZ_MAXLEN_fuzz_rules := 131072
FUZZ_MAXLEN_fuzz_model := 131072
FUZZ_SEEDS_fuzz_sni := tests/fixtures/tls

$(B)/fuzz $(B)/fuzz/obj:
	mkdir -p $@
$(B)/fuzz/obj/%.o: shim/%.c $(HDRS) $(PREFIX_STAMP) | $(B)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) $(HDRS) | $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIBS)

# fuzz_run(target, seconds): grow the corpus; stop at the first crash.
fuzz_run = mkdir -p $(B)/fuzz/seeds-fuzz_rules && cp rules/*.json tests/fixtures/exchange/pack.json \
    $(B)/fuzz/seeds-fuzz_rules/ && /usr/bin/python3 tests/fuzz/seed_response.py $(B)/fuzz/seeds-fuzz_response && mkdir -p $(B)/fuzz/corpus-$(1) tests/fuzz/corpus/$(1) $(B)/fuzz/crash-$(1)/ && \
  $(FUZZ_ENV) $(B)/fuzz/$(1) -max_total_time=$(2) -max_len=$(or $(FUZZ_MAXLEN_$(1)),8192) -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=$(B)/fuzz/crash-$(1)/ -print_final_stats=1 \
    $(B)/fuzz/corpus-$(1) tests/fuzz/corpus/$(1) $(FUZZ_SEEDS_$(1)) $(FUZZ_SEEDS_DEFAULT)

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	@set -e; for t in $(notdir $(FUZZ_BIN)); do echo "== $$t"; \
	  $(MAKE) --no-print-directory -s fuzz-one T=$$t S=$(FUZZ_TIME); done
fuzz-smoke: $(FUZZ_BIN)
	@set -e; for t in $(notdir $(FUZZ_BIN)); do echo "== $$t"; \
	  $(MAKE) --no-print-directory -s fuzz-one T=$$t S=$(FUZZ_SMOKE); done
.PHONY: fuzz-one
fuzz-one:
	@$(call fuzz_run,$(T),$(S)) 2>$(B)/fuzz/log-$(T).txt || \
	  { tail -n 40 $(B)/fuzz/log-$(T).txt; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' $(B)/fuzz/log-$(T).txt | tail -n 2

# Out-of-memory torture (tests/torture/torture.c): the project's objects
# under ASan+UBSan with malloc & co. wrapped so the N-th allocation fails;
# run by tests/integration/test_torture.sh.
TORTURE_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
$(B)/san/torture: tests/torture/torture.c $(SAN_OBJ) $(HDRS) | $(B)/san
	$(CC) $(BASE_CFLAGS) $(SAN) -o $@ $< $(SAN_OBJ) $(TORTURE_WRAP) $(LIBS)
EXAMPLES += $(B)/san/torture
