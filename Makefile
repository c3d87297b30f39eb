# Thin aliases over the scripts in tools/; the scripts are the source of truth.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
CXX_SOURCES = $(shell git ls-files '*.cpp' '*.hpp')

.PHONY: build test test-unit test-integration test-asan fuzz lint format run stop clean

build:
	cmake --preset $(PRESET) >/dev/null && cmake --build --preset $(PRESET)

# Everything, with the devstack started and stopped around it (what CI runs).
test:
	PRESET=$(PRESET) tools/run-tests

# Pure logic only: needs no PostgreSQL or Redis.
test-unit: build
	ctest --preset $(PRESET) -L unit

# Against the devstack's PostgreSQL and Redis (started if needed, left running).
test-integration: build
	tools/devstack up && eval "$$(tools/devstack env)" && ctest --preset $(PRESET) -L integration

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan:
	PRESET=debug tools/run-tests

# Every libFuzzer target of fuzz/ for FUZZ_SECONDS each (fuzz/README.md): make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 30
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/run-fuzz

# bash -n on the scripts, clang-format, and clang-tidy against $(BUILD_DIR)'s compile commands.
lint:
	PRESET=$(PRESET) tools/lint

format:
	clang-format -i $(CXX_SOURCES)

run:
	tools/run-platform

stop:
	tools/devstack down

clean:
	rm -rf build
