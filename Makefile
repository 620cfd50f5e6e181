# airlock: one Makefile.  make | make check | make demo | make bench | make eval
# Modules are discovered: shim/hook_*.c go only into the shim, shim/cli*.c only
# into the CLI, every other shim/*.c is a pure module linked into both and into
# the unit tests (tests/unit/test_*.c, one program per module, under ASan+UBSan).
# Fragments in mk/*.mk add example programs and other targets.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := libpcre2-8 libcjson openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE \
  -DAL_PREFIX='"$(PREFIX)"' $(WARN) $(PKG_CFLAGS) -Ishim
CFLAGS ?= -O2
LIBS := $(PKG_LIBS) -lpthread -ldl -lm
SAN := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B := build
ALL_SRC := $(sort $(wildcard shim/*.c))
HOOK_SRC := $(filter shim/hook_%.c,$(ALL_SRC))
CLI_SRC := $(filter shim/cli%.c,$(ALL_SRC))
CORE_SRC := $(filter-out $(HOOK_SRC) $(CLI_SRC),$(ALL_SRC))
HDRS := $(wildcard shim/*.h)

CORE_OBJ := $(patsubst shim/%.c,$(B)/obj/%.o,$(CORE_SRC))
HOOK_OBJ := $(patsubst shim/%.c,$(B)/obj/%.o,$(HOOK_SRC))
CLI_OBJ := $(patsubst shim/%.c,$(B)/obj/%.o,$(CLI_SRC))
SAN_OBJ := $(patsubst shim/%.c,$(B)/san/%.o,$(CORE_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/san/%,$(UNIT_SRC))
MAP := $(wildcard shim/airlock.map)

.PHONY: all check deps unit integration demo bench eval train install clean format
all: $(B)/libairlock.so $(B)/airlock

# The objects embed PREFIX (AL_PREFIX: where an installed airlock finds its shim
# and rules), so a stamp holding it, rewritten only when it changes, rebuilds
# them when PREFIX is given later (say, to 'make install' alone).
PREFIX_STAMP := $(B)/prefix.stamp
$(shell mkdir -p $(B) && { [ "$$(cat $(PREFIX_STAMP) 2>/dev/null)" = "$(PREFIX)" ] || \
  printf '%s' "$(PREFIX)" > $(PREFIX_STAMP); })

$(B)/obj/%.o: shim/%.c $(HDRS) $(PREFIX_STAMP) | $(B)/obj
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@
$(B)/san/%.o: shim/%.c $(HDRS) $(PREFIX_STAMP) | $(B)/san
	$(CC) $(BASE_CFLAGS) $(SAN) -c $< -o $@
$(B)/obj $(B)/san $(B)/ex:
	mkdir -p $@

$(B)/libairlock.so: $(CORE_OBJ) $(HOOK_OBJ) $(MAP)
	$(CC) -shared -o $@ $(CORE_OBJ) $(HOOK_OBJ) $(if $(MAP),-Wl$(comma)--version-script=$(MAP)) \
	  -Wl,-z,nodelete $(LIBS)
$(B)/airlock: $(CLI_OBJ) $(CORE_OBJ)
	$(CC) -o $@ $(CLI_OBJ) $(CORE_OBJ) $(LIBS)

$(B)/san/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(SAN_OBJ) $(HDRS)
	$(CC) $(BASE_CFLAGS) $(SAN) -Itests/unit -o $@ $< $(SAN_OBJ) $(LIBS)

comma := ,
.SECONDARY:

deps:
	@sh tools/deps.sh

unit: $(UNIT_BIN)
	@sh tests/run.sh unit $(UNIT_BIN)

integration: all examples
	@sh tests/run.sh integration

# make check: install what is missing, build, run every test (unit tests
# under ASan+UBSan, then the integration tests against the real shim).
check: deps
	@$(MAKE) --no-print-directory all examples $(UNIT_BIN)
	@sh tests/run.sh all $(UNIT_BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/airlock $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/airlock/rules
	install -m 0755 $(B)/libairlock.so $(DESTDIR)$(PREFIX)/lib/airlock/libairlock.so
	install -m 0755 $(B)/airlock $(DESTDIR)$(PREFIX)/bin/airlock
	cp -r rules/. $(DESTDIR)$(PREFIX)/share/airlock/rules/

format:
	clang-format -i shim/*.c shim/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf $(B)

-include $(sort $(wildcard mk/*.mk))

# Fragments append to these: example programs (built by check), and the
# demo / bench / eval / train recipes.
.PHONY: examples
examples: $(EXAMPLES)
