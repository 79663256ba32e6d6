# meshproto: one Makefile builds MOSN and everything that must match it,
# from this repository's go.mod, with one toolchain and one set of flags.

GO        ?= go
BUILD     ?= $(CURDIR)/build
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.Version=$(VERSION) -X main.Commit=$(COMMIT)
FUZZTIME  ?= 30s
# Minimizing a new input takes up to 60 s by default: all of a short run.
FUZZMINIMIZE ?= 3s

.PHONY: all build examples dubbogo thrift istiod jaeger peers plugins plugin-check test race unit e2e soak bench fuzz demo demo-registry vet fmt clean help

all: build

help:
	@echo "make build    build/mosn (MOSN v1.3.0 + meshproto) and the example peers"
	@echo "make test     vet, unit tests, fuzz seed corpora, end-to-end tests (builds first)"
	@echo "make e2e      only the end-to-end tests through build/mosn"
	@echo "make race     the unit tests under the race detector"
	@echo "make peers    the dubbo-go v3 and Thrift peers, istiod and Jaeger (their own Go modules) into build/"
	@echo "make plugins  build/mosn-host (no meshproto inside) and every codec/filter as build/plugins/*.so"
	@echo "make plugin-check  compare each .so with build/mosn-host (MOSN=path to check another binary)"
	@echo "make fuzz     run every fuzz target for FUZZTIME (default 30s) each"
	@echo "make soak     correlation soak through the sidecars for SOAK (default 60s)"
	@echo "make bench    direct vs stock MOSN (built-in dubbo codec) vs meshproto, one table (scripts/bench)"
	@echo "make demo     build, start providers + sidecars, run the consumer, stop all"
	@echo "make demo-registry  ZooKeeper + dubbo-go providers + the registry adapter + a consumer sidecar; a provider killed"
	@echo "make clean    remove build/"

## build: the MOSN binary and the example Dubbo peers.
build: examples
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD)/mosn ./plugins/mosn
	$(GO) build -o $(BUILD)/registry-adapter ./plugins/registry-adapter

examples:
	$(GO) build -o $(BUILD)/dubbo-provider ./examples/dubbo/provider
	$(GO) build -o $(BUILD)/dubbo-consumer ./examples/dubbo/consumer

## plugins: the plugin host and every codec and filter as a Go plugin, from
## this go.mod with the same toolchain and flags (a .so loads only into a MOSN
## built that way). Each .so carries the version in its name; the unversioned
## symlink is what configs/plugin refers to.
PLUGINS := codec-dubbo codec-thrift codec-bolt codec-spec filter-metadata filter-access filter-fault filter-headers filter-metrics filter-ratelimit filter-conn-limit filter-trace
MOSN ?= $(BUILD)/mosn-host

plugins:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD)/mosn-host ./plugins/mosn-host
	$(GO) build -o $(BUILD)/plugincheck ./plugins/plugincheck
	@mkdir -p $(BUILD)/plugins
	@for p in $(PLUGINS); do \
		echo "go build -buildmode=plugin -o $(BUILD)/plugins/meshproto-$$p-$(VERSION).so ./plugins/$$p"; \
		$(GO) build -buildmode=plugin -o $(BUILD)/plugins/meshproto-$$p-$(VERSION).so ./plugins/$$p || exit 1; \
		ln -sf meshproto-$$p-$(VERSION).so $(BUILD)/plugins/meshproto-$$p.so; \
	done

plugin-check:
	$(GO) run ./plugins/plugincheck -mosn $(MOSN) $(BUILD)/plugins/meshproto-*-$(VERSION).so

## dubbogo, thrift: the dubbo-go v3 and Apache Thrift peers live in their own
## modules (examples/dubbogo, examples/thrift) so that their dependencies never
## enter the graph MOSN is built from.
dubbogo:
	cd examples/dubbogo && $(GO) build -o $(BUILD)/dubbogo/ ./provider ./consumer

thrift:
	cd examples/thrift && $(GO) build -o $(BUILD)/thrift/ ./server ./client

## istiod: Istio's pilot-discovery from the istio.io/istio module (its own
## module in internal/istiod), for the tests under a real control plane.
## About 5 minutes and 2.8 GB on 2 cores the first time; then only when
## internal/istiod changes.
istiod:
	./internal/istiod/build.sh $(BUILD)/istiod/pilot-discovery

## jaeger: the Jaeger v2 trace collector from the jaegertracing/jaeger module
## (its own module in internal/jaeger), which the tracing tests export spans
## to. About 4.5 minutes and 2.1 GB the first time; then only when
## internal/jaeger changes.
jaeger:
	./internal/jaeger/build.sh $(BUILD)/jaeger/jaeger

peers: dubbogo thrift istiod jaeger

PEER_ENV = MESHPROTO_MOSN=$(BUILD)/mosn MESHPROTO_REGISTRY_ADAPTER=$(BUILD)/registry-adapter MESHPROTO_ISTIOD=$(BUILD)/istiod MESHPROTO_DUBBOGO=$(BUILD)/dubbogo MESHPROTO_THRIFT=$(BUILD)/thrift MESHPROTO_PLUGINS=$(BUILD)/plugins MESHPROTO_JAEGER=$(BUILD)/jaeger

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## race: the unit packages under the race detector (CI runs it).
race:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /internal/e2e)

## unit: every package except the end-to-end suite (fuzz seed corpora included).
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /internal/e2e)

## e2e: the real build/mosn between real peers on loopback.
e2e: build peers plugins
	$(PEER_ENV) ./scripts/e2e

test: vet build peers plugins
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /internal/e2e)
	cd examples/thrift && $(GO) test -count=1 ./wirecheck/
	$(PEER_ENV) ./scripts/e2e

## soak: many clients, many calls in flight, distinct payloads, every response
## checked against its request, MOSN's RSS and goroutines watched (loopback only);
## and the through-proxy mutational fuzzing for as long (make test runs it short).
SOAK ?= 60s
FUZZPROXY ?= $(SOAK)
soak: SHELL := /bin/bash
soak: build dubbogo thrift
	MESHPROTO_SOAK=$(SOAK) MESHPROTO_FUZZPROXY=$(FUZZPROXY) $(PEER_ENV) $(GO) test -count=1 -v -timeout 30m -run 'Soak|FuzzThroughProxy' ./internal/e2e/ 2>&1 | \
		grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\w+_test.go:[0-9]+:|\s+(Error|Messages|expected|actual|Test):)'; exit $${PIPESTATUS[0]}

## bench: load through stock MOSN and meshproto's MOSN side by side (loopback,
## pinned CPUs); see docs/performance.md. Never part of `make test`.
bench:
	./scripts/bench

## fuzz: each target for FUZZTIME; crashers land in testdata/fuzz and become regression cases.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./protocols/dubbo/dubbofuzz/
	$(GO) test -run '^$$' -fuzz '^FuzzSkip$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/hessian2/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./protocols/thrift/
	$(GO) test -run '^$$' -fuzz '^FuzzSkipStruct$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/thriftwire/
	$(GO) test -run '^$$' -fuzz '^FuzzMessageHeader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/thriftwire/
	$(GO) test -run '^$$' -fuzz '^FuzzParseProvider$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/dubboreg/
	$(GO) test -run '^$$' -fuzz '^FuzzPeek$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/boltwire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./protocols/bolt/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./protocols/spec/
	$(GO) test -run '^$$' -fuzz '^FuzzSpec$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./protocols/spec/

demo: build thrift
	./scripts/demo

## demo-registry: ZooKeeper (Debian's zookeeper), dubbo-go providers, the
## registry adapter, a consumer through its sidecar, a provider killed.
demo-registry: build dubbogo
	./scripts/demo-registry

clean:
	rm -rf $(BUILD)
