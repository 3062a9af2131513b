# raftsnap — build and test entry points. `make test` is what CI runs.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/raftsnap/raftsnap/client.version=$(VERSION) -X github.com/raftsnap/raftsnap/client.commit=$(COMMIT)
# How long each fuzz target runs in `make test`; `make fuzz FUZZTIME=10m` for a longer run.
FUZZTIME ?= 10s

export RAFTSNAP_TOOLS_DIR ?= $(HOME)/.cache/raftsnap-tools
export RAFTSNAP_CONSUL_BIN ?= $(RAFTSNAP_TOOLS_DIR)/consul
export RAFTSNAP_NOMAD_BIN ?= $(RAFTSNAP_TOOLS_DIR)/nomad

.PHONY: build test unit short servers fuzz bench bench-go lint clean dist dist-check completions man docs-cli

# ISA-L (Debian libisal-dev) makes snapshot verification's inflate several
# times faster through cgo (snapshot/inflate_isal.go). `make build` uses it
# when the library and a C compiler are found; `make ISAL=off` does not.
# Release packages (make dist) stay pure Go, with no runtime library.
ISAL ?= $(shell (pkg-config --exists libisal 2>/dev/null || test -e /usr/include/isa-l/igzip_lib.h) && command -v cc >/dev/null && echo on || echo off)
ifeq ($(ISAL),on)
build: export GOFLAGS += -tags=isal
endif

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o raftsnap .
	@echo "raftsnap built with inflater: $(if $(filter on,$(ISAL)),ISA-L igzip (cgo, -tags isal),klauspost/compress (pure Go))"

# Everything: lint, the real Consul/Nomad servers the integration tests need,
# all tests, every fuzz target briefly, then the amd64 .deb built and checked
# (about 10 s once nfpm is in the Go build cache).
test: lint servers unit fuzz dist-check

# The load test runs alone after the others: it measures schedule delays and
# memory under load, which other packages' tests running beside it on 2
# cores would distort (and which it would distort for them).
LOAD_TEST := ^TestDaemonUnderLoad$$

# Every package's tests, end-to-end ones (./e2e) included; nothing skips
# (a missing server or tool fails, see docs/testing.md).
unit:
	$(GO) test -count=1 -timeout 20m -skip '$(LOAD_TEST)' ./...
	$(GO) test -count=1 -timeout 10m -run '$(LOAD_TEST)' -v ./e2e/
	@if [ "$(ISAL)" != on ]; then echo "make unit: ISA-L (libisal-dev) and a C compiler are needed to test the isal build of ./snapshot; install them (.ci/run does) or run with ISAL=off" >&2; [ "$(origin ISAL)" = "command line" ]; fi
	if [ "$(ISAL)" = on ]; then $(GO) test -count=1 -timeout 20m -tags isal ./snapshot/...; fi

# The fast loop while working: no servers, no root, no built binary (the
# tests that need them skip under -short); about a minute on 2 cores.
short:
	$(GO) test -short ./...

# Builds Consul and Nomad from the Go module proxy once, cached in $(RAFTSNAP_TOOLS_DIR).
servers:
	.ci/build-servers

fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz
	if [ "$(ISAL)" = on ]; then $(GO) test -tags isal -run '^$$' -fuzz '^FuzzInflateEquivalence$$' -fuzztime $(FUZZTIME) ./snapshot/; fi

# Crash soak: the SIGKILL loop of e2e/crash_test.go with SOAK_KILLS (or
# RAFTSNAP_SOAK_KILLS from the environment) kills instead of CI's 200 (about 0.5 s each on 2 cores); see docs/reliability.md.
SOAK_KILLS ?= $(or $(RAFTSNAP_SOAK_KILLS),2000)
.PHONY: soak
soak:
	RAFTSNAP_SOAK_KILLS=$(SOAK_KILLS) $(GO) test -count=1 -timeout 0 -v -run '^TestCrashKillLoop$$' ./e2e/

# Side by side with consul/curl (issue 8; docs/performance.md "Side by side"):
# a real Consul server loaded with 1 GiB of KV, save/verify/restore, daemon
# RSS, /status latency, idle cost, retention and store-listing benchmarks.
# About 25 minutes and 4 GiB of temp disk; needs $(RAFTSNAP_CONSUL_BIN)
# (make servers) and curl. Stops what it starts and removes its temp files.
# BENCH_FLAGS goes to the bench (go run ./bench -help), e.g.
# BENCH_FLAGS='-size-mib 256 -runs 1 -idle 1m', or '-rows rss -size-mib 3072' for row 3
# (daemon RSS) at 3 GiB; BENCH_OUT=FILE keeps the report.
BENCH_FLAGS ?=
BENCH_OUT   ?=
bench: build
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT INT TERM && \
	CGO_ENABLED=0 $(GO) build -trimpath -o $$tmp/raftsnap-purego . && \
	$(GO) build -o $$tmp/bench ./bench && \
	$$tmp/bench -raftsnap ./raftsnap -raftsnap-purego $$tmp/raftsnap-purego -go $(GO) \
		$(if $(BENCH_OUT),-out $(BENCH_OUT)) $(BENCH_FLAGS)

# The archive core's Go micro-benchmarks (raftsnap vs stdlib, 64 MiB).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./snapshot/...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -f raftsnap
	rm -rf $(DIST_DIR)

# --- Release artefacts: tarballs, .deb/.rpm, man pages, completions ---------
# Everything lands in $(DIST_DIR) (git-ignored).
DIST_DIR      ?= dist/out
DIST_ARCHES   ?= amd64 arm64
NFPM_VERSION  ?= v2.45.2
NFPM          ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
# Man page dates and tarball mtimes come from the last commit, so that two
# builds of one commit are identical.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
# dpkg and rpm want a version that starts with a digit and orders correctly:
# v1.2.3 -> 1.2.3, v1.2.3-4-gabc -> 1.2.3+4.gabc, untagged abc123 -> 0.0.0+git.abc123.
PKG_VERSION   ?= $(shell echo '$(VERSION)' | sed -E -e '/^v[0-9]/{s/^v//;s/-/+/;s/-/./g;b' -e '}' -e 's/-/./g;s/^/0.0.0+git./')
HOST_RAFTSNAP := $(DIST_DIR)/host/raftsnap

$(HOST_RAFTSNAP): FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ .
FORCE:

# The CLI reference in docs/ is committed; client's TestCLIReferenceUpToDate
# fails when it is stale.
docs-cli: $(HOST_RAFTSNAP)
	env -u TMPDIR $(HOST_RAFTSNAP) gen-docs --markdown docs/cli-reference

completions: $(HOST_RAFTSNAP)
	$(HOST_RAFTSNAP) gen-docs --completions $(DIST_DIR)/completions

man: $(HOST_RAFTSNAP)
	rm -rf $(DIST_DIR)/man && $(HOST_RAFTSNAP) gen-docs --man $(DIST_DIR)/man
	gzip -n -9 $(DIST_DIR)/man/*.1

# One stage directory per architecture holds exactly what ships; the tarball
# is that directory, and nfpm takes the binary, man pages and completions
# from it (see dist/nfpm.yaml).
dist: completions man
	@rm -rf $(DIST_DIR)/raftsnap_*_linux_*/ $(DIST_DIR)/*.tar.gz $(DIST_DIR)/*.deb $(DIST_DIR)/*.rpm $(DIST_DIR)/SHA256SUMS
	@set -e; for arch in $(DIST_ARCHES); do \
		name=raftsnap_$(PKG_VERSION)_linux_$$arch; stage=$(DIST_DIR)/$$name; \
		rm -rf $$stage && mkdir -p $$stage/examples $$stage/grafana $$stage/prometheus; \
		echo "build $$name"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$stage/raftsnap . ; \
		cp -R $(DIST_DIR)/man $(DIST_DIR)/completions $$stage/; \
		cp dist/grafana/*.json $$stage/grafana/; cp dist/prometheus/*.yml $$stage/prometheus/; \
		cp dist/examples/*.yml $$stage/examples/; cp README.md $$stage/; \
		mkdir -p $$stage/systemd && cp dist/systemd/raftsnap.* $$stage/systemd/; \
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
			-C $(DIST_DIR) -czf $(DIST_DIR)/$$name.tar.gz $$name; \
		nfpmcfg=$(DIST_DIR)/nfpm-$$arch.yaml; \
		sed -e "s|\$${RAFTSNAP_STAGE}|$$stage|g" dist/nfpm.yaml > $$nfpmcfg; \
		for fmt in deb rpm; do \
			PKG_ARCH=$$arch PKG_VERSION=$(PKG_VERSION) \
				$(NFPM) package --config $$nfpmcfg --packager $$fmt --target $(DIST_DIR)/; \
		done; \
	done
	@cd $(DIST_DIR) && sha256sum *.tar.gz *.deb *.rpm > SHA256SUMS && cat SHA256SUMS

# Builds the amd64 .deb and checks its contents with dpkg-deb.
dist-check:
	$(MAKE) dist DIST_ARCHES=amd64
	dist/check-deb.sh $(DIST_DIR)/raftsnap_$(PKG_VERSION)_amd64.deb

# Longer fuzzing than `make fuzz` (10 s per target in CI): every Fuzz target
# for FUZZTIME each, e.g. `make fuzz-long FUZZTIME=10m` (about 1.5 h for the
# nine targets). New crashers land in the package's testdata/fuzz/; see
# docs/reliability.md, Hostile input.
.PHONY: fuzz-long
fuzz-long:
	FUZZTIME=$(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),10m) .ci/fuzz

# Load soak: 100 snapshot jobs on 2 s intervals against one dev cluster while
# /status is polled 200/s, for 2 minutes (as in make unit) or LOAD_DURATION
# (e.g. 30m); figures in docs/reliability.md, Load.
LOAD_DURATION ?=
.PHONY: soak-load
soak-load:
	RAFTSNAP_LOAD_DURATION=$(LOAD_DURATION) $(GO) test -count=1 -timeout 0 -v -run '^TestDaemonUnderLoad$$' ./e2e/
