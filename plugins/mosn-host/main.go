// Command mosn-host is stock MOSN v1.3.0 built from meshproto's go.mod,
// with nothing of meshproto compiled in: it loads meshproto's codecs
// ("third_part_codec") and stream filters ("go_plugin_config") from the
// .so files `make plugins` builds beside it. A .so loads only into a MOSN
// built by the same toolchain from the same module graph and settings;
// plugins/plugincheck tells what differs.
package main

import "github.com/meshproto/meshproto/internal/mosnapp"

// Set by the Makefile with -ldflags "-X main.Version=... -X main.Commit=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

func main() {
	mosnapp.Main(mosnapp.Options{
		Name:    "meshproto-host",
		Usage:   "stock MOSN that loads meshproto codecs and filters from Go plugins",
		Version: Version,
		Commit:  Commit,
	})
}
