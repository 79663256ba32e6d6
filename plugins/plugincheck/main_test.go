package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/buildcheck"
)

func info(mode string) *buildcheck.Info {
	return &buildcheck.Info{
		GoVersion: "go1.26.8",
		Main:      buildcheck.Module{Path: "github.com/meshproto/meshproto", Version: "(devel)"},
		Deps: map[string]buildcheck.Module{
			"mosn.io/pkg": {Path: "mosn.io/pkg", Version: "v1.3.0", Sum: "h1:pkg"},
		},
		Settings: map[string]string{
			"-buildmode": mode, "-compiler": "gc", "CGO_ENABLED": "1",
			"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1", "vcs.revision": "aaa",
		},
	}
}

// fakeFiles makes readInfo serve synthetic build information.
func fakeFiles(t *testing.T, files map[string]*buildcheck.Info) {
	t.Helper()
	old := readInfo
	readInfo = func(path string) (*buildcheck.Info, error) {
		if i, ok := files[path]; ok {
			return i, nil
		}
		if path == "README.md" {
			return nil, fmt.Errorf("%w: %s (unrecognized file format)", buildcheck.ErrNotGoBinary, path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
	}
	t.Cleanup(func() { readInfo = old })
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func testFiles() map[string]*buildcheck.Info {
	old := info("plugin")
	old.GoVersion = "go1.26.1"
	old.Deps["mosn.io/pkg"] = buildcheck.Module{Path: "mosn.io/pkg", Version: "v1.2.0", Sum: "h1:old"}
	old.Settings["-trimpath"] = "true"
	noted := info("plugin")
	noted.Settings["vcs.revision"] = "bbb"
	return map[string]*buildcheck.Info{
		"build/mosn":      info("exe"),
		"ok.so":           info("plugin"),
		"noted.so":        noted,
		"old.so":          old,
		"build/mosn-copy": info("exe"),
	}
}

func TestAllOK(t *testing.T) {
	fakeFiles(t, testFiles())
	code, out, errOut := runCLI("-mosn", "build/mosn", "ok.so", "noted.so")
	assert.Equal(t, 0, code)
	assert.Empty(t, errOut)
	assert.Equal(t, `OK  ok.so
OK  noted.so
  note: vcs.revision: host aaa, plugin bbb (built from different commits: fine only if every package they share is unchanged)
`, out)
}

func TestMismatch(t *testing.T) {
	fakeFiles(t, testFiles())
	code, out, errOut := runCLI("-mosn", "build/mosn", "ok.so", "old.so", "build/mosn-copy")
	assert.Equal(t, 1, code)
	assert.Empty(t, errOut)
	assert.Equal(t, `OK  ok.so
MISMATCH old.so
  go version: host go1.26.8, plugin go1.26.1
  build setting -trimpath: host false, plugin true
  module mosn.io/pkg: host v1.3.0, plugin v1.2.0
MISMATCH build/mosn-copy
  build setting -buildmode: host exe, plugin exe (the host must be an executable, exe or pie, and the plugin built with -buildmode=plugin)
`+fixHint+"\n", out)
}

func TestJSON(t *testing.T) {
	fakeFiles(t, testFiles())
	code, out, _ := runCLI("-json", "-mosn", "build/mosn", "ok.so", "old.so", "missing.so")
	assert.Equal(t, 2, code)
	var r jsonReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	assert.Equal(t, "build/mosn", r.MOSN)
	assert.False(t, r.OK)
	require.Len(t, r.Plugins, 3)

	assert.Equal(t, jsonPlugin{File: "ok.so", OK: true, Differences: []jsonDiff{}}, r.Plugins[0])

	old := r.Plugins[1]
	assert.False(t, old.OK)
	require.Len(t, old.Differences, 3)
	assert.Equal(t, jsonDiff{
		Difference: buildcheck.Difference{Kind: "module", Name: "mosn.io/pkg", Host: "v1.3.0", Plugin: "v1.2.0"},
		Text:       "module mosn.io/pkg: host v1.3.0, plugin v1.2.0",
	}, old.Differences[2])

	assert.Equal(t, "missing.so", r.Plugins[2].File)
	assert.Equal(t, "open missing.so: file does not exist", r.Plugins[2].Error)

	// The raw field names are part of the contract.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	d := raw["plugins"].([]any)[1].(map[string]any)["differences"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"kind": "go", "name": "go version", "host": "go1.26.8", "plugin": "go1.26.1",
		"note": false, "text": "go version: host go1.26.8, plugin go1.26.1"}, d)
}

func TestErrors(t *testing.T) {
	fakeFiles(t, testFiles())

	code, out, errOut := runCLI()
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "-mosn is required")
	assert.Contains(t, errOut, "usage: plugincheck")

	code, _, errOut = runCLI("-mosn", "build/mosn")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no plugins given")

	code, _, errOut = runCLI("-bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "flag provided but not defined")

	code, out, errOut = runCLI("-mosn", "README.md", "ok.so")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugincheck: -mosn: not a Go binary: README.md (unrecognized file format)\n", errOut)

	// An unreadable plugin is an error (2) even when another mismatches; the rest are still checked.
	code, out, errOut = runCLI("-mosn", "build/mosn", "README.md", "old.so", "ok.so")
	assert.Equal(t, 2, code)
	assert.Equal(t, "plugincheck: not a Go binary: README.md (unrecognized file format)\n", errOut)
	assert.Contains(t, out, "MISMATCH old.so\n")
	assert.Contains(t, out, "OK  ok.so\n")
}

// TestRealFiles runs the command on real files: the test binary itself is a
// Go executable but not a plugin, and a text file is not a Go binary.
func TestRealFiles(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	code, out, errOut := runCLI("-mosn", exe, exe)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, out, "MISMATCH "+exe+"\n  build setting -buildmode: host exe, plugin exe")

	text := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("hello\n"), 0o644))
	code, _, errOut = runCLI("-mosn", exe, text)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "not a Go binary: "+text)
}
