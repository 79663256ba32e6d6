// Command mosn is MOSN v1.3.0 with meshproto's codecs and stream filters
// compiled in. It starts like stock MOSN ("mosn start -c config.json") and
// accepts the flags Istio passes to a sidecar.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli"
)

// Set by the Makefile with -ldflags "-X main.Version=... -X main.Commit=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

func main() {
	app := cli.NewApp()
	app.Name = "mosn"
	app.Usage = "MOSN with meshproto (Dubbo, Thrift and private RPC codecs and filters)"
	app.Version = versionLine()
	app.Commands = []cli.Command{startCommand(), versionCommand()}
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

// versionLine names the meshproto commit and the versions a Go plugin must
// match to load into this binary.
func versionLine() string {
	mosnVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "mosn.io/mosn" {
				mosnVersion = m.Version
			}
		}
	}
	return fmt.Sprintf("meshproto %s (commit %s), MOSN %s, %s", Version, Commit, mosnVersion, runtime.Version())
}

func versionCommand() cli.Command {
	return cli.Command{
		Name:  "version",
		Usage: "print the meshproto commit, MOSN version and Go version",
		Action: func(c *cli.Context) error {
			fmt.Println(versionLine())
			return nil
		},
	}
}
