# Two commands set up everything on a fresh Debian machine:
#   make run    installs what is missing, builds, starts the engine
#   make test   installs what is missing, builds, runs every test
# Extra CMake options: make test CMAKE_ARGS="-DOA_ASAN=ON" BUILD=build-asan
# make test also runs the suite under ASan+UBSan in build-san; SAN=0 skips that.

BUILD ?= build
CMAKE_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DATA ?= var
SAN ?= 1
RUN_ARGS ?=

.PHONY: all deps test-deps build run test test-san asan ubsan bench clean

# The browser test's Node packages, reinstalled when the lock file changes.
BROWSER_DEPS = tests/browser/node_modules/.package-lock.json
$(BROWSER_DEPS): tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The first run of a data folder turns on playback (transport-tcp, swarm,
# segmenter, streamer) so that /ace/getstream works at once, and live
# broadcasting with a demo broadcast "demo" of a generated test pattern
# (auto-start, so later runs resume it); later runs keep whatever the
# administrator chose since. The engine runs in the foreground (Ctrl-C stops
# it); beside it, scripts/live-demo.sh waits for the admin API, starts the demo
# once and prints where to watch it. HTTP is the listener's address.
PLAYBACK_PLUGINS = transport-tcp swarm segmenter streamer
HTTP ?= 127.0.0.1:6878
run: build
	@if [ ! -e $(DATA)/.playback-defaults ]; then \
	  for p in $(PLAYBACK_PLUGINS); do \
	    $(BUILD)/bin/openace --data $(DATA) plugins enable $$p || exit 1; \
	  done; touch $(DATA)/.playback-defaults; fi
	@if [ ! -e $(DATA)/.live-demo ]; then \
	  $(BUILD)/bin/openace --data $(DATA) plugins enable live || exit 1; fi
	@scripts/live-demo.sh $(BUILD)/bin/openace $(DATA) $(HTTP) $$$$ & \
	exec $(BUILD)/bin/openace --data $(DATA) --http $(HTTP) $(RUN_ARGS)

test: test-deps $(BROWSER_DEPS) $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
ifneq ($(SAN),0)
	$(MAKE) --no-print-directory test-san
endif

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-san: test-deps $(BROWSER_DEPS)
	@test -f build-san/CMakeCache.txt || cmake -S . -B build-san -DOA_ASAN=ON -DOA_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-san -j $(JOBS)
	cd build-san && ctest --output-on-failure -j $(JOBS)

asan:
	$(MAKE) test SAN=0 BUILD=build-asan CMAKE_ARGS="-DOA_ASAN=ON -DCMAKE_BUILD_TYPE=Debug"

ubsan:
	$(MAKE) test SAN=0 BUILD=build-ubsan CMAKE_ARGS="-DOA_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug"

bench: build
	bench/host/run.sh $(BUILD)
	bench/lua/run.sh $(BUILD)
	bench/swarm-throughput/run.sh $(BUILD)
	bench/startup/run.sh $(BUILD)
	bench/live/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-san build-asan build-ubsan
