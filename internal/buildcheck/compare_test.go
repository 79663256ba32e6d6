package buildcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const meshproto = "github.com/meshproto/meshproto"

// pair returns a host and a plugin built together: the same toolchain,
// modules and settings. Each test changes one thing.
func pair() (host, plugin *Info) {
	mk := func(pkg, mode string) *Info {
		return &Info{
			GoVersion: "go1.26.8",
			Path:      meshproto + "/plugins/" + pkg,
			Main:      Module{Path: meshproto, Version: "(devel)"},
			Deps: map[string]Module{
				"mosn.io/api": {Path: "mosn.io/api", Version: "v1.3.0", Sum: "h1:api"},
				"mosn.io/pkg": {Path: "mosn.io/pkg", Version: "v1.3.0", Sum: "h1:pkg"},
			},
			Settings: map[string]string{
				"-buildmode":   mode,
				"-compiler":    "gc",
				"-ldflags":     "-X main.Version=v1 -X main.Commit=abc",
				"CGO_ENABLED":  "1",
				"CGO_CFLAGS":   "",
				"GOARCH":       "amd64",
				"GOOS":         "linux",
				"GOAMD64":      "v1",
				"vcs":          "git",
				"vcs.revision": "0123abc",
				"vcs.time":     "2026-01-01T00:00:00Z",
				"vcs.modified": "false",
			},
			MainDir:  "/src/meshproto",
			ModCache: "/root/go/pkg/mod",
		}
	}
	host, plugin = mk("mosn", "exe"), mk("codec-dubbo", "plugin")
	plugin.Settings["-ldflags"] = "-X main.Version=v1"
	return host, plugin
}

func TestCompareMatching(t *testing.T) {
	host, plugin := pair()
	assert.Empty(t, Compare(host, plugin))
}

func TestCompareGoVersion(t *testing.T) {
	host, plugin := pair()
	plugin.GoVersion = "go1.26.1"
	diffs := Compare(host, plugin)
	require.Equal(t, []Difference{{Kind: KindGo, Name: "go version", Host: "go1.26.8", Plugin: "go1.26.1"}}, diffs)
	assert.Equal(t, "go version: host go1.26.8, plugin go1.26.1", diffs[0].String())
	assert.True(t, HasFailures(diffs))

	// A GOEXPERIMENT suffix is reported as the GOEXPERIMENT setting only.
	plugin.GoVersion, plugin.Settings["GOEXPERIMENT"] = "go1.26.8-X:nogreenteagc", "nogreenteagc"
	assert.Equal(t, []Difference{{Kind: KindSetting, Name: "GOEXPERIMENT", Host: "(none)", Plugin: "nogreenteagc"}},
		Compare(host, plugin))
}

func TestCompareModules(t *testing.T) {
	t.Run("version", func(t *testing.T) {
		host, plugin := pair()
		plugin.Deps["mosn.io/pkg"] = Module{Path: "mosn.io/pkg", Version: "v1.2.0", Sum: "h1:old"}
		diffs := Compare(host, plugin)
		require.Equal(t, []Difference{{Kind: KindModule, Name: "mosn.io/pkg", Host: "v1.3.0", Plugin: "v1.2.0"}}, diffs)
		assert.Equal(t, "module mosn.io/pkg: host v1.3.0, plugin v1.2.0", diffs[0].String())
	})
	t.Run("sum", func(t *testing.T) {
		host, plugin := pair()
		plugin.Deps["mosn.io/pkg"] = Module{Path: "mosn.io/pkg", Version: "v1.3.0", Sum: "h1:other"}
		assert.Equal(t, []Difference{{Kind: KindModule, Name: "mosn.io/pkg", Host: "v1.3.0 h1:pkg", Plugin: "v1.3.0 h1:other"}},
			Compare(host, plugin))
	})
	t.Run("sum unknown on one side", func(t *testing.T) {
		host, plugin := pair()
		plugin.Deps["mosn.io/pkg"] = Module{Path: "mosn.io/pkg", Version: "v1.3.0"}
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("replacement", func(t *testing.T) {
		host, plugin := pair()
		plugin.Deps["mosn.io/pkg"] = Module{Path: "mosn.io/pkg", Version: "v1.3.0",
			Replace: &Module{Path: "../pkg", Version: ""}}
		diffs := Compare(host, plugin)
		require.Equal(t, []Difference{{Kind: KindModule, Name: "mosn.io/pkg", Host: "v1.3.0", Plugin: "v1.3.0 => ../pkg"}}, diffs)
		assert.Equal(t, "module mosn.io/pkg: host v1.3.0, plugin v1.3.0 => ../pkg", diffs[0].String())
	})
	t.Run("replacement sum", func(t *testing.T) {
		host, plugin := pair()
		rep := func(sum string) Module {
			return Module{Path: "mosn.io/pkg", Version: "v1.3.0",
				Replace: &Module{Path: "example.com/fork", Version: "v1.3.1", Sum: sum}}
		}
		host.Deps["mosn.io/pkg"], plugin.Deps["mosn.io/pkg"] = rep("h1:a"), rep("h1:b")
		assert.Equal(t, []Difference{{Kind: KindModule, Name: "mosn.io/pkg",
			Host: "v1.3.0 => example.com/fork v1.3.1 h1:a", Plugin: "v1.3.0 => example.com/fork v1.3.1 h1:b"}},
			Compare(host, plugin))
	})
	t.Run("only in plugin", func(t *testing.T) {
		host, plugin := pair()
		plugin.Deps["github.com/x/y"] = Module{Path: "github.com/x/y", Version: "v0.1.0", Sum: "h1:y"}
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("only in host", func(t *testing.T) {
		host, plugin := pair()
		delete(plugin.Deps, "mosn.io/pkg")
		assert.Empty(t, Compare(host, plugin))
	})
}

func TestCompareMainModule(t *testing.T) {
	t.Run("devel both", func(t *testing.T) {
		host, plugin := pair()
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("versions", func(t *testing.T) {
		host, plugin := pair()
		host.Main.Version = "v1.3.0"
		diffs := Compare(host, plugin)
		require.Equal(t, []Difference{{Kind: KindMain, Name: meshproto, Host: "v1.3.0", Plugin: "(devel)"}}, diffs)
		assert.Equal(t, "main module "+meshproto+": host v1.3.0, plugin (devel)", diffs[0].String())
	})
	t.Run("plugin from another module requiring the host's", func(t *testing.T) {
		host, plugin := pair()
		plugin.Main = Module{Path: "example.com/myplugin", Version: "(devel)"}
		plugin.Path = "example.com/myplugin"
		plugin.Deps[meshproto] = Module{Path: meshproto, Version: "v0.9.0", Sum: "h1:m"}
		assert.Equal(t, []Difference{{Kind: KindModule, Name: meshproto, Host: "(devel)", Plugin: "v0.9.0"}},
			Compare(host, plugin))
	})
}

func TestCompareSettings(t *testing.T) {
	cases := []struct {
		key          string
		host, plugin string // "" leaves the setting out
		want         Difference
	}{
		{"-trimpath", "", "true", Difference{KindSetting, "-trimpath", "false", "true"}},
		{"-tags", "netgo", "", Difference{KindSetting, "-tags", "netgo", "(none)"}},
		{"-tags", "a,b", "a,c", Difference{KindSetting, "-tags", "a,b", "a,c"}},
		{"GOARCH", "amd64", "arm64", Difference{KindSetting, "GOARCH", "amd64", "arm64"}},
		{"GOOS", "linux", "darwin", Difference{KindSetting, "GOOS", "linux", "darwin"}},
		{"GOAMD64", "v1", "v3", Difference{KindSetting, "GOAMD64", "v1", "v3"}},
		{"-gcflags", "", "all=-N -l", Difference{KindSetting, "-gcflags", "(none)", "all=-N -l"}},
		{"-asmflags", "all=-D=X", "", Difference{KindSetting, "-asmflags", "all=-D=X", "(none)"}},
		{"-compiler", "gc", "gccgo", Difference{KindSetting, "-compiler", "gc", "gccgo"}},
		{"-race", "", "true", Difference{KindSetting, "-race", "false", "true"}},
		{"-cover", "true", "", Difference{KindSetting, "-cover", "true", "false"}},
		{"GOEXPERIMENT", "", "nogreenteagc", Difference{KindSetting, "GOEXPERIMENT", "(none)", "nogreenteagc"}},
		{"GOFIPS140", "v1.0.0-c2097c7c", "", Difference{KindSetting, "GOFIPS140", "v1.0.0-c2097c7c", "(none)"}},
		{"CGO_ENABLED", "0", "1", Difference{KindSetting, "CGO_ENABLED", "0", "1"}},
		{"-buildmode", "exe", "exe", Difference{KindSetting, "-buildmode", "exe", "exe"}},
		{"-buildmode", "plugin", "plugin", Difference{KindSetting, "-buildmode", "plugin", "plugin"}},
		{"-buildmode", "c-shared", "plugin", Difference{KindSetting, "-buildmode", "c-shared", "plugin"}},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.host+"/"+c.plugin, func(t *testing.T) {
			host, plugin := pair()
			set := func(i *Info, v string) {
				if v == "" {
					delete(i.Settings, c.key)
				} else {
					i.Settings[c.key] = v
				}
			}
			set(host, c.host)
			set(plugin, c.plugin)
			diffs := Compare(host, plugin)
			require.Equal(t, []Difference{c.want}, diffs)
			assert.True(t, HasFailures(diffs))
		})
	}
}

func TestCompareSettingsThatMatch(t *testing.T) {
	t.Run("host pie", func(t *testing.T) {
		host, plugin := pair()
		host.Settings["-buildmode"] = "pie"
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("tags in another order", func(t *testing.T) {
		host, plugin := pair()
		host.Settings["-tags"], plugin.Settings["-tags"] = "b,a", "a,b"
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("both trimpath", func(t *testing.T) {
		host, plugin := pair()
		for _, i := range []*Info{host, plugin} {
			i.Settings["-trimpath"] = "true"
			delete(i.Settings, "-ldflags") // not recorded with -trimpath
			delete(i.Settings, "CGO_CFLAGS")
			i.MainDir, i.ModCache = "", ""
		}
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("CGO_ENABLED=0 on both", func(t *testing.T) {
		host, plugin := pair()
		host.Settings["CGO_ENABLED"], plugin.Settings["CGO_ENABLED"] = "0", "0"
		diffs := Compare(host, plugin)
		require.Equal(t, []Difference{{KindSetting, "CGO_ENABLED", "0", "0"}}, diffs)
		assert.Equal(t, "build setting CGO_ENABLED: host 0, plugin 0 (plugins need CGO_ENABLED=1 on both sides)", diffs[0].String())
	})
}

func TestCompareIgnored(t *testing.T) {
	host, plugin := pair()
	host.Settings["-ldflags"] = "-X main.Version=v9 -X 'main.Commit=a b' -X=main.Date=now"
	plugin.Settings["-ldflags"] = ""
	host.Settings["vcs.time"] = "2027-01-01T00:00:00Z"
	plugin.Settings["vcs.modified"] = "true"
	host.Settings["-buildvcs"] = "false"
	host.Settings["DefaultGODEBUG"] = "panicnil=1"
	host.Settings["CGO_CFLAGS"] = "-O2 -g"
	delete(plugin.Settings, "CGO_CFLAGS")
	assert.Empty(t, Compare(host, plugin))
}

func TestCompareNotes(t *testing.T) {
	host, plugin := pair()
	plugin.Settings["vcs.revision"] = "fedcba9"
	host.Settings["-ldflags"] = "-s -w -X main.Version=v1"
	plugin.Settings["CGO_CFLAGS"] = "-O2"
	host.Settings["-pgo"] = "/src/meshproto/plugins/mosn/default.pgo"
	diffs := Compare(host, plugin)
	assert.Equal(t, []Difference{
		{KindNote, "-ldflags (other than -X)", "-s -w", "(none)"},
		{KindNote, "-pgo", "/src/meshproto/plugins/mosn/default.pgo", "(none)"},
		{KindNote, "CGO_CFLAGS", "(none)", "-O2"},
		{KindNote, "vcs.revision", "0123abc", "fedcba9"},
	}, diffs)
	assert.False(t, HasFailures(diffs))
	for _, d := range diffs {
		assert.True(t, d.IsNote())
	}
	assert.Equal(t, "note: vcs.revision: host 0123abc, plugin fedcba9 (built from different commits: fine only if every package they share is unchanged)",
		diffs[3].String())
}

func TestComparePaths(t *testing.T) {
	t.Run("main module directory", func(t *testing.T) {
		host, plugin := pair()
		plugin.MainDir = "/home/ci/meshproto"
		diffs := Compare(host, plugin)
		require.Equal(t, []Difference{{KindPath, "main module directory", "/src/meshproto", "/home/ci/meshproto"}}, diffs)
		assert.Equal(t, "main module directory: host /src/meshproto, plugin /home/ci/meshproto (without -trimpath, source paths are part of each compiled package)",
			diffs[0].String())
	})
	t.Run("module cache", func(t *testing.T) {
		host, plugin := pair()
		plugin.ModCache = "/home/ci/go/pkg/mod"
		assert.Equal(t, []Difference{{KindPath, "module cache (GOMODCACHE)", "/root/go/pkg/mod", "/home/ci/go/pkg/mod"}},
			Compare(host, plugin))
	})
	t.Run("module cache without shared dependencies", func(t *testing.T) {
		host, plugin := pair()
		plugin.ModCache = "/home/ci/go/pkg/mod"
		plugin.Deps = map[string]Module{"example.com/other": {Path: "example.com/other", Version: "v1.0.0"}}
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("unknown on one side", func(t *testing.T) {
		host, plugin := pair()
		plugin.MainDir, plugin.ModCache = "", ""
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("main module of its own", func(t *testing.T) {
		host, plugin := pair()
		plugin.Main.Path, plugin.Path, plugin.MainDir = "example.com/p", "example.com/p", "/src/p"
		assert.Empty(t, Compare(host, plugin))
	})
	t.Run("one side trimpath reports only -trimpath", func(t *testing.T) {
		host, plugin := pair()
		plugin.Settings["-trimpath"] = "true"
		plugin.MainDir, plugin.ModCache = "/elsewhere", "/elsewhere/mod"
		assert.Equal(t, []Difference{{KindSetting, "-trimpath", "false", "true"}}, Compare(host, plugin))
	})
}

func TestCompareSorted(t *testing.T) {
	host, plugin := pair()
	plugin.GoVersion = "go1.26.1"
	plugin.Settings["vcs.revision"] = "fff"
	plugin.Settings["-trimpath"] = "true"
	plugin.Settings["GOAMD64"] = "v3"
	plugin.Deps["mosn.io/pkg"] = Module{Path: "mosn.io/pkg", Version: "v1.2.0"}
	plugin.Deps["mosn.io/api"] = Module{Path: "mosn.io/api", Version: "v1.2.0"}
	plugin.Main.Version = "v0.1.0"
	want := []Difference{
		{KindGo, "go version", "go1.26.8", "go1.26.1"},
		{KindSetting, "-trimpath", "false", "true"},
		{KindSetting, "GOAMD64", "v1", "v3"},
		{KindMain, meshproto, "(devel)", "v0.1.0"},
		{KindModule, "mosn.io/api", "v1.3.0", "v1.2.0"},
		{KindModule, "mosn.io/pkg", "v1.3.0", "v1.2.0"},
		{KindNote, "vcs.revision", "0123abc", "fff"},
	}
	for i := 0; i < 20; i++ { // map order must not leak into the result
		require.Equal(t, want, Compare(host, plugin))
	}
}

func TestWithoutX(t *testing.T) {
	assert.Equal(t, "", withoutX(""))
	assert.Equal(t, "", withoutX("-X main.Version=1 -X=main.Commit=2 --X main.A=3"))
	assert.Equal(t, "-s -w", withoutX("-s -X 'main.Version=a b' -w"))
	assert.Equal(t, "-extldflags -static -lm", withoutX(`-extldflags "-static -lm"`))
}

func TestEscapeAndCacheDir(t *testing.T) {
	assert.Equal(t, "github.com/!stack!exchange/wmi", escape("github.com/StackExchange/wmi"))
	keys := map[string]bool{"golang.org/x/sys@v0.26.0": true, "github.com/!stack!exchange/wmi@v0.0.0-2019": true}
	assert.Equal(t, "/root/go/pkg/mod", cacheDir("/root/go/pkg/mod/golang.org/x/sys@v0.26.0/unix/mremap.go", keys))
	assert.Equal(t, "/m", cacheDir("/m/github.com/!stack!exchange/wmi@v0.0.0-2019/wmi.go", keys))
	assert.Equal(t, "", cacheDir("/m/golang.org/x/sys@v0.25.0/unix/mremap.go", keys))
	assert.Equal(t, "", cacheDir("/src/meshproto/protocols/dubbo/codec.go", keys))
}
