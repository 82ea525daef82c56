package main

import "k8s.io/component-base/version"

// version reports the Kubernetes version linked in, so the stack can check its cache.
func kubeVersion() string {
	return version.Get().GitVersion
}
