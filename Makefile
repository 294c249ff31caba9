# Atoll's build. The two commands a newcomer needs: `make testdrive` and `make test`.
# Both install what they need: terraform (built with `go install`, cached in bin/ by
# version), redis-server and chromium (Debian packages, for the Redis and browser tests).

SHELL := /bin/bash
TF_VERSION ?= 1.5.7
TOFU_VERSION ?= 1.6.3
STATICCHECK_VERSION ?= 0.8.2
HELM_VERSION ?= 3.19.0
BIN := $(CURDIR)/bin
TERRAFORM := $(BIN)/terraform$(TF_VERSION)
TOFU := $(BIN)/tofu$(TOFU_VERSION)
HELM := $(BIN)/helm-$(HELM_VERSION)
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := redis-server:redis-server chromium:chromium git:git

export ATOLL_TEST_TERRAFORM := $(TERRAFORM)
export ATOLL_TEST_TOFU := $(TOFU)
export ATOLL_TEST_HELM := $(HELM)

.PHONY: all build test testdrive tools apt-tools lint bench load fuzz clean docker

all: build

build: $(BIN)/atoll

$(BIN)/atoll: $(shell find . -name '*.go' -not -path './bin/*') go.mod go.sum
	$(GO) build -o $@ ./cmd/atoll

$(BIN)/terraform-provider-sandbox: $(shell find ./cmd/terraform-provider-sandbox ./testdrive/sandbox -name '*.go' -not -name '*_test.go') go.mod go.sum
	$(GO) build -o $@ ./cmd/terraform-provider-sandbox

## tools: terraform $(TF_VERSION), OpenTofu $(TOFU_VERSION) and helm $(HELM_VERSION) in bin/ plus the Debian packages the tests use.
tools: $(TERRAFORM) $(TOFU) $(HELM) apt-tools

$(TOFU):
	@echo ">> building OpenTofu $(TOFU_VERSION) with go install (a few minutes the first time)"
	@mkdir -p $(BIN)/.gobin-tofu$(TOFU_VERSION)
	GOBIN=$(BIN)/.gobin-tofu$(TOFU_VERSION) $(GO) install github.com/opentofu/opentofu/cmd/tofu@v$(TOFU_VERSION)
	mv $(BIN)/.gobin-tofu$(TOFU_VERSION)/tofu $@ && rmdir $(BIN)/.gobin-tofu$(TOFU_VERSION)
	ln -sfn tofu$(TOFU_VERSION) $(BIN)/tofu

$(TERRAFORM):
	@echo ">> building terraform $(TF_VERSION) with go install (a few minutes the first time)"
	@mkdir -p $(BIN)/.gobin-tf$(TF_VERSION)
	GOBIN=$(BIN)/.gobin-tf$(TF_VERSION) $(GO) install github.com/hashicorp/terraform@v$(TF_VERSION)
	mv $(BIN)/.gobin-tf$(TF_VERSION)/terraform $@ && rmdir $(BIN)/.gobin-tf$(TF_VERSION)
	ln -sfn terraform$(TF_VERSION) $(BIN)/terraform
	@TF_CLI_CONFIG_FILE=/dev/null $@ version | head -1

apt-tools:
	@missing=""; for pair in $(APT_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing$$missing with apt-get"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing \
	    || { echo "error: could not install$$missing; install them by hand (apt-get install -y$$missing)"; exit 1; }; \
	fi
	@for pair in $(APT_PACKAGES); do cmd=$${pair%%:*}; command -v $$cmd >/dev/null 2>&1 \
	  || { echo "error: $$cmd is still missing after apt-get"; exit 1; }; done

$(BIN)/staticcheck-$(STATICCHECK_VERSION):
	@mkdir -p $(BIN)/.gobin-sc
	GOBIN=$(BIN)/.gobin-sc $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION)
	mv $(BIN)/.gobin-sc/staticcheck $@ && rmdir $(BIN)/.gobin-sc

# helm lints and renders the chart in deploy/helm/atoll (deploy/helm's Go test).
$(HELM):
	@echo ">> building helm $(HELM_VERSION) with go install (a few minutes the first time)"
	@mkdir -p $(BIN)/.gobin-helm$(HELM_VERSION)
	GOBIN=$(BIN)/.gobin-helm$(HELM_VERSION) $(GO) install helm.sh/helm/v3/cmd/helm@v$(HELM_VERSION)
	mv $(BIN)/.gobin-helm$(HELM_VERSION)/helm $@ && rmdir $(BIN)/.gobin-helm$(HELM_VERSION)
	ln -sfn helm-$(HELM_VERSION) $(BIN)/helm

## lint: gofmt, go vet and staticcheck must be clean.
lint: $(BIN)/staticcheck-$(STATICCHECK_VERSION)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck-$(STATICCHECK_VERSION) ./...

## test: every test, against real terraform, git, redis-server and chromium, then every fuzz target for $(FUZZTIME).
test: tools lint $(BIN)/terraform-provider-sandbox $(HELM)
	$(GO) test -race -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory fuzz

## bench: speed and memory figures (see docs/benchmarks.md).
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

## load: 1,000 signed webhooks at 200/s while 50 pull requests are planned at once, against the real binary and the fake GitHub on loopback; prints accepted, p50/p99 answer latency, peak RSS and goroutines, comments per PR (see docs/benchmarks.md).
load: $(TERRAFORM)
	$(GO) test -tags load -run '^$$' -bench '^BenchmarkLoad$$' -benchtime=1x -count=1 -timeout 15m ./cmd/atoll

FUZZTIME ?= 3s
# fuzz1 runs one fuzz target (name, package, time). Go's fuzzer sometimes ends
# with "context deadline exceeded" when -fuzztime runs out while it is busy
# with a new input (no failing input is written then): that run is tried once
# more; a real failure (a failing input written) fails at once.
define fuzz1
@out=$$($(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(3) $(2) 2>&1); rc=$$?; echo "$$out"; \
if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
  echo ">> $(1): the fuzzer ran out of time inside its engine, with no failing input; running it once more"; \
  $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(3) $(2); \
else exit $$rc; fi
endef
## fuzz: each fuzz target for $(FUZZTIME) (FuzzHCLNesting, whose inputs are slow, for 10s) from its seed corpus (go fuzzes one target per run); a failing input is saved under the package's testdata/fuzz/.
fuzz:
	@# Start from the seed corpora (testdata/fuzz) each time: a corpus cached
	@# from earlier runs makes the baseline outgrow a short -fuzztime.
	$(GO) clean -fuzzcache
	$(call fuzz1,FuzzParseCommand,./server,$(FUZZTIME))
	$(call fuzz1,FuzzCleanDir,./server,$(FUZZTIME))
	$(call fuzz1,FuzzParseWebhook,./vcs/github,$(FUZZTIME))
	$(call fuzz1,FuzzParseRepoConfig,./config,$(FUZZTIME))
	$(call fuzz1,FuzzParseServerConfig,./config,$(FUZZTIME))
	$(call fuzz1,FuzzProjectDir,./config,$(FUZZTIME))
	$(call fuzz1,FuzzHCLNesting,./config,10s)
	$(call fuzz1,FuzzRedact,./redact,$(FUZZTIME))

## testdrive: the whole product on this machine, no GitHub account, no cloud.
testdrive: $(TERRAFORM) build $(BIN)/terraform-provider-sandbox
	$(BIN)/atoll testdrive --terraform $(TERRAFORM) --sandbox-provider $(BIN)/terraform-provider-sandbox $(if $(CI),--exit,) $(TESTDRIVE_FLAGS)

docker:
	docker build -t atoll:dev .

clean:
	rm -f $(BIN)/atoll
