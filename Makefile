# Phoenix build, run and test entry points. `make run` and `make test` are the
# two set-up commands in the README.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/phoenix-platform/phoenix/pkg/version.Version=$(VERSION) -X github.com/phoenix-platform/phoenix/pkg/version.Commit=$(COMMIT)
# Modules built from their own directory (never in a go.work: see docs/decisions).
SUBMODULES := projects/collector tools
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build build-phoenix build-collector build-dashboard run test test-root test-submodules test-dashboard lint bench bench-api bench-ingest nab generate clean

all: build

build: build-phoenix build-collector

build-phoenix: build-dashboard
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/phoenix ./cmd/phoenix

# The dashboard is built into projects/dashboard/dist/ui (embedded by go
# build) when npm exists; without it bin/phoenix serves a page saying so.
# CI=true requires it. npm ci runs when the lockfile changed.
DASHBOARD := projects/dashboard
build-dashboard:
	@if ! command -v npm >/dev/null; then \
		if [ "$$CI" = true ]; then echo "npm is required with CI=true (Node.js 20.19+)" >&2; exit 1; fi; \
		echo "npm not found: bin/phoenix will serve a page saying the UI was not built"; exit 0; \
	fi; \
	cd $(DASHBOARD) && \
	if [ ! -f node_modules/.ci-stamp ] || [ package-lock.json -nt node_modules/.ci-stamp ]; then \
		npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.ci-stamp; fi && \
	npm run --silent build

build-collector:
	@if [ -f projects/collector/Makefile ]; then $(MAKE) -C projects/collector build; fi

# The main job: every service in one process on embedded SQLite and NATS,
# with a local agent, collector and demo traffic.
run: build
	./bin/phoenix server --dev

# Tests run the real binaries (phoenix-collector under an agent, the dev loop),
# so build them first; PHOENIX_COLLECTOR_BIN points tests at the collector.
test: build test-root test-submodules test-dashboard

test-root:
	PHOENIX_COLLECTOR_BIN=$(CURDIR)/bin/phoenix-collector $(GO) test $(GOTEST_FLAGS) ./...
	@# The race detector changes heap accounting, so the overload test's
	@# peak-heap bound is checked in a build without it.
	$(GO) test -count=1 -run 'TestOverload' ./projects/analytics/internal/ingest

test-submodules:
	@for m in $(SUBMODULES); do \
		if [ -f $$m/Makefile ]; then $(MAKE) -C $$m test || exit 1; fi; \
	done

# The dashboard: the generated API types match api/openapi.yaml, type
# check, Vitest, then the browser suite (Debian's chromium) against the
# bin/phoenix built above, with the bundle-size budget.
test-dashboard: build-phoenix
	cd $(DASHBOARD) && npm run --silent check:api && npm run --silent typecheck && npm test --silent && \
		PHOENIX_BIN=$(CURDIR)/bin/phoenix PHOENIX_COLLECTOR_BIN=$${PHOENIX_COLLECTOR_BIN:-$(CURDIR)/bin/phoenix-collector} npm run --silent e2e

lint:
	$(GO) vet ./...
	@for m in $(SUBMODULES); do if [ -f $$m/go.mod ]; then (cd $$m && $(GO) vet ./...) || exit 1; fi; done
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@for m in $(SUBMODULES); do if [ -f $$m/Makefile ]; then $(MAKE) -C $$m bench || exit 1; fi; done

# The API under load: the real gateway in process at 1,000 req/s for a read
# and a write route; fails when p99 > 10 ms or any request fails.
bench-api:
	$(GO) run ./projects/platform-api/cmd/apibench -rate 1000 -duration 10s

# Ingest under load: the analytics binary and the reference collector
# (bin/phoenix-collector, built first) side by side; fails when a target is
# missed.
bench-ingest: build-collector
	$(GO) run ./tests/performance/ingestbench

# The anomaly ensemble scored on NAB (standard profile), per category and
# overall; DATA is a NAB copy (data/<category>/*.csv, combined_windows.json).
nab:
	$(MAKE) -C tools nab DATA=$(abspath $(or $(DATA),../shared/datasets/nab))

clean:
	rm -rf bin
