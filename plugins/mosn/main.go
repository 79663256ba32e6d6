// Command mosn is MOSN v1.3.0 with meshproto's codecs and stream filters
// compiled in. It starts like stock MOSN ("mosn start -c config.json") and
// accepts the flags Istio passes to a sidecar.
package main

import (
	"github.com/meshproto/meshproto/internal/mosnapp"
	"github.com/meshproto/meshproto/internal/stallwatch"
)

// Set by the Makefile with -ldflags "-X main.Version=... -X main.Commit=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

func main() {
	mosnapp.Main(mosnapp.Options{
		Name:     "meshproto",
		Usage:    "MOSN with meshproto (Dubbo and Thrift codecs, governance filters) compiled in",
		Version:  Version,
		Commit:   Commit,
		Register: registerExtensions,
		// Upstream connections that stop answering are replaced.
		StreamFactory: stallwatch.WrapFactory,
	})
}
