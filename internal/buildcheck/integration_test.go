package buildcheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPluginIntegration builds a tiny host (which calls plugin.Open) and a
// tiny plugin from a throwaway module, once matching and once with the plugin
// built with -trimpath, and checks that Compare agrees with plugin.Open.
func TestPluginIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a host and plugins: skipped with -short")
	}
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd":
	default:
		t.Skipf("no Go plugins on %s", runtime.GOOS)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cc := strings.Fields(goEnv(t, goCmd, "CC"))
	if len(cc) == 0 {
		t.Skip("no C compiler configured (go env CC)")
	}
	if _, err := exec.LookPath(cc[0]); err != nil {
		t.Skipf("plugins need cgo: C compiler %q not found", cc[0])
	}

	dir := t.TempDir()
	sysVersion, sysSum := xsysFromRepo(t, goEnv(t, goCmd, "GOMODCACHE"))
	writeModule(t, dir, sysVersion, sysSum)

	env := append(os.Environ(),
		"GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off",
		"GOTOOLCHAIN=local", "GO111MODULE=on", "CGO_ENABLED=1")
	build := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goCmd, append([]string{"build"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s:\n%s", strings.Join(args, " "), out)
	}
	open := func(so string) (string, error) {
		cmd := exec.Command(filepath.Join(dir, "host.bin"), filepath.Join(dir, so))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	build("-o", "host.bin", "./host")
	build("-buildmode=plugin", "-o", "match.so", "./plug")
	build("-buildmode=plugin", "-trimpath", "-o", "trimmed.so", "./plug")

	host, err := Read(filepath.Join(dir, "host.bin"))
	require.NoError(t, err)
	assert.Equal(t, "exe", host.Setting("-buildmode"))
	assert.Equal(t, "example.com/buildcheckit", host.Main.Path)

	t.Run("matching", func(t *testing.T) {
		plugin, err := Read(filepath.Join(dir, "match.so"))
		require.NoError(t, err)
		assert.Equal(t, "plugin", plugin.Setting("-buildmode"))
		assert.Equal(t, runtime.Version(), plugin.GoVersion)
		diffs := Compare(host, plugin)
		assert.False(t, HasFailures(diffs), "differences: %v", diffs)

		// Source directories found in the file tables.
		resolved, err := filepath.EvalSymlinks(dir)
		require.NoError(t, err)
		assert.Contains(t, []string{dir, resolved}, host.MainDir)
		assert.Equal(t, host.MainDir, plugin.MainDir)
		if sysVersion != "" {
			assert.Equal(t, sysVersion, plugin.Deps["golang.org/x/sys"].Version)
			assert.NotEmpty(t, host.ModCache)
		}

		out, err := open("match.so")
		require.NoError(t, err, "plugin.Open of a matching plugin: %s", out)
		assert.Equal(t, "loaded: hello\n", out)
	})

	t.Run("trimpath on the plugin only", func(t *testing.T) {
		plugin, err := Read(filepath.Join(dir, "trimmed.so"))
		require.NoError(t, err)
		assert.Empty(t, plugin.MainDir)
		assert.Empty(t, plugin.ModCache)
		diffs := Compare(host, plugin)
		assert.Contains(t, diffs, Difference{Kind: KindSetting, Name: "-trimpath", Host: "false", Plugin: "true"})
		assert.True(t, HasFailures(diffs))

		out, err := open("trimmed.so")
		require.Error(t, err, "plugin.Open of a -trimpath plugin into a host without it succeeded: %s", out)
		assert.Contains(t, out, "plugin was built with a different version of package")
	})
}

func goEnv(t *testing.T, goCmd, key string) string {
	t.Helper()
	out, err := exec.Command(goCmd, "env", key).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// xsysFromRepo returns the version of golang.org/x/sys this repository
// requires and its go.sum lines, when that version is in the module cache;
// otherwise "" (the throwaway module then has no dependency).
func xsysFromRepo(t *testing.T, modCache string) (version, sum string) {
	t.Helper()
	root := filepath.Join("..", "..")
	version = ""
	if f, err := os.Open(filepath.Join(root, "go.mod")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "golang.org/x/sys" {
				version = fs[1]
			}
		}
		f.Close()
	}
	if version == "" {
		return "", ""
	}
	if _, err := os.Stat(filepath.Join(modCache, "cache", "download", "golang.org", "x", "sys", "@v", version+".zip")); err != nil {
		t.Logf("golang.org/x/sys %s not in the module cache: building without a dependency", version)
		return "", ""
	}
	data, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", ""
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "golang.org/x/sys "+version+" ") || strings.HasPrefix(l, "golang.org/x/sys "+version+"/go.mod ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		return "", ""
	}
	return version, strings.Join(lines, "\n") + "\n"
}

func writeModule(t *testing.T, dir, sysVersion, sysSum string) {
	t.Helper()
	goVersion := strings.Join(strings.SplitN(strings.TrimPrefix(runtime.Version(), "go"), ".", 3)[:2], ".")
	gomod := "module example.com/buildcheckit\n\ngo " + goVersion + "\n"
	lib := "package lib\n\nvar Greeting = \"hello\"\n\nfunc PageSize() int { return 4096 }\n"
	if sysVersion != "" {
		gomod += "\nrequire golang.org/x/sys " + sysVersion + "\n"
		lib = "package lib\n\nimport \"golang.org/x/sys/unix\"\n\nvar Greeting = \"hello\"\n\nfunc PageSize() int { return unix.Getpagesize() }\n"
	}
	files := map[string]string{
		"go.mod":     gomod,
		"go.sum":     sysSum,
		"lib/lib.go": lib,
		"plug/main.go": `package main

import "example.com/buildcheckit/lib"

func Hello() string { return lib.Greeting }

func main() {}
`,
		"host/main.go": `package main

import (
	"fmt"
	"os"
	"plugin"

	"example.com/buildcheckit/lib"
)

func main() {
	_ = lib.PageSize()
	p, err := plugin.Open(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	sym, err := p.Lookup("Hello")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("loaded:", sym.(func() string)())
}
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}
