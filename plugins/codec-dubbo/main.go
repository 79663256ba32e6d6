// Command codec-dubbo is the Dubbo codec as a Go plugin for a MOSN built from
// this module: MOSN loads it from "third_part_codec" and calls LoadCodec.
package main

import (
	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/dubbo"
)

// LoadCodec is the symbol MOSN looks up (loader_func_name).
func LoadCodec() api.XProtocolCodec { return &dubbo.XCodec{} }

func main() {}
