// Command pilot-discovery is Istio's istiod, built from the istio.io/istio
// module so that the end-to-end tests can run a real control plane on a
// machine without Kubernetes. It is test harness only: nothing of meshproto
// depends on it, and it lives in its own module so that Istio's dependency
// graph never enters the one MOSN is built from.
//
// build.sh builds it with one change, applied with go build -overlay to a
// copy of one file of the module: without a Kubernetes client istiod
// dereferences a nil multicluster controller when the ServiceEntry
// controller takes its namespace collection; an empty static collection is
// what a cluster without namespaces would give.
package main

import (
	"os"

	"istio.io/istio/pilot/cmd/pilot-discovery/app"
)

func main() {
	if err := app.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
