# user.cleaning (self-hosted). `make run` and `make test` install what is missing first.

CC      ?= cc
PKGS    := libidn2 libpsl jansson yajl libsodium inih sqlite3 libmicrohttpd libcares hiredis libcurl \
           libzip expat xlsxwriter libxxhash \
           icu-uc icu-i18n
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lpthread
PYTHON  := /usr/bin/python3

B       := build
LIB_SRC := $(wildcard lib/*.c)
CLI_SRC := $(wildcard src/cli/*.c src/server/*.c)
TESTS   := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

# A sanitizer build lives in build/asan with the same layout.
ifeq ($(SANITIZE),1)
B       := build/asan
CC      := clang
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=all $(filter-out -O2 -g,$(CFLAGS))
LDFLAGS += -fsanitize=address,undefined
endif

LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/web_assets.o
SNAP    := build/lists.snap

.PHONY: all deps run test unit unit-run sanitize cli-test server-test python-test dashboard-test bench fuzz \
        fuzz-build clean lists format format-check

all: $(B)/usercleaning $(B)/lists.snap $(B)/infrastructure.txt $(TESTS:%=$(B)/tests/%)

deps:
	@scripts/deps.sh

$(B)/obj/%.o: %.c $(wildcard include/uc/*.h lib/*.h src/cli/*.h src/server/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The dashboard (web/) and the OpenAPI document compiled into the binary.
$(B)/gen/web_assets.c: $(wildcard web/*) docs/openapi.json scripts/embed.py
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/embed.py web $@ docs/openapi.json

$(B)/obj/gen/web_assets.o: $(B)/gen/web_assets.c src/server/assets.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/server -c -o $@ $<

$(B)/libuc.a: $(LIB_OBJ)
	ar rcs $@ $^

$(B)/usercleaning: $(CLI_OBJ) $(B)/libuc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libuc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ilib -o $@ $< $(B)/libuc.a $(LDFLAGS) $(LDLIBS) -lcmocka

# The default snapshot: the pinned npm lists (extracted to text) + our curated lists.
NPM_LISTS := build/lists/.extracted
$(NPM_LISTS): lists/package-lock.json lists/extract.js
	@test -d lists/node_modules && command -v node >/dev/null || { echo "make: the pinned" \
	  "npm lists (or node) are not installed: run 'make deps' first (make run and make test" \
	  "do it)" >&2; exit 1; }
	@mkdir -p build/lists
	node lists/extract.js build/lists
	@touch $@

# The curated mail-infrastructure fingerprints, read from beside the binary.
$(B)/infrastructure.txt: lists/infrastructure.txt
	@mkdir -p $(B)
	cp $< $@

build/lists.snap: $(NPM_LISTS) lists/sources.ini $(wildcard lists/*.txt) build/usercleaning
	build/usercleaning lists build lists/sources.ini $@

ifeq ($(SANITIZE),1)
$(B)/lists.snap: build/lists.snap
	@mkdir -p $(B)
	cp $< $@
endif

lists: build/lists.snap

# Every binary runs, each under a backstop of UNIT_TIMEOUT seconds: unit.h
# already fails a test that takes over UC_TEST_TIMEOUT (60) seconds, by name.
# A redis-server of their own (scripts/with-redis.sh) runs beside them: the
# store conformance suite and the ban tests run their Redis rows against it.
UNIT_TIMEOUT ?= 600
unit: all
	@scripts/with-redis.sh $(MAKE) --no-print-directory unit-run

unit-run:
	@failed=; for t in $(TESTS); do \
	  UC_TEST_SNAPSHOT=$(B)/lists.snap timeout --foreground -k 10 $(UNIT_TIMEOUT) $(B)/tests/$$t; \
	  rc=$$?; [ $$rc -ne 124 ] || echo "$$t: timed out after $(UNIT_TIMEOUT) s" >&2; \
	  [ $$rc -eq 0 ] || failed="$$failed $$t"; \
	done; [ -z "$$failed" ] || { echo "unit: failed:$$failed" >&2; exit 1; }

# Black-box suites: the real binary, a real SQLite file, real HTTP.
# A test that takes over TEST_TIMEOUT seconds fails (pytest-timeout, node's
# --test-timeout) instead of hanging the suite.
TEST_TIMEOUT ?= 120
PYTEST := $(PYTHON) -m pytest -q -p no:cacheprovider --timeout=$(TEST_TIMEOUT)
NODE_TEST := node --test --test-timeout=$(TEST_TIMEOUT)000

cli-test: all
	UC_BIN=$(B)/usercleaning $(PYTEST) tests/cli

server-test: all
	UC_BIN=$(B)/usercleaning $(PYTEST) tests/server

# The Python client and the Django integration, with pytest-django.
python-test: all
	cd clients/python && UC_BIN=$(CURDIR)/$(B)/usercleaning $(PYTHON) -m pytest -q --timeout=$(TEST_TIMEOUT)

# The dashboard in Debian's chromium (playwright-core); screenshots in build/dashboard-screenshots.
dashboard-test: all
	UC_BIN=$(CURDIR)/$(B)/usercleaning $(NODE_TEST) tests/dashboard/

# The unit tests and the black-box suites again under AddressSanitizer + UBSan.
sanitize: build/lists.snap
	$(MAKE) SANITIZE=1 all unit
	UC_SANITIZED=1 UC_BIN=build/asan/usercleaning $(PYTEST) tests/cli tests/server
	cd clients/python && UC_BIN=$(CURDIR)/build/asan/usercleaning $(PYTHON) -m pytest -q --timeout=$(TEST_TIMEOUT)
	UC_BIN=$(CURDIR)/build/asan/usercleaning $(NODE_TEST) tests/dashboard/

# Every suite runs even when one before it failed; the last line is a summary
# ("SUMMARY: 10 suites, 9 passed, 1 failed (server-test) in 312 s").
SUITES := deps format-check all unit cli-test server-test python-test dashboard-test fuzz-build \
          sanitize
test:
	@MAKE="$(MAKE)" scripts/suites.sh $(SUITES)

# Serves on 127.0.0.1:8080 with the store in ./data (first start prints the keys).
run: deps all
	$(B)/usercleaning serve --db ./data/usercleaning.db --lists build/lists.snap

bench: deps all
	scripts/deps.sh --bench
	bench/classify/run.sh
	/usr/bin/python3 bench/http/run.py
	/usr/bin/python3 bench/batch/run.py

# Every libFuzzer harness, built into build/fuzz/ (fuzz-build: its name as a suite).
fuzz fuzz-build:
	$(MAKE) -C fuzz

# Every C file follows .clang-format; CI fails on the first difference.
C_FILES = $(shell find include lib src tests fuzz bench -name '*.[ch]' -not -path '*/node_modules/*')
format:
	clang-format -i $(C_FILES)
format-check:
	clang-format --dry-run --Werror $(C_FILES)

clean:
	rm -rf build
