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

.PHONY: build test unit servers fuzz bench lint clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o raftsnap .

# Everything: lint, the real Consul/Nomad servers the integration tests need,
# all tests, then every fuzz target briefly.
test: lint servers unit fuzz

unit:
	$(GO) test -count=1 -timeout 20m ./...

# Builds Consul and Nomad from the Go module proxy once, cached in $(RAFTSNAP_TOOLS_DIR).
servers:
	.ci/build-servers

fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz

# Benchmarks; see docs/performance.md for the figures and the 1 GiB runs.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./snapshot/...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -f raftsnap
