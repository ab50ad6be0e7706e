# paylinks developer tasks. Only Go is needed; templ runs as a go.mod tool.
GO      ?= go
PKGS    := ./...
BIN     := bin/paylinks
# The release build: the Dockerfile runs the same command.
LDFLAGS := -s -w

.PHONY: run build test check generate fmt bench clean

## run: start paylinks on http://127.0.0.1:8080 (data in ./data)
run:
	$(GO) run ./cmd/paylinks serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(LDFLAGS)" -o $(BIN) ./cmd/paylinks

## generate: regenerate templ components and the API code from api/openapi.yaml
generate:
	$(GO) tool templ generate -include-version=false
	$(GO) generate ./api

## fmt: format Go and templ sources
fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) tool templ fmt .

## check: formatting, vet and generated-code drift (no tests)
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool templ fmt -fail . >/dev/null
	$(GO) tool templ generate -include-version=false >/dev/null
	@git diff --exit-code -- '*_templ.go' || { echo "generated templ files are stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- '*_templ.go'); if [ -n "$$untracked" ]; then echo "uncommitted generated files: $$untracked"; exit 1; fi
	$(GO) generate ./api
	@git diff --exit-code -- api/api.gen.go || { echo "generated API code is stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- api/api.gen.go); if [ -n "$$untracked" ]; then echo "uncommitted generated file: $$untracked"; exit 1; fi

## test: the full test command CI runs
test: check
	$(GO) test -race -count=1 $(PKGS)

## bench: the benchmark table, each figure beside its same-run baseline (bench/latest.txt; under 10 min, seeding included)
bench:
	$(GO) run ./cmd/paylinks-bench -go=$(GO)

clean:
	rm -rf bin artifacts
