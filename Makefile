# Convenience targets; the real commands are deploy/install.sh and tests/run.sh.
GO ?= go

.PHONY: build test install

build:
	$(GO) build -trimpath -o bin/paas ./cmd/paas

# Needs root: starts a private containerd and PostgreSQL. Pass go test arguments with ARGS=...
test:
	bash tests/run.sh $(ARGS)

install:
	bash deploy/install.sh
