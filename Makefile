# raftsnap — build and test entry points. `make test` is what CI runs.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
# The commit needs no flag: Go embeds the VCS revision (daemon/buildinfo reads it).
LDFLAGS  := -X github.com/raftsnap/raftsnap/daemon/buildinfo.version=$(VERSION)
# How long each fuzz target runs in `make test`; `make fuzz FUZZTIME=10m` for a longer run.
FUZZTIME ?= 10s

export RAFTSNAP_TOOLS_DIR ?= $(HOME)/.cache/raftsnap-tools
export RAFTSNAP_CONSUL_BIN ?= $(RAFTSNAP_TOOLS_DIR)/consul
export RAFTSNAP_NOMAD_BIN ?= $(RAFTSNAP_TOOLS_DIR)/nomad
export RAFTSNAP_VERSITYGW_BIN ?= $(RAFTSNAP_TOOLS_DIR)/versitygw
export RAFTSNAP_AZURITE_BIN ?= $(RAFTSNAP_TOOLS_DIR)/npm/node_modules/.bin/azurite-blob

.PHONY: build test unit short servers fuzz bench bench-go lint clean dist dist-check completions man docs-cli

# ISA-L (Debian libisal-dev) makes snapshot verification's inflate several
# times faster through cgo (snapshot/inflate_isal.go). `make build` uses it
# when the library and a C compiler are found; `make ISAL=off` does not.
# The .deb packages link it too (make dist); tarballs and .rpm are pure Go.
ISAL ?= $(shell (pkg-config --exists libisal 2>/dev/null || test -e /usr/include/isa-l/igzip_lib.h) && command -v cc >/dev/null && echo on || echo off)

# Build tags of every binary raftsnap ships (internal/testkit builds the
# tests' binary with the same; a test keeps the two equal).
# disable_grpc_modules is cloud.google.com/go/storage's documented opt-out
# of gRPC DirectPath (xDS and Envoy's protos): raftsnap reaches GCS over its
# JSON API. It takes 20 MB off the binary, and the daemon maps 6 MiB fewer
# of its pages (docs/performance.md).
TAGS := disable_grpc_modules
comma := ,
BUILD_TAGS := $(TAGS)$(if $(filter on,$(ISAL)),$(comma)isal)

build:
	$(GO) build -tags "$(BUILD_TAGS)" -trimpath -ldflags "$(LDFLAGS)" -o raftsnap .
	@echo "raftsnap built with inflater: $(if $(filter on,$(ISAL)),ISA-L igzip (cgo, -tags isal),raftsnap table-driven inflate (pure Go))"

# Everything: lint, the real servers the integration tests need (Consul,
# Nomad, versitygw, Azurite), all tests, every fuzz target briefly, then the
# amd64 .deb built and checked (about 10 s once nfpm is in the Go build
# cache).
test: lint servers unit fuzz dist-check

# The load test runs alone after the others: it measures schedule delays and
# memory under load, which other packages' tests running beside it on 2
# cores would distort (and which it would distort for them).
LOAD_TEST := ^TestDaemonUnderLoad$$

# Every package's tests, end-to-end ones (./e2e) included; nothing skips
# (a missing server or tool fails, see docs/testing.md).
unit:
	$(GO) test -count=1 -timeout 20m -tags "$(TAGS)" -skip '$(LOAD_TEST)' ./...
	$(GO) test -count=1 -timeout 10m -tags "$(TAGS)" -run '$(LOAD_TEST)' -v ./e2e/
	@if [ "$(ISAL)" != on ]; then echo "make unit: ISA-L (libisal-dev) and a C compiler are needed to test the isal build of ./snapshot; install them (.ci/run does) or run with ISAL=off" >&2; [ "$(origin ISAL)" = "command line" ]; fi
	if [ "$(ISAL)" = on ]; then $(GO) test -count=1 -timeout 20m -tags "isal,$(TAGS)" ./snapshot/...; fi

# The fast loop while working: no servers, no root, no built binary (the
# tests that need them skip under -short); about a minute on 2 cores.
short:
	$(GO) test -short ./...

# Builds Consul, Nomad and versitygw from the Go module proxy and installs
# Azurite from npm, once, cached in $(RAFTSNAP_TOOLS_DIR).
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
# RSS, /status latency, idle cost, retention and store-listing benchmarks;
# row bucket (issue 14): the daemon's save into a versitygw bucket against
# `consul snapshot save` + `rclone copyto`; row encrypt (issue 15): save,
# verify and restore plain and with age; row list (issue 14): listing and
# planning retention over 100,000 snapshots in versitygw, requests counted.
# About 40 minutes and 6 GiB of temp disk; needs $(RAFTSNAP_CONSUL_BIN) and
# $(RAFTSNAP_VERSITYGW_BIN) (make servers), curl and rclone (Debian's). Stops
# what it starts and removes its temp files.
# BENCH_FLAGS goes to the bench (go run ./bench -help), e.g.
# BENCH_FLAGS='-size-mib 256 -runs 1 -idle 1m', or '-rows rss -size-mib 3072' for row 3
# (daemon RSS) at 3 GiB, or '-rows bucket -glue=false -size-mib 3072' for the
# daemon's RSS saving 3 GiB into a bucket; BENCH_OUT=FILE keeps the report.
BENCH_FLAGS ?=
BENCH_OUT   ?=
bench: build
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT INT TERM && \
	CGO_ENABLED=0 $(GO) build -tags "$(TAGS)" -trimpath -o $$tmp/raftsnap-purego . && \
	$(GO) build -o $$tmp/bench ./bench && \
	$$tmp/bench -raftsnap ./raftsnap -raftsnap-purego $$tmp/raftsnap-purego -go $(GO) \
		$(if $(BENCH_OUT),-out $(BENCH_OUT)) $(BENCH_FLAGS)

# The archive core's Go micro-benchmarks (raftsnap vs stdlib, 64 MiB).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./snapshot/...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags debtest ./dist/debtest/

clean:
	rm -f raftsnap
	rm -rf $(DIST_DIR)

# --- Release artefacts: tarballs, .deb/.rpm, man pages, completions ---------
# Everything lands in $(DIST_DIR) (git-ignored).
DIST_DIR      ?= dist/out
DIST_ARCHES   ?= amd64 arm64
NFPM_VERSION  ?= v2.45.2
NFPM          ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
# Man page dates, changelog dates and tarball mtimes come from the last
# commit, so that two builds of one commit are identical.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
# dpkg and rpm want a version that starts with a digit and orders correctly:
# v1.2.3 -> 1.2.3, v1.2.3-4-gabc -> 1.2.3+4.gabc, untagged abc123 -> 0.0.0+git.abc123.
PKG_VERSION   ?= $(shell echo '$(VERSION)' | sed -E -e '/^v[0-9]/{s/^v//;s/-/+/;s/-/./g;b' -e '}' -e 's/-/./g;s/^/0.0.0+git./')
# The packages' revision (Debian's "-1", rpm's Release): 1 for a version's
# first package, raised when only the packaging changes.
PKG_RELEASE   ?= 1
# For the changelog entry and BUILD-INFO.txt (the binaries embed it themselves).
DIST_COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
HOST_RAFTSNAP := $(DIST_DIR)/host/raftsnap
# Release binaries are stripped (-s: no symbol table, -w: no DWARF). What
# `raftsnap version` prints stays: the -X version and commit, and the Go
# version and build settings, which live in the build info, not in symbols.
DIST_LDFLAGS  := -s -w $(LDFLAGS)

# Which gzip inflater each artefact carries (docs/performance.md):
# - the amd64 .deb links Intel ISA-L through cgo (-tags isal) and depends on
#   Debian's libisal2 (libisal-dev has no static library);
# - the arm64 .deb, the .rpm and the tarballs are pure Go (CGO_ENABLED=0):
#   static, no runtime library. RHEL ships isa-l only in EPEL, and a cgo
#   build from Debian 12 would need glibc 2.34, newer than RHEL 8's. An
#   arm64 cross build with ISA-L works (gcc-aarch64-linux-gnu), but Debian
#   12's libisal-dev and libisal2 are not Multi-Arch: same, so their arm64
#   packages replace the amd64 ones that `make build` and the tests use.
# DEB_ISAL_ARCHES lists the architectures whose .deb links ISA-L (empty:
# pure-Go .debs); CC_<arch> overrides the C compiler for one of them.
DEB_ISAL_ARCHES ?= amd64
HOST_GOARCH   := $(shell $(GO) env GOARCH)
deb_cc = $(or $(CC_$(1)),$(if $(filter $(1),$(HOST_GOARCH)),cc,$(if $(filter arm64,$(1)),aarch64-linux-gnu-gcc,x86_64-linux-gnu-gcc)))
# Debian's hardening for the C side of the cgo build (PIE, RELRO and
# BIND_NOW are linker flags, set where it is built).
DEB_CGO_CFLAGS ?= -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
PUREGO_INFLATER := raftsnap table-driven inflate (pure Go)
ISAL_INFLATER   := ISA-L igzip (cgo, Debian's libisal2)

$(HOST_RAFTSNAP): FORCE
	$(GO) build -tags "$(TAGS)" -trimpath -ldflags "$(LDFLAGS)" -o $@ .
FORCE:

# The CLI reference in docs/ is committed; client's TestCLIReferenceUpToDate
# fails when it is stale.
docs-cli: $(HOST_RAFTSNAP)
	env -u TMPDIR $(HOST_RAFTSNAP) gen-docs --markdown docs/cli-reference

completions: $(HOST_RAFTSNAP)
	$(HOST_RAFTSNAP) gen-docs --completions $(DIST_DIR)/completions

# Section 1 for every command (with EXIT STATUS, ENVIRONMENT and FILES from
# the code), and raftsnap.yml(5) from docs/configuration.md.
man: $(HOST_RAFTSNAP)
	rm -rf $(DIST_DIR)/man && $(HOST_RAFTSNAP) gen-docs --man $(DIST_DIR)/man --config-reference docs/configuration.md
	gzip -n -9 $(DIST_DIR)/man/*.1 $(DIST_DIR)/man/*.5

# The Debian copyright file (machine-readable), also in the tarballs and
# the .rpm: raftsnap's licence and every Go module linked into the binary.
$(DIST_DIR)/copyright: FORCE
	@mkdir -p $(DIST_DIR)
	$(GO) run ./dist/gencopyright -go $(GO) -tags "$(TAGS) isal,$(TAGS)" -o $@

# The packages' changelog (nfpm's chglog format): dist/changelog.yml holds
# the releases; a build whose version is not among them (an untagged
# commit) gets an entry of its own on top, saying what it was built from.
$(DIST_DIR)/changelog.yml: FORCE
	@mkdir -p $(DIST_DIR)
	@if grep -q '^- semver: $(PKG_VERSION)-$(PKG_RELEASE)$$' dist/changelog.yml; then \
		cp dist/changelog.yml $@; \
	else \
		{ echo '- semver: $(PKG_VERSION)-$(PKG_RELEASE)'; \
		  echo "  date: $$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)"; \
		  echo '  packager: raftsnap maintainers <raftsnap@users.noreply.github.com>'; \
		  echo '  deb: {urgency: low, distributions: [stable]}'; \
		  echo '  changes:'; \
		  echo '    - commit: $(DIST_COMMIT)'; \
		  echo '      note: Development build of commit $(DIST_COMMIT), not a release.'; \
		  sed -e '/^#/d' -e '/^\[\]$$/d' dist/changelog.yml; } > $@; \
	fi

# One stage directory per architecture holds exactly what the tarball ships
# (a static pure-Go binary, which the .rpm, and the .deb outside
# DEB_ISAL_ARCHES, take too); the ISA-L .deb's binary is built beside it.
# nfpm takes the binaries, man pages and completions from there (see
# dist/nfpm.yaml).
dist: completions man $(DIST_DIR)/copyright $(DIST_DIR)/changelog.yml
	@rm -rf $(DIST_DIR)/raftsnap_*_linux_*/ $(DIST_DIR)/deb-*/ $(DIST_DIR)/*.tar.gz $(DIST_DIR)/*.deb $(DIST_DIR)/*.rpm $(DIST_DIR)/SHA256SUMS
	@set -e; for arch in $(DIST_ARCHES); do \
		name=raftsnap_$(PKG_VERSION)_linux_$$arch; stage=$(DIST_DIR)/$$name; \
		rm -rf $$stage && mkdir -p $$stage/examples $$stage/grafana $$stage/prometheus; \
		echo "build $$name (inflater: $(PUREGO_INFLATER))"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -tags "$(TAGS)" -trimpath -ldflags "$(DIST_LDFLAGS)" -o $$stage/raftsnap . ; \
		cp -R $(DIST_DIR)/man $(DIST_DIR)/completions $$stage/; \
		cp dist/grafana/*.json $$stage/grafana/; cp dist/prometheus/*.yml $$stage/prometheus/; \
		cp dist/examples/*.yml $$stage/examples/; cp README.md LICENSE $(DIST_DIR)/copyright $$stage/; \
		mkdir -p $$stage/systemd && cp dist/systemd/raftsnap.* $$stage/systemd/; \
		{ echo "raftsnap $(VERSION) (commit $(DIST_COMMIT)) for linux/$$arch, built with $$($(GO) env GOVERSION)"; \
		  echo "gzip inflater: $(PUREGO_INFLATER): a static binary that needs no library."; \
		  echo "The amd64 .deb carries the faster ISA-L inflater; to build it yourself,"; \
		  echo "install libisal-dev (Debian, Ubuntu) or isa-l-devel (Fedora, EPEL) and a C"; \
		  echo "compiler, then run 'make build' in a checkout. See docs/performance.md."; } > $$stage/BUILD-INFO.txt; \
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
			-C $(DIST_DIR) -czf $(DIST_DIR)/$$name.tar.gz $$name; \
		debbin=$$stage/raftsnap; debdeps=; \
		if echo " $(DEB_ISAL_ARCHES) " | grep -q " $$arch "; then \
			cc="$(call deb_cc,amd64)"; [ $$arch = arm64 ] && cc="$(call deb_cc,arm64)"; \
			command -v $$cc >/dev/null || { echo "make dist: $$cc not found: the $$arch .deb links ISA-L through cgo; install a C compiler for $$arch and libisal-dev, or leave $$arch out of DEB_ISAL_ARCHES" >&2; exit 1; }; \
			[ -e /usr/include/isa-l/igzip_lib.h ] || { echo "make dist: ISA-L's headers are missing: apt-get install libisal-dev, or leave $$arch out of DEB_ISAL_ARCHES" >&2; exit 1; }; \
			command -v dpkg-shlibdeps >/dev/null || { echo "make dist: dpkg-shlibdeps not found (apt-get install dpkg-dev): it computes the .deb's library dependencies" >&2; exit 1; }; \
			debdir=$(DIST_DIR)/deb-$$arch; mkdir -p $$debdir/debian/raftsnap/usr/bin $$debdir/debian/raftsnap/DEBIAN; \
			debbin=$$debdir/debian/raftsnap/usr/bin/raftsnap; \
			echo "build the $$arch .deb's binary (inflater: $(ISAL_INFLATER), CC=$$cc)"; \
			CGO_ENABLED=1 CC=$$cc CGO_CFLAGS="$(DEB_CGO_CFLAGS)" GOOS=linux GOARCH=$$arch $(GO) build -tags "isal,$(TAGS)" -buildmode=pie -trimpath \
				-ldflags "$(DIST_LDFLAGS) -extldflags=-Wl,-z,relro,-z,now" -o $$debbin . ; \
			$(GO) version -m $$debbin | grep -q -- '-tags=isal' || { echo "make dist: $$debbin was not built with -tags isal" >&2; exit 1; }; \
			printf 'Source: raftsnap\n\nPackage: raftsnap\nArchitecture: any\n' > $$debdir/debian/control; \
			debdeps=$$(cd $$debdir && DEB_HOST_ARCH=$$arch dpkg-shlibdeps -O -edebian/raftsnap/usr/bin/raftsnap | sed -n 's/^shlibs:Depends=//p'); \
			case "$$debdeps" in *libisal2*) ;; *) echo "make dist: dpkg-shlibdeps found no libisal2 dependency for $$debbin (got: $$debdeps)" >&2; exit 1;; esac; \
			echo "  Depends: $$debdeps"; \
		fi; \
		nfpmcfg=$(DIST_DIR)/nfpm-$$arch.yaml; \
		sed -e "s|\$${RAFTSNAP_STAGE}|$$stage|g" -e "s|\$${RAFTSNAP_DEB_BIN}|$$debbin|g" \
			-e "s|\$${RAFTSNAP_DEB_DEPENDS}|$$debdeps|g" -e "s|\$${RAFTSNAP_OUT}|$(DIST_DIR)|g" dist/nfpm.yaml > $$nfpmcfg; \
		for fmt in deb rpm; do \
			PKG_ARCH=$$arch PKG_VERSION=$(PKG_VERSION) PKG_RELEASE=$(PKG_RELEASE) \
				$(NFPM) package --config $$nfpmcfg --packager $$fmt --target $(DIST_DIR)/; \
		done; \
	done
	@cd $(DIST_DIR) && sha256sum *.tar.gz *.deb *.rpm > SHA256SUMS && cat SHA256SUMS

# Builds the amd64 artefacts; checks that the tarball's BUILD-INFO.txt
# names the inflater its binary has; checks the .deb (ISA-L): its contents,
# modes, conffiles and inflater with dpkg-deb, lintian (dist/check-deb.sh);
# then dist/debtest (root only): a real install on this machine, the daemon
# started as the unit starts it, reloaded, stopped, the package purged; and
# the same in a minimal Debian container booted with systemd-nspawn, where
# real systemd runs the unit (its root is built once with debootstrap into
# $(RAFTSNAP_TOOLS_DIR), about 3 minutes).
DEB_AMD64 = $(DIST_DIR)/raftsnap_$(PKG_VERSION)-$(PKG_RELEASE)_amd64.deb
dist-check:
	$(MAKE) dist DIST_ARCHES=amd64
	dist/check-tarball.sh $(DIST_DIR)/raftsnap_$(PKG_VERSION)_linux_amd64.tar.gz
	dist/check-deb.sh $(DEB_AMD64)
	$(GO) test -count=1 -tags debtest -v -run . ./dist/debtest/ -deb $(abspath $(DEB_AMD64))

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
