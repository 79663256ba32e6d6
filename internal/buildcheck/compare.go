package buildcheck

import (
	"sort"
	"strings"
)

// Kinds of Difference.
const (
	KindGo      = "go"      // Go toolchain version
	KindSetting = "setting" // a build setting (-trimpath, -tags, CGO_ENABLED, -buildmode, ...)
	KindMain    = "main"    // the main module, present as main module on both sides, at different versions
	KindModule  = "module"  // a module both contain, at a different version, sum or replacement
	KindPath    = "path"    // a source directory compiled into both (builds without -trimpath)
	KindNote    = "note"    // informational only, never stops a plugin from loading
)

// Difference is one way in which a plugin's build differs from its host's.
// Every Kind but KindNote can stop plugin.Open or is suspicious enough to
// rebuild for.
type Difference struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`   // "go version", a module path, a setting name, ...
	Host   string `json:"host"`   // the host's value ("(none)" when absent)
	Plugin string `json:"plugin"` // the plugin's value ("(none)" when absent)
}

// IsNote reports whether d is informational only.
func (d Difference) IsNote() bool { return d.Kind == KindNote }

// String renders d in plain words, e.g.
// "module mosn.io/pkg: host v1.3.0, plugin v1.2.0" or
// "build setting -trimpath: host false, plugin true".
func (d Difference) String() string {
	values := "host " + d.Host + ", plugin " + d.Plugin
	switch d.Kind {
	case KindGo:
		return "go version: " + values
	case KindMain:
		return "main module " + d.Name + ": " + values
	case KindModule:
		return "module " + d.Name + ": " + values
	case KindPath:
		return d.Name + ": " + values + " (without -trimpath, source paths are part of each compiled package)"
	case KindNote:
		return "note: " + d.Name + ": " + values + noteHints[d.Name]
	case KindSetting:
		s := "build setting " + d.Name + ": " + values
		switch d.Name {
		case "-buildmode":
			s += " (the host must be an executable, exe or pie, and the plugin built with -buildmode=plugin)"
		case "CGO_ENABLED":
			s += " (plugins need CGO_ENABLED=1 on both sides)"
		}
		return s
	}
	return d.Kind + " " + d.Name + ": " + values
}

var noteHints = map[string]string{
	"vcs.revision": " (built from different commits: fine only if every package they share is unchanged)",
}

// HasFailures reports whether diffs contains anything but notes.
func HasFailures(diffs []Difference) bool {
	for _, d := range diffs {
		if !d.IsNote() {
			return true
		}
	}
	return false
}

// mustMatch are the build settings that change how shared packages are
// compiled (and so their fingerprints), or that are suspicious when they
// differ. "-tags" is compared sorted.
var mustMatch = []string{
	"-asan", "-asmflags", "-compiler", "-cover", "-gccgoflags", "-gcflags",
	"-msan", "-race", "-tags", "-trimpath",
	"GOARCH", "GOEXPERIMENT", "GOFIPS140", "GOOS",
	// architecture levels; the build information has the one of its GOARCH
	"GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM",
}

// noteIfDifferent are settings whose difference is reported as a note: C
// compiler flags do not change the Go packages' export data, and a PGO
// profile on one side only did not stop a plugin from loading when tried
// (-pgo=auto gives every main package with a default.pgo its own). They are
// compared only when both sides record them (the CGO_* flags are recorded
// only without -trimpath).
var noteIfDifferent = []string{"-pgo", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS"}

// Compare lists the differences between a host binary and a plugin built
// for it that stop the plugin from loading or are suspicious, plus notes
// (Kind "note") that never do. A module only one side contains is fine: the
// plugin brings its own, and the host's extras do not meet the plugin.
// -ldflags -X values, vcs.* and -buildvcs are ignored; a different
// vcs.revision, other -ldflags, -pgo and CGO_* flags are noted. Source
// directories are compared only when neither side used -trimpath. The result
// is sorted by kind (go, setting, main, module, path, note), then name.
func Compare(host, plugin *Info) []Difference {
	var diffs []Difference
	add := func(kind, name, h, p string) {
		diffs = append(diffs, Difference{Kind: kind, Name: name, Host: none(h), Plugin: none(p)})
	}

	if h, p := toolchain(host.GoVersion), toolchain(plugin.GoVersion); h != p {
		add(KindGo, "go version", h, p)
	}

	hm, pm := host.Setting("-buildmode"), plugin.Setting("-buildmode")
	if (hm != "" && hm != "exe" && hm != "pie") || pm != "plugin" {
		add(KindSetting, "-buildmode", hm, pm)
	}
	if hc, pc := host.Setting("CGO_ENABLED"), plugin.Setting("CGO_ENABLED"); hc != "1" || pc != "1" {
		add(KindSetting, "CGO_ENABLED", hc, pc)
	}
	for _, k := range mustMatch {
		if h, p := host.Setting(k), plugin.Setting(k); h != p {
			add(KindSetting, k, h, p)
		}
	}

	hmods, pmods := host.modules(), plugin.modules()
	sharedDeps := 0 // shared modules other than a main module: from the module cache
	for path, h := range hmods {
		p, ok := pmods[path]
		if !ok {
			continue
		}
		if path != host.Main.Path && path != plugin.Main.Path {
			sharedDeps++
		}
		bothMain := path == host.Main.Path && path == plugin.Main.Path
		switch {
		case bothMain:
			if h.String() != p.String() {
				add(KindMain, path, h.String(), p.String())
			}
		case h.String() != p.String():
			add(KindModule, path, h.String(), p.String())
		case sumOf(h) != "" && sumOf(p) != "" && sumOf(h) != sumOf(p):
			add(KindModule, path, h.String()+" "+sumOf(h), p.String()+" "+sumOf(p))
		}
	}

	if !host.trimpath() && !plugin.trimpath() {
		if host.Main.Path == plugin.Main.Path && host.MainDir != "" && plugin.MainDir != "" && host.MainDir != plugin.MainDir {
			add(KindPath, "main module directory", host.MainDir, plugin.MainDir)
		}
		if sharedDeps > 0 && host.ModCache != "" && plugin.ModCache != "" && host.ModCache != plugin.ModCache {
			add(KindPath, "module cache (GOMODCACHE)", host.ModCache, plugin.ModCache)
		}
	}

	if h, p := host.Settings["vcs.revision"], plugin.Settings["vcs.revision"]; h != "" && p != "" && h != p {
		add(KindNote, "vcs.revision", h, p)
	}
	// Recorded only without -trimpath: compare when both sides have them.
	if !host.trimpath() && !plugin.trimpath() {
		if h, p := withoutX(host.Settings["-ldflags"]), withoutX(plugin.Settings["-ldflags"]); h != p {
			add(KindNote, "-ldflags (other than -X)", h, p)
		}
	}
	for _, k := range noteIfDifferent {
		h, hok := host.Settings[k]
		p, pok := plugin.Settings[k]
		if (hok && pok || k == "-pgo") && h != p {
			add(KindNote, k, h, p)
		}
	}

	sort.Slice(diffs, func(i, j int) bool {
		a, b := diffs[i], diffs[j]
		if ra, rb := kindRank[a.Kind], kindRank[b.Kind]; ra != rb {
			return ra < rb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.Plugin < b.Plugin
	})
	return diffs
}

var kindRank = map[string]int{KindGo: 0, KindSetting: 1, KindMain: 2, KindModule: 3, KindPath: 4, KindNote: 5}

// toolchain is the Go version without the GOEXPERIMENT suffix
// ("go1.26.8 X:nogreenteagc" or "go1.26.8-X:..."), which the GOEXPERIMENT
// setting reports on its own.
func toolchain(v string) string {
	for _, sep := range []string{" X:", "-X:"} {
		if i := strings.Index(v, sep); i >= 0 {
			v = v[:i]
		}
	}
	return v
}

func none(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// sumOf is the hash of the code actually built: the replacement's when the
// module is replaced.
func sumOf(m Module) string {
	if m.Replace != nil {
		return m.Replace.Sum
	}
	return m.Sum
}

// withoutX returns linker flags with every -X definition removed, the rest
// joined by single spaces.
func withoutX(ldflags string) string {
	args := splitQuoted(ldflags)
	var kept []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-X" || a == "--X":
			i++ // skip its "name=value"
		case strings.HasPrefix(a, "-X=") || strings.HasPrefix(a, "--X="):
		default:
			kept = append(kept, a)
		}
	}
	return strings.Join(kept, " ")
}

// splitQuoted splits s into fields at spaces, honouring single and double
// quotes as the go command does for -ldflags.
func splitQuoted(s string) []string {
	var (
		args  []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		args = append(args, cur.String())
	}
	return args
}
