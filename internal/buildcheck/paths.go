package buildcheck

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"io"
	"os"
	"strings"
)

// sourceDirs finds, in the file table of a binary built without -trimpath,
// the directory of the main module (from the main package's source files)
// and the module cache (from the source files of any dependency). Either is
// "" when not found. It is best effort: the build information does not record
// either directory.
func sourceDirs(f *os.File, info *Info) (mainDir, modCache string) {
	data := pclntab(f)
	if data == nil {
		return "", ""
	}

	var mainRel string // main package directory relative to the module root
	if info.Main.Path != "" && strings.HasPrefix(info.Path, info.Main.Path+"/") {
		mainRel = "/" + strings.TrimPrefix(info.Path, info.Main.Path+"/") + "/"
	}
	// A module is found in the cache as <cache>/<escaped path>@<escaped version>/...
	inCache := make(map[string]bool)
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = *d.Replace
		}
		if m.Version != "" && m.Version != "(devel)" {
			inCache[escape(m.Path)+"@"+escape(m.Version)] = true
		}
	}

	for len(data) > 0 && (mainDir == "" || modCache == "") {
		var name []byte
		if i := bytes.IndexByte(data, 0); i >= 0 {
			name, data = data[:i], data[i+1:]
		} else {
			name, data = data, nil
		}
		if !bytes.HasPrefix(name, []byte("/")) ||
			!(bytes.HasSuffix(name, []byte(".go")) || bytes.HasSuffix(name, []byte(".s"))) {
			continue
		}
		s := string(name)
		if modCache == "" && len(inCache) > 0 {
			modCache = cacheDir(s, inCache)
		}
		if mainDir == "" && mainRel != "" && !strings.Contains(s, "@") {
			if i := strings.LastIndex(s, mainRel); i > 0 && !strings.Contains(s[i+len(mainRel):], "/") {
				mainDir = s[:i]
			}
		}
	}
	return mainDir, modCache
}

// cacheDir returns the module cache directory if file is a source file of a
// module in inCache ("path@version" keys), or "".
func cacheDir(file string, inCache map[string]bool) string {
	for off := 0; ; {
		at := strings.IndexByte(file[off:], '@')
		if at < 0 {
			return ""
		}
		at += off
		end := strings.IndexByte(file[at:], '/')
		if end < 0 {
			return ""
		}
		end += at
		for j := at; j > 0; j-- {
			if file[j-1] == '/' && inCache[file[j:end]] {
				return strings.TrimSuffix(file[:j], "/")
			}
		}
		off = end
	}
}

// escape is the module cache's case encoding: each upper-case letter becomes
// '!' followed by its lower-case form.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pclntab returns the bytes of the Go line table section when the file has
// one (it holds the NUL-terminated source file names), else the whole file.
func pclntab(f *os.File) []byte {
	if ef, err := elf.NewFile(f); err == nil {
		if s := ef.Section(".gopclntab"); s != nil {
			if b, err := s.Data(); err == nil {
				return b
			}
		}
	} else if mf, err := macho.NewFile(f); err == nil {
		if s := mf.Section("__gopclntab"); s != nil {
			if b, err := s.Data(); err == nil {
				return b
			}
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	return b
}
