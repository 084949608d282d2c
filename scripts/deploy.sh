#!/bin/sh
# Deploys a stack with the Pulumi CLI from the `pulumi` devDependency and the project's local
# file backend (Pulumi.yaml). Usage: sh scripts/deploy.sh STACK [pulumi up flags...]
set -eu
stack="${1:?usage: deploy.sh STACK [pulumi up flags]}"
shift
cd "$(dirname "$0")/.."
mkdir -p "$HOME/.pulumi-gateway-ha"
# The local backend encrypts secrets with a passphrase: export PULUMI_CONFIG_PASSPHRASE (or
# PULUMI_CONFIG_PASSPHRASE_FILE). Left unset, it is empty, which the program accepts only for a
# stack marked gateway-ha:localDevelopment (the dev stack); shared stacks use a passphrase or KMS.
if [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    : "${PULUMI_CONFIG_PASSPHRASE=}"
    export PULUMI_CONFIG_PASSPHRASE
fi
npx pulumi stack select --create "$stack"
npx pulumi up --stack "$stack" "$@"
