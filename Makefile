# deskphone — run `make` for the list of targets.
SHELL      := /bin/bash
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BUILDDATE  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.buildDate=$(BUILDDATE)
OUT        := out
GOFLAGS_RELEASE := -trimpath -ldflags="$(LDFLAGS)"
FUZZTIME   ?= 30s
BENCHRUNS  ?= 5

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build every binary for this machine into out/
	@mkdir -p $(OUT)
	CGO_ENABLED=0 go build $(GOFLAGS_RELEASE) -o $(OUT)/ ./cmd/...

build-arm: ## Build phoned for linux/arm (GOARM=7) into out/phoned-armv7
	@mkdir -p $(OUT)
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 go build $(GOFLAGS_RELEASE) -o $(OUT)/phoned-armv7 ./cmd/phoned

build-arm64: ## Build phoned for linux/arm64 into out/phoned-arm64
	@mkdir -p $(OUT)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build $(GOFLAGS_RELEASE) -o $(OUT)/phoned-arm64 ./cmd/phoned

build-rig: build-arm64 ## Build rig binaries: arm64 (Pi 3/4/5/Zero 2 W) and armv6 (Pi Zero/1)
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 go build $(GOFLAGS_RELEASE) -o $(OUT)/phoned-armv6 ./cmd/phoned

demo: ## Run the phone simulator against the embedded lab pool (type digits, Enter=OK, Backspace=Back)
	go run ./cmd/phonesim

lint: ## gofmt, go vet, staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

test-race: ## go test -race ./... (summary: packages, skipped tests with their reasons, failures)
	@go build -o $(OUT)/testsummary ./tools/testsummary
	set -o pipefail; go test -race -json -timeout 12m ./... | $(OUT)/testsummary

# 32-bit and ARM test binaries run under qemu-user where the kernel cannot
# run them natively; real-peer (netns) tests skip there and say so.
QEMU_ENV := DESKPHONE_EMULATED=1 GODEBUG=asyncpreemptoff=1
PKGS_32  := ./board/... ./bootstrap/... ./certstore/... ./device/... ./ui/... ./tools/labpool/...

test-32: ## Tests on GOARCH=386 (32-bit, like ARMv7: int overflow, 64-bit atomics)
	@if GOARCH=386 CGO_ENABLED=0 go test -count=1 -run=NONE ./device/backoff >/dev/null 2>&1; then \
	  GOARCH=386 CGO_ENABLED=0 DESKPHONE_EMULATED=1 go test -short -timeout 10m $(PKGS_32); \
	elif command -v qemu-i386-static >/dev/null; then \
	  GOARCH=386 CGO_ENABLED=0 $(QEMU_ENV) tools/rig/gotest-emulated.sh -short -timeout 2m -exec qemu-i386-static $(PKGS_32); \
	else echo "SKIP test-32: this kernel cannot run 386 binaries and qemu-i386-static is not installed"; fi

test-arm: build-arm build-arm64 ## Run phoned under qemu-user (arm and arm64) and the board tests under qemu-arm
	@if command -v qemu-arm-static >/dev/null; then \
	  qemu-arm-static $(OUT)/phoned-armv7 version && \
	  qemu-arm-static $(OUT)/phoned-armv7 selftest --board sim && \
	  GOARCH=arm GOARM=7 CGO_ENABLED=0 $(QEMU_ENV) tools/rig/gotest-emulated.sh -count=1 -timeout 2m -exec qemu-arm-static ./board/... ; \
	else echo "SKIP test-arm: qemu-arm-static not installed (apt-get install qemu-user-static)"; fi
	@if command -v qemu-aarch64-static >/dev/null; then \
	  qemu-aarch64-static $(OUT)/phoned-arm64 version && \
	  qemu-aarch64-static $(OUT)/phoned-arm64 selftest --board sim ; \
	else echo "SKIP test-arm: qemu-aarch64-static not installed"; fi

test: lint test-arm test-32 test-race ## Everything CI runs: lint, ARM binaries under qemu, 32-bit tests, race tests (last)

check: test build-rig ## test + rig builds

fuzz: ## Run every fuzz target for FUZZTIME (default 30s) each
	@go run ./tools/fuzzall -fuzztime $(FUZZTIME)

bench: ## Cold/warm sign-in benchmark JSON (vs. the floor and pidgin-sipe) + codec benchmarks
	@mkdir -p $(OUT); rm -f $(OUT)/interop.json
	@INTEROP_REPORT=$(CURDIR)/$(OUT)/interop.json go test -count=1 -run 'TestSIPESignInTLSDSK$$' ./tools/interop >/dev/null 2>&1 || echo "bench: pidgin-sipe comparison unavailable (needs root, pidgin-sipe, libpurple-dev)"
	go run ./cmd/phonesim bench --runs $(BENCHRUNS) --interop $(OUT)/interop.json
	go test -run='^$$' -bench=. -benchmem ./bootstrap/... ./device/... ./certstore/... 2>/dev/null | grep -E '^(Benchmark|ok|PASS)' || true

reliability: ## Power-cut sweep, labpool fault matrix, every fuzz target (FUZZTIME each)
	go run ./tools/reliability -fuzztime $(FUZZTIME)

clean: ## Remove build output
	rm -rf $(OUT)

.PHONY: help build build-arm build-arm64 build-rig demo lint test-race test-32 test-arm test check fuzz bench reliability clean
