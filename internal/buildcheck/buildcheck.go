// Package buildcheck reads the build information Go embeds in executables and
// plugins and tells whether a plugin (-buildmode=plugin) can be loaded into a
// given host binary.
//
// plugin.Open accepts a plugin only when every package the plugin shares with
// the host was compiled to the same export data (the runtime compares one
// fingerprint per package and otherwise fails with "plugin was built with a
// different version of package X"). In practice that means: the same Go
// toolchain, the same version (and replacement) of every shared module, the
// same source paths (or -trimpath on both sides), and the same
// compilation-affecting settings (-tags, -gcflags, -race, GOEXPERIMENT, ...).
// Compare lists what differs between two binaries in those respects.
package buildcheck

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// ErrNotGoBinary is wrapped by Read's error when the file exists and can be
// read but is not a Go executable or plugin carrying build information.
var ErrNotGoBinary = errors.New("not a Go binary")

// Module is one module of a build, as recorded in its build information.
type Module struct {
	Path    string  `json:"path"`
	Version string  `json:"version"`           // "(devel)" for an unversioned main module
	Sum     string  `json:"sum,omitempty"`     // go.sum hash ("h1:..."), empty when unknown
	Replace *Module `json:"replace,omitempty"` // the replacement, if the module is replaced
}

// String renders the module as "version", "version => path version" when it
// is replaced.
func (m Module) String() string {
	s := m.Version
	if m.Replace != nil {
		r := m.Replace.Path
		if m.Replace.Version != "" {
			r += " " + m.Replace.Version
		}
		s += " => " + r
	}
	return s
}

// Info is the build information of one Go executable or plugin.
type Info struct {
	File      string            `json:"file,omitempty"` // the file it was read from
	GoVersion string            `json:"go_version"`     // "go1.26.8" (with " X:exp" when GOEXPERIMENT is set)
	Path      string            `json:"path"`           // main package path
	Main      Module            `json:"main"`           // main module
	Deps      map[string]Module `json:"deps"`           // dependency modules by path
	Settings  map[string]string `json:"settings"`       // build settings as recorded: "-trimpath" → "true", "GOOS" → "linux", ...

	// MainDir and ModCache are the directories the main module's sources and
	// the module cache were compiled from, as found in the binary's file
	// table. Without -trimpath these absolute paths are part of every
	// compiled package, so two builds from different directories produce
	// incompatible packages. Empty when built with -trimpath or not found.
	MainDir  string `json:"main_dir,omitempty"`
	ModCache string `json:"mod_cache,omitempty"`
}

// Read reads the embedded build information of the Go executable or plugin
// (.so) at path, and the source directories recorded in its file table.
// Errors opening or reading the file are returned as they are (os.ErrNotExist,
// ...); a file without Go build information yields an error wrapping
// ErrNotGoBinary.
func Read(path string) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotGoBinary, path)
	}
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%v)", ErrNotGoBinary, path, err)
	}
	info := FromBuildInfo(bi)
	info.File = path
	if !info.trimpath() {
		info.MainDir, info.ModCache = sourceDirs(f, info)
	}
	return info, nil
}

// FromBuildInfo converts build information (from debug/buildinfo or
// runtime/debug.ReadBuildInfo, for a binary checking itself) into an Info.
// MainDir and ModCache stay empty: they come from the binary file.
func FromBuildInfo(bi *debug.BuildInfo) *Info {
	info := &Info{
		GoVersion: bi.GoVersion,
		Path:      bi.Path,
		Main:      convModule(&bi.Main),
		Deps:      make(map[string]Module, len(bi.Deps)),
		Settings:  make(map[string]string, len(bi.Settings)),
	}
	for _, d := range bi.Deps {
		if d == nil {
			continue
		}
		info.Deps[d.Path] = convModule(d)
	}
	for _, s := range bi.Settings {
		info.Settings[s.Key] = s.Value
	}
	return info
}

func convModule(m *debug.Module) Module {
	out := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		r := convModule(m.Replace)
		out.Replace = &r
	}
	return out
}

// settingDefaults are the values the go command means by leaving a setting
// out of the build information.
var settingDefaults = map[string]string{
	"-trimpath": "false",
	"-race":     "false",
	"-msan":     "false",
	"-asan":     "false",
	"-cover":    "false",
}

// Setting returns the build setting key, with the implied default ("false"
// for -trimpath, -race, -msan, -asan, -cover; "" otherwise) when the build
// information does not record it. -tags is returned sorted, comma-separated.
func (i *Info) Setting(key string) string {
	v, ok := i.Settings[key]
	if !ok {
		return settingDefaults[key]
	}
	if key == "-tags" {
		return normTags(v)
	}
	return v
}

func (i *Info) trimpath() bool { return i.Setting("-trimpath") == "true" }

func normTags(v string) string {
	tags := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	sort.Strings(tags)
	return strings.Join(tags, ",")
}

// modules returns the main module and the dependencies by path.
func (i *Info) modules() map[string]Module {
	m := make(map[string]Module, len(i.Deps)+1)
	for p, d := range i.Deps {
		m[p] = d
	}
	if i.Main.Path != "" {
		m[i.Main.Path] = i.Main
	}
	return m
}
