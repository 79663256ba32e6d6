// Command plugincheck tells, before deploying, whether Go plugins (.so files
// built with -buildmode=plugin, such as meshproto's codecs and stream
// filters) will load into a given MOSN binary, and if not, what differs.
//
// A Go plugin loads only into a binary built by the same Go toolchain, from
// the same module graph (every module both contain at the same version, sum
// and replacement), from the same source directories or with -trimpath on
// both sides, and with the same compilation settings (-tags, -gcflags, -race,
// CGO_ENABLED=1, GOOS/GOARCH, GOEXPERIMENT, ...). Otherwise plugin.Open fails
// with the bare "plugin was built with a different version of package X".
// Linker -X values (main.Version), stripping and the VCS revision do not
// matter; a different VCS revision is shown as a note.
//
// To fix a mismatch, rebuild MOSN and the plugins together, from the same
// go.mod, with the same toolchain and flags: `make plugins`.
//
// Usage:
//
//	plugincheck [-json] -mosn path/to/mosn plugin1.so [plugin2.so ...]
//
// It prints "OK  name.so" or "MISMATCH name.so" for each plugin, followed by
// one indented line per difference and "  note: ..." lines. The exit status
// is 0 when every plugin is OK, 1 when any mismatches, 2 on a usage error or
// a file that cannot be read or is not a Go binary.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/meshproto/meshproto/internal/buildcheck"
)

const fixHint = "fix: rebuild MOSN and the plugins together, from the same go.mod with the same toolchain and flags (make plugins)"

// readInfo is buildcheck.Read; tests replace it.
var readInfo = buildcheck.Read

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// jsonReport is the -json output.
type jsonReport struct {
	MOSN    string       `json:"mosn"`
	OK      bool         `json:"ok"`
	Error   string       `json:"error,omitempty"`
	Plugins []jsonPlugin `json:"plugins"`
}

type jsonPlugin struct {
	File        string     `json:"file"`
	OK          bool       `json:"ok"`
	Error       string     `json:"error,omitempty"`
	Differences []jsonDiff `json:"differences"`
}

type jsonDiff struct {
	buildcheck.Difference
	Note bool   `json:"note"`
	Text string `json:"text"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugincheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mosn := fs.String("mosn", "", "the MOSN `binary` the plugins are to be loaded into")
	asJSON := fs.Bool("json", false, "print a JSON report instead of text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: plugincheck [-json] -mosn path/to/mosn plugin1.so [plugin2.so ...]")
		fmt.Fprintln(stderr, "Checks that each Go plugin was built with the same toolchain, module graph and settings as MOSN.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *mosn == "" || fs.NArg() == 0 {
		if *mosn == "" {
			fmt.Fprintln(stderr, "plugincheck: -mosn is required")
		} else {
			fmt.Fprintln(stderr, "plugincheck: no plugins given")
		}
		fs.Usage()
		return 2
	}

	report := jsonReport{MOSN: *mosn, OK: true, Plugins: []jsonPlugin{}}
	status := 0
	host, err := readInfo(*mosn)
	if err != nil {
		fmt.Fprintf(stderr, "plugincheck: -mosn: %v\n", err)
		if *asJSON {
			report.OK, report.Error = false, err.Error()
			writeJSON(stdout, report)
		}
		return 2
	}

	for _, path := range fs.Args() {
		p := jsonPlugin{File: path, Differences: []jsonDiff{}}
		plugin, err := readInfo(path)
		if err != nil {
			fmt.Fprintf(stderr, "plugincheck: %v\n", err)
			p.Error = err.Error()
			report.OK = false
			report.Plugins = append(report.Plugins, p)
			status = 2
			continue
		}
		diffs := buildcheck.Compare(host, plugin)
		p.OK = !buildcheck.HasFailures(diffs)
		for _, d := range diffs {
			p.Differences = append(p.Differences, jsonDiff{Difference: d, Note: d.IsNote(), Text: d.String()})
		}
		if !p.OK {
			report.OK = false
			if status == 0 {
				status = 1
			}
		}
		report.Plugins = append(report.Plugins, p)
		if !*asJSON {
			writeText(stdout, path, diffs)
		}
	}

	if *asJSON {
		writeJSON(stdout, report)
	} else if anyMismatch(report) {
		fmt.Fprintln(stdout, fixHint)
	}
	return status
}

func anyMismatch(r jsonReport) bool {
	for _, p := range r.Plugins {
		if p.Error == "" && !p.OK {
			return true
		}
	}
	return false
}

// writeText prints one plugin's verdict and its differences, one per line.
func writeText(w io.Writer, name string, diffs []buildcheck.Difference) {
	if buildcheck.HasFailures(diffs) {
		fmt.Fprintf(w, "MISMATCH %s\n", name)
	} else {
		fmt.Fprintf(w, "OK  %s\n", name)
	}
	for _, d := range diffs {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func writeJSON(w io.Writer, r jsonReport) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r)
}
