// Package mosnapp is the command line of meshproto's MOSN binaries: the
// static build (plugins/mosn, meshproto compiled in) and the plugin host
// (plugins/mosn-host, stock MOSN that loads meshproto from .so files). Both
// start MOSN v1.3.0 the way stock MOSN does ("mosn start -c config.json",
// with the flags Istio passes to a sidecar); they differ only in what
// Options.Register adds.
package mosnapp

import (
	"fmt"
	v2 "mosn.io/mosn/pkg/config/v2"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli"
	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
)

// Options say what a binary is.
type Options struct {
	// Name and Usage for --help.
	Name, Usage string
	// Version and Commit are set by the Makefile (-ldflags -X main.Version=...).
	Version, Commit string
	// Register runs once the flags are parsed, before the configuration is
	// loaded: codecs, filters and "extends" parsers are registered here.
	Register func()
	// StreamFactory, when set, replaces MOSN's xprotocol stream factory for
	// every codec registered from Register on (the static binary wraps
	// MOSN's, see internal/stallwatch); nil keeps stock MOSN's.
	StreamFactory func(func(api.XProtocolCodec) types.ProtocolStreamFactory) func(api.XProtocolCodec) types.ProtocolStreamFactory
	// Configure runs once the config is loaded, before listeners are made:
	// codecs the config itself defines (frame specs) register here. dir is
	// the config file's directory.
	Configure func(cfg *v2.MOSNConfig, dir string)
}

// Main runs the command line and exits.
func Main(o Options) {
	app := cli.NewApp()
	app.Name = "mosn"
	app.Usage = o.Usage
	app.Version = VersionLine(o)
	start := func(c *cli.Context) error { return start(c, o) }
	app.Commands = []cli.Command{
		{Name: "start", Usage: "start the proxy", Flags: startFlags, Action: start},
		{Name: "version", Usage: "print the build's versions (what a Go plugin must match)", Action: func(*cli.Context) error {
			fmt.Println(VersionLine(o))
			return nil
		}},
	}
	app.Flags = startFlags
	app.Action = func(c *cli.Context) error {
		if c.NumFlags() == 0 {
			return cli.ShowAppHelp(c)
		}
		return start(c)
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "mosn:", err)
		os.Exit(1)
	}
}

// VersionLine names the binary, the meshproto commit and the versions a Go
// plugin must match to load into it.
func VersionLine(o Options) string {
	mosnVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "mosn.io/mosn" {
				mosnVersion = m.Version
			}
		}
	}
	return fmt.Sprintf("%s %s (commit %s), MOSN %s, %s", o.Name, o.Version, o.Commit, mosnVersion, runtime.Version())
}
