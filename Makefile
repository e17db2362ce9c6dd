# confine: `make demo` shows the policy pipeline on the example stack and (as root) runs
# the demo stack; `make test` runs every test. Both install what they need first (Debian packages, Go modules).
GO ?= go
APT_PACKAGES := gcc libc6-dev pkg-config libseccomp-dev nftables iproute2 jq util-linux chromium uidmap runc systemd \
	nginx redis-server redis-tools postgresql ssl-cert curl wrk iptables
# make test's short fuzz runs are budgets of executions, not of time: go1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" when a -fuzztime
# duration ends while a worker is mid-input (golang/go#75804, fixed in go1.27), and a count
# has no deadline to race. Each is about 10-20 s of this project's 2-core machine.
FUZZ_LOAD ?= 20000x
FUZZ_EXCERPT ?= 40000x
FUZZ_AUDIT_RECORD ?= 80000x
FUZZ_SCAN_LOG ?= 120000x
FUZZ_UNPACK ?= 5000x
FUZZ_SYNTHESIZE ?= 60000x
FUZZ_DECODE ?= 20000x
FUZZ_ID_FILE ?= 10000x

.PHONY: all deps build test fuzz bench demo clean

all: build

# deps installs only the packages that are missing, so it is cheap to repeat. The
# services tests/services runs (nginx, redis-server, postgresql) are installed without
# being started (a policy-rc.d that says no, for the install only, when the host has
# none): their postinst would otherwise bind ports 80, 6379 and 5432 on the host, or
# fail where something holds them. The tests run their own, inside network namespaces.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing:" $$missing; \
		norc=; if [ ! -e /usr/sbin/policy-rc.d ]; then norc=1; printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null; $$sudo chmod 755 /usr/sbin/policy-rc.d; fi; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; status=$$?; \
		if [ -n "$$norc" ]; then $$sudo rm -f /usr/sbin/policy-rc.d; fi; \
		[ $$status = 0 ]; \
	fi
	$(GO) mod download

# BUILD_FLAGS link confine statically, libseccomp and glibc included, as runc's static
# build does: no dynamic loader runs at each start (the CLI's and the C stage's exec),
# which is 0.5 ms of `confine version`. netgo and osusergo keep glibc's NSS (which a
# static binary could only dlopen) out: Go's own resolver and /etc/passwd reader.
# tests/testenv builds with the same (TestBuildFlags holds them equal).
BUILD_FLAGS := -tags=netgo,osusergo -ldflags=-extldflags=-static
# SLIM_FLAGS build bin/confine, the slim binary (cmd/confine/slim.go): the run path's
# packages only, without the libraries of the other commands, whose package inits would
# cost every run. Its constructor hands every other command, before its Go runtime starts,
# to bin/confine-full, the full binary built with BUILD_FLAGS.
SLIM_FLAGS := -tags=confine_slim,netgo,osusergo
# PAIR pairs bin/confine with the bin/confine-full just built, which it hands commands to
# only when its GNU build ID (-B) is the first 16 bytes of the last part of confine-full's
# Go build ID, its content hash (sandbox/stage/stage_slim.c): not a confine-full of another build.
PAIR = $$($(GO) tool buildid bin/confine-full | sed 's|.*/||' | head -c 16 | od -An -v -tx1 | tr -d ' \n')

build: deps
	$(GO) build $(BUILD_FLAGS) -o bin/confine-full ./cmd/confine
	$(GO) build $(SLIM_FLAGS) -ldflags="-extldflags=-static -B 0x$(PAIR)" -o bin/confine ./cmd/confine

# test: vet (also without cgo, which proves only policy/seccomp, sandbox/stage and sandbox/nsenter need
# it), every test package (tests/ needs root, tests/report chromium; under CI=true a
# missing need fails instead of skipping), tests/run again on the Go init where the C
# stage would run (CONFINE_STAGE=go) and with the supervisor's memory trim at once, so
# that all it does while a component runs comes after one (CONFINE_TRIM_DELAY=0), then short fuzzes of the policy loader, its message excerpts, the kernel audit
# record parser, the audit log reader and the image layer unpacker.
test: deps
	$(GO) vet ./...
	$(GO) vet -tags confine_slim ./cmd/confine
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test -count=1 ./...
	CONFINE_STAGE=go CONFINE_TRIM_DELAY=0 $(GO) test -count=1 ./tests/run/...
	$(GO) test ./policy -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZ_LOAD)
	$(GO) test ./policy -run '^$$' -fuzz FuzzExcerpt -fuzztime $(FUZZ_EXCERPT)
	$(GO) test ./sandbox -run '^$$' -fuzz FuzzParseAuditRecord -fuzztime $(FUZZ_AUDIT_RECORD)
	$(GO) test ./sandbox -run '^$$' -fuzz FuzzStageIDFile -fuzztime $(FUZZ_ID_FILE)
	$(GO) test ./audit -run '^$$' -fuzz FuzzScanLog -fuzztime $(FUZZ_SCAN_LOG)
	$(GO) test ./image -run '^$$' -fuzz FuzzUnpack -fuzztime $(FUZZ_UNPACK) -fuzzminimizetime 5s
	$(GO) test ./learn -run '^$$' -fuzz FuzzSynthesize -fuzztime $(FUZZ_SYNTHESIZE)
	$(GO) test ./cmd/confine/internal/planahead -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZ_DECODE) -fuzzminimizetime 5s

fuzz: deps
	$(GO) test ./policy -run '^$$' -fuzz FuzzLoad -fuzztime 5m
	$(GO) test ./policy -run '^$$' -fuzz FuzzExcerpt -fuzztime 5m
	$(GO) test ./audit -run '^$$' -fuzz FuzzScanLog -fuzztime 5m
	$(GO) test ./learn -run '^$$' -fuzz FuzzSynthesize -fuzztime 5m
	$(GO) test ./sandbox -run '^$$' -fuzz FuzzParseAuditRecord -fuzztime 5m
	$(GO) test ./sandbox -run '^$$' -fuzz FuzzStageIDFile -fuzztime 5m
	$(GO) test ./image -run '^$$' -fuzz FuzzUnpack -fuzztime 5m
	$(GO) test ./cmd/confine/internal/planahead -run '^$$' -fuzz FuzzDecode -fuzztime 5m -fuzzminimizetime 5s

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./policy/... ./audit/... | tee bench/results.txt

demo: build
	./examples/demo.sh ./bin/confine

clean:
	rm -rf bin
