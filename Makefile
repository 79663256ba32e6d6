# meshproto: one Makefile builds MOSN and everything that must match it,
# from this repository's go.mod, with one toolchain and one set of flags.

GO        ?= go
BUILD     ?= $(CURDIR)/build
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.Version=$(VERSION) -X main.Commit=$(COMMIT)
FUZZTIME  ?= 30s

.PHONY: all build examples dubbogo thrift peers test unit e2e fuzz demo vet fmt clean help

all: build

help:
	@echo "make build    build/mosn (MOSN v1.3.0 + meshproto) and the example peers"
	@echo "make test     vet, unit tests, fuzz seed corpora, end-to-end tests (builds first)"
	@echo "make e2e      only the end-to-end tests through build/mosn"
	@echo "make peers    the dubbo-go v3 and Thrift peers (their own Go modules) into build/"
	@echo "make fuzz     run every fuzz target for FUZZTIME (default 30s) each"
	@echo "make demo     build, start providers + sidecars, run the consumer, stop all"
	@echo "make clean    remove build/"

## build: the MOSN binary and the example Dubbo peers.
build: examples
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD)/mosn ./plugins/mosn

examples:
	$(GO) build -o $(BUILD)/dubbo-provider ./examples/dubbo/provider
	$(GO) build -o $(BUILD)/dubbo-consumer ./examples/dubbo/consumer

## dubbogo, thrift: the dubbo-go v3 and Apache Thrift peers live in their own
## modules (examples/dubbogo, examples/thrift) so that their dependencies never
## enter the graph MOSN is built from.
dubbogo:
	cd examples/dubbogo && $(GO) build -o $(BUILD)/dubbogo/ ./provider ./consumer

thrift:
	cd examples/thrift && $(GO) build -o $(BUILD)/thrift/ ./server ./client

peers: dubbogo thrift

PEER_ENV = MESHPROTO_MOSN=$(BUILD)/mosn MESHPROTO_DUBBOGO=$(BUILD)/dubbogo MESHPROTO_THRIFT=$(BUILD)/thrift

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## unit: every package except the end-to-end suite (fuzz seed corpora included).
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /internal/e2e)

## e2e: the real build/mosn between real peers on loopback.
e2e: SHELL := /bin/bash
e2e: build peers
	$(PEER_ENV) $(GO) test -count=1 -v ./internal/e2e/ 2>&1 | \
		grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok|\s+\w+_test.go:[0-9]+:|\s+(Error|Messages|expected|actual|Test):)'; exit $${PIPESTATUS[0]}

test: SHELL := /bin/bash
test: vet build peers
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /internal/e2e)
	$(PEER_ENV) $(GO) test -count=1 -v ./internal/e2e/ 2>&1 | \
		grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok|\s+\w+_test.go:[0-9]+:|\s+(Error|Messages|expected|actual|Test):)'; exit $${PIPESTATUS[0]}

## fuzz: each target for FUZZTIME; crashers land in testdata/fuzz and become regression cases.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./protocols/dubbo/
	$(GO) test -run '^$$' -fuzz '^FuzzSkip$$' -fuzztime $(FUZZTIME) ./internal/hessian2/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./protocols/thrift/
	$(GO) test -run '^$$' -fuzz '^FuzzSkipStruct$$' -fuzztime $(FUZZTIME) ./internal/thriftwire/
	$(GO) test -run '^$$' -fuzz '^FuzzMessageHeader$$' -fuzztime $(FUZZTIME) ./internal/thriftwire/

demo: build thrift
	./scripts/demo

clean:
	rm -rf $(BUILD)
