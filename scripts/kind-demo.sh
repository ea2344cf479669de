#!/usr/bin/env bash
# judge0-operator on a local kind cluster: create the cluster, build and load the image,
# install the chart, apply the example fleet. See docs/kind.md.
#
# Needs docker, kind, kubectl and helm on PATH, and AWS credentials (a real account, or a moto
# server you run) in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Not run by this project's CI:
# its machines have no Docker engine.
#
#   AWS_REGION=eu-west-1 scripts/kind-demo.sh                      # a real AWS account
#   AWS_REGION=us-east-1 AWS_ENDPOINT=http://172.18.0.1:5000 \
#     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test scripts/kind-demo.sh   # moto on the host
set -euo pipefail

CLUSTER="${CLUSTER:-judge0}"
NAMESPACE="${NAMESPACE:-judge0-system}"
IMAGE_REPO="${IMAGE_REPO:-judge0-operator}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
: "${AWS_REGION:?set AWS_REGION, e.g. eu-west-1}"
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID (a user limited by deploy/iam-policy.json)}"
: "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}"
AWS_ENDPOINT="${AWS_ENDPOINT:-}"

cd "$(dirname "$0")/.."

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER"
kubectl config use-context "kind-$CLUSTER"

docker build -t "$IMAGE_REPO:$IMAGE_TAG" .
kind load docker-image "$IMAGE_REPO:$IMAGE_TAG" --name "$CLUSTER"

# Outside EKS there is no IRSA: the credentials come from a Secret, as environment variables.
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" create secret generic aws-credentials \
  --from-literal=AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  --from-literal=AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
  --dry-run=client -o yaml | kubectl apply -f -

helm upgrade --install judge0-operator charts/judge0-operator --namespace "$NAMESPACE" --wait \
  --set image.repository="$IMAGE_REPO" --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
  --set aws.region="$AWS_REGION" --set aws.endpoint="$AWS_ENDPOINT" \
  --set-json 'operator.extraEnv=[
    {"name":"AWS_ACCESS_KEY_ID","valueFrom":{"secretKeyRef":{"name":"aws-credentials","key":"AWS_ACCESS_KEY_ID"}}},
    {"name":"AWS_SECRET_ACCESS_KEY","valueFrom":{"secretKeyRef":{"name":"aws-credentials","key":"AWS_SECRET_ACCESS_KEY"}}}]'

# Edit examples/fleet.yaml first: its AMI, subnets, security group and region are placeholders.
kubectl apply -k examples/
kubectl get j0f -A
echo "Follow it: kubectl -n $NAMESPACE logs deploy/judge0-operator -f ; kubectl get j0f -w"
