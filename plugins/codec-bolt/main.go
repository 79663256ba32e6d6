// Command codec-bolt is the SOFA Bolt codec as a Go plugin for a MOSN built
// from this module (see plugins/mosn-host): MOSN loads it from
// "third_part_codec" and calls LoadCodec.
package main

import (
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/protocols/bolt"
)

// LoadCodec is the symbol MOSN looks up (loader_func_name). MOSN loads
// codecs before it reads "extends", so registering the codec's options here
// is in time.
func LoadCodec() api.XProtocolCodec {
	logvars.Register() // access-log fields, before MOSN parses listeners
	c := bolt.NewXCodec()
	if err := v2.RegisterParseExtendConfig(c.ExtendType(), c.ConfigureJSON); err != nil {
		log.StartLogger.Errorf("[meshproto] register %s config: %v", c.ExtendType(), err)
	}
	return c
}

func main() {}
