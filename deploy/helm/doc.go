// Package helm holds the tests of the Helm chart in atoll/: helm lint and
// helm template with several sets of values, every rendered manifest decoded
// strictly into the Kubernetes API types, the wiring between the manifests
// (ports, probes, Secret references, volumes, security context), the values
// against every `atoll server` flag, and the chart against the Dockerfile.
// The chart itself is YAML and templates; this package has no other code.
package helm
