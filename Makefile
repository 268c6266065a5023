# nodewarden: `make run` runs the whole pipeline on an embedded JetStream server; `make test`
# installs what the tests need (once; cached outside the checkout) and runs every module's tests.

SHELL := /bin/bash
GO ?= go

# Tools the Makefile owns, built once and kept across checkouts (a second run rebuilds nothing).
NW_TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nodewarden/tools
export NW_TOOLS_DIR

MODULES := proto servicekit services/collector services/detector services/rebooter services/sink services/alerter cmd/nodewarden e2e
PKGS := $(addsuffix /...,$(addprefix ./,$(MODULES)))
BINARIES := ./cmd/nodewarden ./services/collector/cmd/collector ./services/detector/cmd/detector \
	./services/rebooter/cmd/rebooter ./services/sink/cmd/sink ./services/alerter/cmd/alerter
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/nodewarden/nodewarden/servicekit/version.Version=$(VERSION)
PROTOGEN := $(NW_TOOLS_DIR)/protogen-bufv1.75.0-pggv1.36.12
TEST_FLAGS ?= -race -count=1 -timeout 20m
ARGS ?=
# Container images: $(REGISTRY)/<name>:$(IMAGE_TAG) for each name, one target each of
# deploy/docker/Dockerfile. deploy/kustomize/base names them nodewarden/<name>:latest (its images:
# list): with another REGISTRY or IMAGE_TAG, set them there or in your overlay.
REGISTRY ?= nodewarden
IMAGE_TAG ?= latest
DOCKER ?= docker
IMAGES := nodewarden collector detector rebooter sink alerter

.PHONY: all run test e2e build proto deps deps-apt deps-tools lint bench bench-raw clean images

all: build

## run: build and run the whole pipeline on an embedded JetStream server (ARGS='--help' for flags)
run: build
	./bin/nodewarden run $(ARGS)

## build: every binary into bin/
build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ $(BINARIES)

## test: install what the tests need, then run every module's tests with -race
test: deps
	$(GO) test $(TEST_FLAGS) $(PKGS)
	cd hack/kube && GOWORK=off GOFLAGS=-mod=mod $(GO) test -count=1 .

## e2e: the whole-pipeline scenarios of e2e/ at full load (make test runs them reduced)
e2e: deps
	NW_E2E_FULL=1 $(GO) test ./e2e/... -run 'Scenario|Fault|BadInput' -count=1 -timeout 30m

## deps: install the real servers and tools the tests use (idempotent)
deps: deps-apt deps-tools
	$(GO) mod download -x >/dev/null 2>&1 || $(GO) mod download

deps-apt:
	@hack/install-apt.sh

deps-tools:
	@hack/install-protogen.sh
	@hack/install-influxd.sh
	@hack/install-kube.sh

## images: a container image per binary (docker build, REGISTRY=... IMAGE_TAG=...)
images:
	@for img in $(IMAGES); do \
		echo "$(DOCKER) build -f deploy/docker/Dockerfile --target $$img -t $(REGISTRY)/$$img:$(IMAGE_TAG) ."; \
		$(DOCKER) build -f deploy/docker/Dockerfile --target $$img --build-arg VERSION=$(VERSION) \
			-t $(REGISTRY)/$$img:$(IMAGE_TAG) . || exit 1; \
	done

## proto: regenerate the Go code of proto/ with the pinned buf and protoc-gen-go
proto:
	@hack/install-protogen.sh
	cd proto && PATH="$(PROTOGEN):$$PATH" buf lint && PATH="$(PROTOGEN):$$PATH" buf generate

## lint: go vet and a gofmt check over all modules, and go.work in sync
lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) work sync && git diff --exit-code -- go.work '*/go.mod' '*/*/go.mod' >/dev/null || { echo "go work sync changed go.mod files"; exit 1; }

## bench: one table of every performance figure, each with its baseline measured in the same run;
## also written to bench/results.md, with bench/latency.png (NW_BENCH_QUICK=1: a few minutes, small sizes)
bench:
	@mkdir -p bench
	@$(MAKE) --no-print-directory deps >bench/deps.log 2>&1 || { tail -n 40 bench/deps.log; exit 1; }
	@rm -f bench/results.md
	@NW_BENCH=1 $(GO) test ./e2e/ -run '^TestBenchTable$$' -count=1 -timeout 300m -v >bench/run.log 2>&1; rc=$$?; \
		if [ -f bench/results.md ]; then cat bench/results.md; fi; \
		if [ $$rc -ne 0 ]; then tail -n 80 bench/run.log; echo "make bench failed: the whole log is bench/run.log"; exit $$rc; fi

## bench-raw: every package's benchmarks, go test's own output
bench-raw:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
