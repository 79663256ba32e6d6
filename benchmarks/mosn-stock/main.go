// Command mosn-stock is stock MOSN v1.3.0 with its own built-in Dubbo and
// Bolt codecs (mosn.io/mosn/pkg/protocol/xprotocol/dubbo, .../bolt) and
// dubbo_stream filter, and
// nothing of meshproto's codecs or filters: the baseline of the benchmark in
// docs/performance.md. It shares meshproto's command line (internal/mosnapp,
// the same MOSN stages and stock extensions), so the two binaries differ
// only in the codec and filters they register.
package main

import (
	"mosn.io/mosn/pkg/protocol/xprotocol"
	"mosn.io/mosn/pkg/protocol/xprotocol/bolt"
	"mosn.io/mosn/pkg/protocol/xprotocol/dubbo"

	// Stock MOSN's dubbo_stream filter: virtual host = service.
	_ "mosn.io/mosn/pkg/filter/stream/dubbo"

	"github.com/meshproto/meshproto/internal/mosnapp"
)

func main() {
	mosnapp.Main(mosnapp.Options{
		Name:    "mosn-stock",
		Usage:   "stock MOSN v1.3.0 with its built-in dubbo and bolt codecs (benchmark baseline)",
		Version: "bench",
		Commit:  "n/a",
		Register: func() {
			if err := xprotocol.RegisterXProtocolCodec(&dubbo.XCodec{}); err != nil {
				panic(err)
			}
			if err := xprotocol.RegisterXProtocolCodec(&bolt.XCodec{}); err != nil {
				panic(err)
			}
		},
	})
}
