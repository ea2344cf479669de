# Debian packages whose real tools the tests run, installed by `make test`'s set-up
# (tools/install_debian.sh: idempotent; says why and carries on where apt-get cannot be used).
# Add a package here when a test needs its tool; tests/tooling.py finds the tool or skips/fails.
DEBIAN_PACKAGES := prometheus cloud-init shellcheck

.PHONY: debian-tools
debian-tools:
	@bash tools/install_debian.sh $(DEBIAN_PACKAGES)
