package buildcheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadSelf(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	info, err := Read(exe)
	require.NoError(t, err)
	assert.Equal(t, exe, info.File)
	assert.Equal(t, runtime.Version(), info.GoVersion)
	assert.Equal(t, "exe", info.Setting("-buildmode"))
	assert.Equal(t, runtime.GOOS, info.Setting("GOOS"))
	assert.Equal(t, runtime.GOARCH, info.Setting("GOARCH"))
	assert.Equal(t, "github.com/meshproto/meshproto", info.Main.Path) // test binaries record no deps

	// The same as the running binary's own build information.
	bi, ok := debug.ReadBuildInfo()
	require.True(t, ok)
	self := FromBuildInfo(bi)
	assert.Equal(t, self.Deps, info.Deps)
	assert.Equal(t, self.Settings, info.Settings)
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()

	_, err := Read(filepath.Join(dir, "missing.so"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.False(t, errors.Is(err, ErrNotGoBinary))

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("not a binary\n"), 0o644))
	_, err = Read(text)
	assert.ErrorIs(t, err, ErrNotGoBinary)
	assert.Contains(t, err.Error(), "not a Go binary: "+text)

	_, err = Read(dir)
	assert.ErrorIs(t, err, ErrNotGoBinary)
}

func TestSettingDefaults(t *testing.T) {
	i := &Info{Settings: map[string]string{"-tags": "z,a", "GOOS": "linux"}}
	assert.Equal(t, "false", i.Setting("-trimpath"))
	assert.Equal(t, "false", i.Setting("-race"))
	assert.Equal(t, "", i.Setting("-gcflags"))
	assert.Equal(t, "a,z", i.Setting("-tags"))
	assert.Equal(t, "linux", i.Setting("GOOS"))
}

func TestModuleString(t *testing.T) {
	assert.Equal(t, "v1.0.0", Module{Path: "a", Version: "v1.0.0"}.String())
	assert.Equal(t, "v1.0.0 => ../a", Module{Path: "a", Version: "v1.0.0", Replace: &Module{Path: "../a"}}.String())
	assert.Equal(t, "v1.0.0 => b v1.1.0", Module{Path: "a", Version: "v1.0.0", Replace: &Module{Path: "b", Version: "v1.1.0"}}.String())
}
