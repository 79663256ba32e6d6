// Command mosn is MOSN v1.3.0 with meshproto's codecs and stream filters
// compiled in. It starts like stock MOSN ("mosn start -c config.json") and
// accepts the flags Istio passes to a sidecar.
package main

import (
	"mosn.io/api"
	"mosn.io/mosn/pkg/types"

	"github.com/meshproto/meshproto/internal/coalesce"
	"github.com/meshproto/meshproto/internal/mosnapp"
	"github.com/meshproto/meshproto/internal/specreg"
	"github.com/meshproto/meshproto/internal/stallwatch"
	"github.com/meshproto/meshproto/internal/streamctx"
)

// Set by the Makefile with -ldflags "-X main.Version=... -X main.Commit=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

func main() {
	mosnapp.Tune()
	mosnapp.Main(mosnapp.Options{
		Name:          "meshproto",
		Usage:         "MOSN with meshproto (Dubbo and Thrift codecs, governance filters) compiled in",
		Version:       Version,
		Commit:        Commit,
		Register:      registerExtensions,
		StreamFactory: streamFactory,
		Configure:     specreg.Register,
	})
}

// streamFactory wraps MOSN's xprotocol stream factory for meshproto's
// codecs: frames are written in batches (internal/coalesce), connections
// that stall are closed (internal/stallwatch), and requests find the
// variables MOSN reads for each of them (internal/streamctx).
func streamFactory(newFactory func(api.XProtocolCodec) types.ProtocolStreamFactory) func(api.XProtocolCodec) types.ProtocolStreamFactory {
	return streamctx.WrapFactory(stallwatch.WrapFactory(coalesce.WrapFactory(newFactory)))
}
