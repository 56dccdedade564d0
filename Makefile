# Postwarden: the two set-up commands are `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip -q --disable-pip-version-check
# Debian packages the tests drive: chromium (console in a real browser), swaks (relay
# client), postgresql (throwaway clusters), postfix (smtp-sink/smtp-source; daemon never started),
# libmail-dkim-perl (Perl's Mail::DKIM: an independent DKIM verifier), libmail-spf-perl (Perl's
# Mail::SPF: an independent SPF evaluator for the canaries' receiving server), libmime-tools-perl
# (an independent MIME parser for attachments, tests/mime_check.py), systemd (systemd-analyze
# verifies deploy/systemd/), dovecot-imapd (a real IMAP server for canary and bounce
# mailboxes, run unprivileged per test), prometheus (promtool checks the shipped alert rules),
# gettext (xgettext: Django's makemessages reads the console's marked strings, make messages)
TEST_DEBS := chromium swaks postgresql postfix libnet-ssleay-perl libmail-dkim-perl libmail-spf-perl libmime-tools-perl systemd dovecot-imapd prometheus gettext
export DEBIAN_FRONTEND := noninteractive

.PHONY: messages run test quick lint typecheck unit bench soak mutate clean system-deps container-test

$(BIN)/postwarden: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[ses,postgres]'
	touch $@

$(VENV)/.test-deps: $(BIN)/postwarden
	$(PIP) install -e '.[ses,postgres,test]'
	touch $@

run: $(BIN)/postwarden
	$(BIN)/postwarden serve

# Installs Debian packages only as root and only when one is missing; otherwise the tests
# that need them skip locally with the reason (and fail under CI=true).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v swaks >/dev/null || missing="$$missing swaks"; \
	perl -MNet::SSLeay -e1 2>/dev/null || missing="$$missing libnet-ssleay-perl"; \
	perl -MMail::DKIM::Verifier -e1 2>/dev/null || missing="$$missing libmail-dkim-perl"; \
	perl -MMail::SPF -e1 2>/dev/null || missing="$$missing libmail-spf-perl"; \
	perl -MMIME::Parser -e1 2>/dev/null || missing="$$missing libmime-tools-perl"; \
	command -v smtp-sink >/dev/null || missing="$$missing postfix"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	{ command -v dovecot >/dev/null || test -x /usr/sbin/dovecot; } || missing="$$missing dovecot-imapd"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v xgettext >/dev/null || missing="$$missing gettext"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    echo "postfix postfix/mailname string localhost" | debconf-set-selections; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: not installing$$missing (tests needing them will skip)"; fi; \
	fi

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

unit: $(VENV)/.test-deps system-deps
	$(BIN)/pytest -n 2 --dist loadgroup -m "not soak and not container"

test: lint typecheck unit

# Fast feedback on the framework-free core: lint, layers, and its tests (no system packages).
quick: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench tools
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2 tests/core

# Translations: extract the marked strings into every language's catalog and compile them
# (CONTRIBUTING.md, "Translations"); make test checks they are complete and compiled.
messages: $(VENV)/.test-deps system-deps
	$(BIN)/python -m tools.messages extract

# make bench BENCH_ARGS="--quick" for a smoke run; --n, --rounds: python -m bench.run --help
bench: $(VENV)/.test-deps system-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS)

soak: $(VENV)/.test-deps system-deps
	$(BIN)/pytest -m soak -p no:xdist

# Mutation testing (mutmut, [tool.mutmut] in pyproject.toml; not part of make test): breaks
# the guarded modules one small change at a time and reports the changes no test noticed.
# make mutate MUTATE_MODULES="postwarden.outbox.retry postwarden.core.secrets" MUTATE_JOBS=1;
# results stay in ./mutants (a rerun tests only what is new). How to read it: docs/testing.md
MUTATE_JOBS ?= 2
mutate: $(VENV)/.test-deps system-deps
	nice -n 10 $(BIN)/python -m tests.mutate --jobs $(MUTATE_JOBS) $(MUTATE_MODULES)

# The container image (Dockerfile, compose.yaml): a Debian bookworm base made with
# debootstrap (no image registry is reachable), the real Dockerfile built on it with
# buildah, then run. Minutes of work, so not part of make test (docs/deploy.md).
CONTAINER_DEBS := buildah podman debootstrap
container-test: $(VENV)/.test-deps
	@missing=""; for tool in $(CONTAINER_DEBS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	$(BIN)/pytest -m container -p no:xdist tests/test_container.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache mutants
