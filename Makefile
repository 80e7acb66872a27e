# kalshi-gateway build.  `make` builds build/kalshi-gateway and build/mock-exchange;
# `make SANITIZE=address,undefined` builds the same into build-asan/ (never mixed).
# `make test` installs missing packages, builds, and runs every test.
# `make run` installs missing packages, builds and runs the gateway (or the demo).

CC      ?= cc
WERROR  ?= $(if $(CI),-Werror,)
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wwrite-strings -Wcast-qual -Wundef $(WERROR)
CFLAGS  ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -I.
LDLIBS  := -lmicrohttpd -lcurl -ljansson -lssl -lcrypto -lpthread

ifdef SANITIZE
BUILD   ?= build-$(subst $(comma),-,$(SANITIZE))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
SANFLAGS :=
endif
comma := ,

ALLCFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
ALLLDFLAGS = $(LDFLAGS) $(SANFLAGS)

# Library objects: everything the gateway is made of except main.c, so unit
# tests can link any module.
LIB_SRCS  := $(sort $(wildcard policy/*.c upstream/*.c conf/*.c) \
             $(filter-out gateway/main.c,$(wildcard gateway/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
MOCK_SRCS := $(sort $(wildcard tests/mock/*.c))
MOCK_OBJS := $(MOCK_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

GATEWAY := $(BUILD)/kalshi-gateway
MOCK    := $(BUILD)/mock-exchange

DEB_PKGS := libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev \
            libcmocka-dev pkg-config python3 openssl curl ca-certificates

.PHONY: all deps run test unit e2e clean bench fuzz docker-check compat ui-test
all: $(GATEWAY) $(MOCK) $(UNIT_BINS) $(BUILD)/bench_ratelimit

$(GATEWAY): $(BUILD)/obj/gateway/main.o $(LIB_OBJS)
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS)

$(MOCK): $(MOCK_OBJS)
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS)

# The limiter's cost per request (tests/bench/bench_ratelimit.c; cheap,
# so part of all).
$(BUILD)/bench_ratelimit: $(BUILD)/obj/tests/bench/bench_ratelimit.o $(LIB_OBJS)
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $<

# Installs the Debian packages the build and tests need, as root or through
# sudo; otherwise prints the exact command and fails.
deps:
	@sh tests/deps.sh $(DEB_PKGS)

unit: deps all
	@sh tests/run_unit.sh $(UNIT_BINS)

e2e: deps all
	@python3 tests/e2e/run.py --build $(BUILD)

test: deps all
	@sh tests/run_unit.sh $(UNIT_BINS)
	@python3 tests/e2e/run.py --build $(BUILD)

run: deps all
	@sh gateway/run.sh $(BUILD)

# Benchmarks: nginx and wrk on loopback, side by side with the gateway.
bench: deps all
	@sh tests/bench/run.sh $(BUILD)

# libFuzzer targets over every parser, for a bounded time each.
fuzz:
	@sh tests/fuzz/run.sh

# Checks the Docker files without a Docker engine.
docker-check: all
	@sh docker/check.sh $(BUILD)

# Drives the gateway with Kalshi's official TypeScript SDK.
compat: deps all
	@sh tests/compat/run.sh $(BUILD)

# The dashboard in headless Chromium (playwright-core, no browser download).
ui-test: deps all
	@sh tests/ui/run.sh $(BUILD)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
