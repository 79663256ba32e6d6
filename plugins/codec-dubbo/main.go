// Command codec-dubbo is the Dubbo codec as a Go plugin for a MOSN built from
// this module (see plugins/mosn-host): MOSN loads it from "third_part_codec"
// and calls LoadCodec.
package main

import (
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/protocols/dubbo"
)

// LoadCodec is the symbol MOSN looks up (loader_func_name). MOSN loads
// codecs before it reads "extends", so registering the codec's options here
// is in time.
func LoadCodec() api.XProtocolCodec {
	logvars.Register() // access-log fields, before MOSN parses listeners
	c := &dubbo.XCodec{}
	if err := v2.RegisterParseExtendConfig(dubbo.ExtendType, c.ConfigureJSON); err != nil {
		log.StartLogger.Errorf("[meshproto] register %s config: %v", dubbo.ExtendType, err)
	}
	return c
}

func main() {}
