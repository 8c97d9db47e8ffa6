# natter: `make run` builds and serves the whole app; `make test` runs every test.
# Both install missing tools first (scripts/bootstrap.sh) and are quick when
# everything is present.

SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run build test bench bootstrap bootstrap-test frontend lint

## Build the SPA and the release server, then serve on 127.0.0.1:8080 (data in ./data).
run: build
	./target/release/natter-server

## Everything the container image needs: dist/ and target/release/natter-server.
build: bootstrap frontend
	cargo build --locked --release -p natter-backend --bin natter-server

## Every test: unit, API integration against the real binary, and headless Chromium.
test: bootstrap-test frontend lint
	cargo build --locked -p natter-backend --bin natter-server
	cargo test --locked --workspace
	NATTER_TEST_DATABASE=postgres cargo test --locked -p natter-tests $(addprefix --test ,$(PG_SUITES)) -- $(addprefix --skip ,$(PG_SKIP))

# The API and browser suites again with every server on PostgreSQL
# (docs/storage.md), but for tests of SQLite's own files. Not here: admin
# (backup and restore are SQLite's; PostgreSQL has pg_dump), loadgen (its
# --nodes test is on PostgreSQL already) and nodes (PostgreSQL only).
PG_SUITES := messaging actions groups search contacts leaving notifications authorization accounts edges fuzzed \
	profiles media metrics serving websocket_rfc $(basename $(notdir $(wildcard tests/tests/browser_*.rs)))
PG_SKIP := a_deleted_message_and_its_edits_are_erased_from_every_view_and_the_database_file \
	accounts_and_sessions_survive_a_restart

## Formatting and lints, as CI holds them.
lint:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

frontend:
	trunk build --release
	node scripts/precompress.mjs dist

bootstrap:
	./scripts/bootstrap.sh

bootstrap-test:
	./scripts/bootstrap.sh --browser

## A reduced benchmark run (a few minutes): server on CPU 0, load generator on CPU 1.
## Full results and how to read them: docs/benchmarks.md.
LOADGEN := taskset -c 1 ./target/release/natter-loadgen --server ./target/release/natter-server --server-cpu 0
bench:
	cargo build --locked --release -p natter-backend --bin natter-server -p natter-tests --bin natter-loadgen
	$(LOADGEN) idle --connections 10000
	$(LOADGEN) dm --clients 10000 --rate 5000 --seconds 10
	$(LOADGEN) fanout --members 1000 --senders 4 --messages 2000
	$(LOADGEN) fanout --members 1000 --senders 4 --messages 500 --rate 100
	$(LOADGEN) durable --senders 64 --messages 500
	$(LOADGEN) history --stored 200000 --fetches 2000
	$(LOADGEN) storm --clients 5000 --rate 2000
	$(LOADGEN) search --stored 200000 --queries 100
